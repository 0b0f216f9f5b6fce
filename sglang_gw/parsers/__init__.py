"""Reasoning and tool-call parsers, each family a registered per-choice state machine.

- `types.py`: the frozen value objects parsers return (`ReasoningDelta`, `ToolDelta`,
  `ToolCallDelta`) and `ToolSpec` (a declared tool).
- `registry.py`: the generic name → class table with aliases and entry-point plugins.
- `reasoning/`: `REASONING_PARSERS`, the base think-tag machine and the families.
- `_scan.py`: `Markers`, the one marker scanner every parser uses (find, or hold a prefix).
- `tools/`: `TOOL_PARSERS`, the base class, the one framework (`_machine.MachineParser`)
  and the families.
- `detect.py`: `auto` — choose parsers from the model id and the tokenizer's special tokens.

Registered names are CLI values (`--reasoning-parser`, `--tool-call-parser`): renaming one
breaks users. Every parser passes the shared suite in `tests/parsers/`. How to add a
family: `docs/parsers.md`, "Adding a family".
"""
