"""The conformance corpus (`tests/parsers/corpus/*.jsonl`): cases re-expressed as data from
facts in the peers' published parser tests, each run whole and in seeded random chunkings
through the one output processor; every emitted `arguments` string must be valid JSON."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.parsers.types import ToolSpec
from sglang_gw.pipeline.parse import OutputProcessor

CORPUS = Path(__file__).parent / "corpus"
CASES = [json.loads(line) for path in sorted(CORPUS.glob("*.jsonl")) for line in path.read_text().splitlines()
         if line.strip()]
TOOLS = (ToolSpec("get_current_weather"),)
# Cases where we differ from a peer on purpose: id → why (also in docs/parsers.md).
DIVERGENCES: dict[str, str] = {}


def _specs(case: dict) -> tuple[ToolSpec, ...]:
    """The case's declared tools, else TOOLS. A case may declare them (where the peer's test
    typed values by schema) as names, `{name, parameters}`, or OpenAI `tools` objects."""
    if "tools" not in case:
        return TOOLS
    specs = []
    for t in case["tools"]:
        if isinstance(t, str):
            specs.append(ToolSpec(t))
        elif "function" in t:
            specs.extend(ToolSpec.from_openai([t]))
        else:
            specs.append(ToolSpec(t["name"], t.get("parameters", {})))
    return tuple(specs)


def _run(case: dict, chunks: list[str]) -> tuple[str, str, list[tuple[str, str]]]:
    # `prompt`: the rendered prompt's end, where the peer's test started inside a block the prompt opened.
    reasoning = (REASONING_PARSERS.get(case["reasoning_parser"])(prompt_text=case.get("prompt"))
                 if case["reasoning_parser"] else None)
    tools = TOOL_PARSERS.get(case["tool_parser"])(_specs(case)) if case["tool_parser"] else None
    proc = OutputProcessor(reasoning, tools)
    content, thought, calls = "", "", {}
    for delta in [*(proc.feed(c) for c in chunks), proc.finish()]:
        content += delta.content
        thought += delta.reasoning
        for call in delta.tool_calls:
            entry = calls.setdefault(call.index, [call.name, ""])
            entry[1] += call.arguments
    return content, thought, [(n, a) for n, a in (calls[i] for i in sorted(calls))]


def _chunkings(text: str, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    out = [[text], list(text)]
    for _ in range(8):
        k = min(len(text) - 1, rng.randint(1, 10))
        cuts = sorted(rng.sample(range(1, len(text)), k=k)) if len(text) > 1 else []
        bounds = [0, *cuts, len(text)]
        out.append([text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)])
    return out


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_corpus_case(case: dict) -> None:
    whole = _run(case, [case["input"]])
    content, thought, calls = whole
    for _, arguments in calls:
        json.loads(arguments)  # never invalid
    if case["id"] not in DIVERGENCES:
        assert content.strip() == case["content"]
        assert thought.strip() == case["reasoning_content"]
        assert [(n, json.loads(a)) for n, a in calls] == [(c["name"], c["arguments"]) for c in case["calls"]]
    for chunks in _chunkings(case["input"], seed=len(case["id"])):
        assert _run(case, chunks) == whole, f"split {chunks!r} differs"


def test_corpus_ids_are_unique() -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
