"""The conformance corpus (`tests/parsers/corpus/*.jsonl`): cases re-expressed as data from
facts in the peers' published parser tests, each run whole and in seeded random chunkings
through the one output processor; every emitted `arguments` string must be valid JSON.

A case is one JSON object per line:
- `id` (unique), `source` (the peer test file and test it comes from);
- `reasoning_parser`, `tool_parser` (registry names or null);
- optional `tools`: the request's tools, each a name, `{"name", "parameters"}` (a JSON
  schema; the XML-style parsers type values by it) or an OpenAI `tools` object. Without
  it: `get_current_weather`;
- optional `enable_thinking` / `prompt_text` (or `prompt`): what the reasoning parser is
  built with;
- `input`: the model's output; `content`, `reasoning_content` (compared stripped) and
  `calls` (`[{"name", "arguments": <object>}]`): the peer's expectation. Where the peer's
  test leaves a field unasserted, it holds the behaviour docs/parsers.md documents;
- optional `ours`: for an id in DIVERGENCES, the fields where we differ on purpose (the
  test checks our output equals them, and that the peer's expectation really differs).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.parsers.types import ToolSpec
from sglang_gw.pipeline.parse import OutputProcessor

CORPUS = Path(__file__).parent / "corpus"
CASES = [json.loads(line) for path in sorted(CORPUS.glob("*.jsonl")) for line in path.read_text().splitlines()
         if line.strip()]
DEFAULT_TOOLS = (ToolSpec("get_current_weather"),)
# Cases where we differ from a peer on purpose: id → why (also in docs/parsers.md,
# "Divergences from peers"). Each such case carries `ours`, what we give instead.
_WS_BEFORE_CALL = (
    "whitespace right before a call block is markup, not content (docs/parsers.md); the peer keeps it")
_CUT_OFF_CALL = (
    "a call cut off by the end of the output is still reported, as far as it came, with its arguments closed "
    "to valid JSON; the peer drops it")
_TEXT_AFTER_CALLS = (
    "text after or between call blocks is content, the same streamed and whole; the peer's whole-output parse "
    "drops it")
_UNTYPED_VALUES = (
    "values of parameters the request's schema does not type stay strings, as vLLM keeps them (we never guess "
    "a type); smg types them by their text")
_SECTION_MARKER = (
    "a section marker (`<|python_tag|>`, `[TOOL_CALLS]`, `<minimax:tool_call>`, `<|START_ACTION|>`, Step3's "
    "`<｜tool_calls_begin｜>`) is markup, dropped even when what follows is no call; that unit itself is "
    "content, verbatim; the peer keeps the marker in the content")
_INKLING_FRAME = (
    "an Inkling call frame that is no call (undeclared name, no JSON, a text-mode call) is content, as "
    "written (less its `<|end_message|>`): nothing the model wrote is lost; smg suppresses the frame")
_K2_UNCLOSED = (
    "K2 Horizon's template opens the thought, so output that never closes it is reasoning, as a block cut off is "
    "in every family; SGLang's K2-V3 detector gives it as content at the end")
_UNDECLARED = (
    "a call to an undeclared tool is content, as written; SGLang drops it (or, with SGLANG_FORWARD_UNKNOWN_TOOLS, "
    "forwards it as a call)")
DIVERGENCES: dict[str, str] = {
    "inkling-smg-undefined": _INKLING_FRAME,
    "inkling-smg-skip-undefined": _INKLING_FRAME,
    "inkling-smg-malformed-frame": _INKLING_FRAME,
    "inkling-smg-text-mode": _INKLING_FRAME,
    "inklingr-smg-text-frame": (
        "the Inkling reasoning parser passes a text-mode tool frame into content verbatim, as it does a JSON one, "
        "so the tool parser decides (it keeps it as content); smg's reasoning parser suppresses it"),
    "sarashina-smg-malformed": _WS_BEFORE_CALL,
    "k2h-sgl-malformed-group": (
        "K2 Horizon's `<ifm|tool_calls>` group tags are markup, dropped even when a call in the group does not read "
        "(that call is content, as written, as each unit is in every family); SGLang's whole-output parse keeps the "
        "whole group (its streaming drops the tags, as we do)"),
    "k2h-sgl-unknown-tool": _UNDECLARED,
    "muse-sgl-cut-invoke": (
        "a Muse invoke cut off by the end of the output is content, as written (nothing the model wrote is lost); "
        "SGLang drops it"),
    "k2hr-sgl-no-boundary": _K2_UNCLOSED,
    "k2hr-sgl-singular-call": _K2_UNCLOSED,
    "telechat4r-sgl-cut-off": (
        "a block cut off by the end of the output is reasoning, in every family (the rule is one); SGLang's "
        "TeleChat4 detector turns it into content"),
    "cohere-smg-malformed-name": _SECTION_MARKER,
    "cohere-smg-unclosed-string": _CUT_OFF_CALL,
    "coherer-smg-full-response": (
        "Cohere's `<|START_RESPONSE|>`/`<|END_RESPONSE|>` wrappers are dropped from the content (they are "
        "template markup, as vLLM drops them); smg keeps them"),
    "coherer-vllm-citations": (
        "citation markup (`<co>…</co: …>`) is kept in the text as the model wrote it (the chat API has no "
        "citation field to move it to); vLLM converts it to annotations"),
    "dsv3-smg-complete": _TEXT_AFTER_CALLS,
    "dsv3-smg-malformed": (
        "malformed JSON after a committed name ends that call (its arguments closed to valid JSON); the name "
        "was already streamed and cannot be taken back, so smg's dropping of the call cannot be matched when "
        "streaming"),
    "dsv31-smg-lone-end": (
        "a lone section end marker with no section open is text, kept as the model wrote it (no call was "
        "lost); smg strips it"),
    "dsv31-smg-malformed": (
        "malformed JSON after a committed name ends that call (its arguments closed to valid JSON); the name "
        "was already streamed and cannot be taken back, so smg's dropping of the call cannot be matched when "
        "streaming"),
    "glm45-smg-complete": _TEXT_AFTER_CALLS,
    "glm45-smg-nested-json": _UNTYPED_VALUES,
    "glm45-smg-type-conversion": _UNTYPED_VALUES,
    "glm45r-smg-think-after-text": (
        "a reasoning block opens only at the very start of the output (after at most 32 whitespace "
        "characters): `<think>` later in the text is content, so prose that mentions the tag is never "
        "swallowed; smg opens a block anywhere"),
    "glm45r-vllm-only-open-tag": (
        "a block cut off by the end of the output is reasoning, the same streamed and whole (vLLM's own "
        "streaming test says so); vLLM's whole-output parse returns it as content"),
    "glm47-smg-complete": _TEXT_AFTER_CALLS,
    "glm47-smg-nested-json": _UNTYPED_VALUES,
    "glm47-smg-type-conversion": _UNTYPED_VALUES,
    "gptoss-sgl-truncate-after-call": (
        "a final-channel message after a call is the model's answer and is kept as content (the model wrote "
        "it for the user; vLLM keeps it too); SGLang drops text after a call"),
    "granite-vllm-malformed-cut": _CUT_OFF_CALL,
    "granite-vllm-malformed-object": (
        "after the family's own call marker a single call object is read as a call too (as Command-A's and "
        "Llama's single-object forms are); vLLM requires the array"),
    "granite-vllm-string-prefix": (
        "`granite` reads Granite 3.x's `<|tool_call|>` token; the plain-text `<tool_call>` form is left as "
        "text (Granite 3.1+ templates emit the token; `granite4` reads `<tool_call>` blocks); vLLM accepts "
        "both"),
    "hermes-smg-missing-close": _CUT_OFF_CALL,
    "hermes-smg-real-world": _TEXT_AFTER_CALLS,
    "hermes-smg-text-between": _TEXT_AFTER_CALLS,
    "hermes-vllm-invalid-json": _CUT_OFF_CALL,
    "hunyuan-vllm-content-after": _TEXT_AFTER_CALLS,
    "internlm-vllm-malformed-cut": _CUT_OFF_CALL,
    "json-smg-array-after-text": (
        "`json` reads an output that is JSON from its start (what constrained decoding for `tool_choice: "
        "required` gives); prose before the JSON makes it all content, so a model talking about JSON is never "
        "turned into a call; smg extracts a JSON call from anywhere in the text"),
    "json-smg-call-inside-prose": (
        "`json` reads an output that is JSON from its start (what constrained decoding for `tool_choice: "
        "required` gives); prose before the JSON makes it all content, so a model talking about JSON is never "
        "turned into a call; smg extracts a JSON call from anywhere in the text"),
    "json-smg-extraction-from-text": (
        "`json` reads an output that is JSON from its start (what constrained decoding for `tool_choice: "
        "required` gives); prose before the JSON makes it all content, so a model talking about JSON is never "
        "turned into a call; smg extracts a JSON call from anywhere in the text"),
    "json-smg-incomplete-0": _CUT_OFF_CALL,
    "json-smg-incomplete-1": _CUT_OFF_CALL,
    "json-smg-incomplete-2": _CUT_OFF_CALL,
    "json-smg-invalid-unclosed": _CUT_OFF_CALL,
    "kimi-smg-complete": _TEXT_AFTER_CALLS,
    "kimir-smg-think-after-text": (
        "a reasoning block opens only at the very start of the output (after at most 32 whitespace "
        "characters): `<think>` later in the text is content, so prose that mentions the tag is never "
        "swallowed; smg opens a block anywhere"),
    "llama3-smg-invalid-after-tag": _SECTION_MARKER,
    "llama3-smg-trailing-text": (
        "the peers disagree (SGLang: a call, then the text as content; smg: all of it is text); we follow "
        "SGLang, as a complete call object at the start is what Llama 3.1 writes"),
    "longcat-vllm-malformed-cut": _CUT_OFF_CALL,
    "minimax-smg-before-after": _TEXT_AFTER_CALLS,
    "minimax-smg-complete": _TEXT_AFTER_CALLS,
    "minimax-smg-incomplete": _CUT_OFF_CALL,
    "minimax-smg-malformed-invoke": _SECTION_MARKER,
    "minimax-smg-no-schema": _UNTYPED_VALUES,
    "minimax-smg-type-conversion": _UNTYPED_VALUES,
    "minimax-smg-unknown-forwarded": (
        "a call to a tool the request did not declare is content, verbatim (a made-up name is never "
        "executed); smg forwards it as a call"),
    "minimax-smg-xml-entities": (
        "parameter values are kept as the model wrote them, XML entities included (MiniMax's template writes "
        "values unescaped, so decoding would change text the model meant literally; smg keeps them for "
        "Qwen3-Coder too); smg decodes entities for MiniMax"),
    "mistral-smg-malformed-name": _SECTION_MARKER,
    "mistral-smg-malformed-unclosed": _CUT_OFF_CALL,
    "mistral-smg-real-world": _TEXT_AFTER_CALLS,
    "mistralr-vllm-complete-reasoning": (
        "Magistral writes `[THINK]` itself, so output that does not open with it is the answer (content), and "
        "a `[/THINK]` with no block open is text; vLLM assumes reasoning until `[/THINK]`"),
    "mistralr-vllm-multiple-lines": (
        "Magistral writes `[THINK]` itself, so output that does not open with it is the answer (content), and "
        "a `[/THINK]` with no block open is text; vLLM assumes reasoning until `[/THINK]`"),
    "mistralr-vllm-no-content-token": (
        "Magistral writes `[THINK]` itself, so output that does not open with it is the answer (content), and "
        "a `[/THINK]` with no block open is text; vLLM assumes reasoning until `[/THINK]`"),
    "mistralr-vllm-shortest": (
        "Magistral writes `[THINK]` itself, so output that does not open with it is the answer (content), and "
        "a `[/THINK]` with no block open is text; vLLM assumes reasoning until `[/THINK]`"),
    "mistralr-vllm-simple-reasoning": (
        "Magistral writes `[THINK]` itself, so output that does not open with it is the answer (content), and "
        "a `[/THINK]` with no block open is text; vLLM assumes reasoning until `[/THINK]`"),
    "phi4-vllm-empty-functools": (
        "an empty call list after the marker is markup with no call in it; vLLM's phi4 test expects the text "
        "back whole"),
    "phi4-vllm-functools-text": _SECTION_MARKER,
    "phi4-vllm-malformed-no-arguments": (
        "a call object with a declared name and no arguments is a call with `{}` (as smg and SGLang read it); "
        "vLLM's phi4 test counts it malformed"),
    "phi4-vllm-malformed-no-brackets": (
        "after the family's own call marker a single call object is read as a call too (as Command-A's and "
        "Llama's single-object forms are); vLLM requires the array"),
    "pythonic-sgl-python-start-text-after": _WS_BEFORE_CALL,
    "pythonic-smg-invalid-unclosed": _CUT_OFF_CALL,
    "pythonic-smg-llama4-real": _WS_BEFORE_CALL,
    "qwen3-smg-think-after-text": (
        "a reasoning block opens only at the very start of the output (after at most 32 whitespace "
        "characters): `<think>` later in the text is content, so prose that mentions the tag is never "
        "swallowed; smg opens a block anywhere"),
    "qwen3-vllm-without-think-no-prompt": (
        "the start state comes from the rendered prompt (or enable_thinking): with neither, this family "
        "starts in content, as its template leaves `<think>` to the model; vLLM assumes reasoning until the "
        "end marker"),
    "qwen3c-smg-before-after": _TEXT_AFTER_CALLS,
    "qwen3c-smg-empty-value": (
        "a value keeps its inner whitespace; only the one newline the template puts after `<parameter=K>` and "
        "before `</parameter>` is dropped (SGLang's and vLLM's rule); smg trims all surrounding whitespace"),
    "qwen3c-smg-incomplete": _CUT_OFF_CALL,
    "qwen3c-smg-nested-json": _UNTYPED_VALUES,
    "qwen3c-smg-type-conversion": _UNTYPED_VALUES,
    "qwen3c-smg-whitespace": (
        "a value keeps its inner whitespace; only the one newline the template puts after `<parameter=K>` and "
        "before `</parameter>` is dropped (SGLang's and vLLM's rule); smg trims all surrounding whitespace"),
    "seed-vllm-unlimited": (
        "with only the tool parser running, tool markup inside a `<seed:think>` block is read as a call (the "
        "block is plain text to it); run the `seed_oss` reasoning parser too (`auto` does) and it stays "
        "reasoning; vLLM's tool parser skips the think block itself"),
    "seedr-vllm-complete-reasoning": (
        "Seed-OSS writes `<seed:think>` itself (its template opens no block), so output without it is the "
        "answer (content), and `</seed:think>` with no block open is text; vLLM assumes reasoning until the "
        "end marker"),
    "seedr-vllm-multiple-lines": (
        "Seed-OSS writes `<seed:think>` itself (its template opens no block), so output without it is the "
        "answer (content), and `</seed:think>` with no block open is text; vLLM assumes reasoning until the "
        "end marker"),
    "seedr-vllm-no-content": (
        "Seed-OSS writes `<seed:think>` itself (its template opens no block), so output without it is the "
        "answer (content), and `</seed:think>` with no block open is text; vLLM assumes reasoning until the "
        "end marker"),
    "seedr-vllm-no-tokens": (
        "Seed-OSS writes `<seed:think>` itself (its template opens no block), so output without it is the "
        "answer (content), and `</seed:think>` with no block open is text; vLLM assumes reasoning until the "
        "end marker"),
    "seedr-vllm-simple-reasoning": (
        "Seed-OSS writes `<seed:think>` itself (its template opens no block), so output without it is the "
        "answer (content), and `</seed:think>` with no block open is text; vLLM assumes reasoning until the "
        "end marker"),
    "step3-smg-complete": _TEXT_AFTER_CALLS,
    "step3-smg-complete-untyped": _UNTYPED_VALUES,
    "step3-smg-empty-name": _SECTION_MARKER,
    "step3-smg-text-around": _TEXT_AFTER_CALLS,
    "step3-smg-type-conversion": _UNTYPED_VALUES,
    "step3-vllm-name-after-sep": (
        "Step3's call header is read as its template writes it (`function<｜tool_sep｜><steptml:invoke "
        "name=…>`); a name repeated between `<｜tool_sep｜>` and `<steptml:invoke` (vLLM's test output) is not "
        "read, and the unit is content; vLLM accepts it"),
    "xlam-vllm-json-code-block": (
        "`xlam` reads output that is JSON from its start (the xLAM templates' format); a call array after "
        "prose, in a markdown code block or after another family's marker is content, so text is never "
        "guessed into calls; vLLM's xLAM parser searches for those forms"),
    "xlam-vllm-tool-call-xml": (
        "`xlam` reads output that is JSON from its start (the xLAM templates' format); a call array after "
        "prose, in a markdown code block or after another family's marker is content, so text is never "
        "guessed into calls; vLLM's xLAM parser searches for those forms"),
    "xlam-vllm-tool-calls-tag": (
        "`xlam` reads output that is JSON from its start (the xLAM templates' format); a call array after "
        "prose, in a markdown code block or after another family's marker is content, so text is never "
        "guessed into calls; vLLM's xLAM parser searches for those forms"),
}

Result = tuple[str, str, list[tuple[str, str]]]


def _tools(case: dict[str, Any]) -> tuple[ToolSpec, ...]:
    if "tools" not in case:
        return DEFAULT_TOOLS
    specs: list[ToolSpec] = []
    for t in case["tools"]:
        if isinstance(t, str):
            specs.append(ToolSpec(t))
        elif "function" in t:  # an OpenAI `tools` object
            specs.extend(ToolSpec.from_openai([t]))
        else:
            specs.append(ToolSpec(t["name"], t.get("parameters") or {}))
    return tuple(specs)


def _processor(case: dict[str, Any]) -> OutputProcessor:
    reasoning = None
    if case["reasoning_parser"]:
        reasoning = REASONING_PARSERS.get(case["reasoning_parser"])(
            prompt_text=case.get("prompt_text", case.get("prompt")), enable_thinking=case.get("enable_thinking"))
    tools = TOOL_PARSERS.get(case["tool_parser"])(_tools(case)) if case["tool_parser"] else None
    return OutputProcessor(reasoning, tools)


def _run(case: dict[str, Any], chunks: list[str]) -> Result:
    proc = _processor(case)
    content, thought, calls = "", "", {}
    for delta in [*(proc.feed(c) for c in chunks), proc.finish()]:
        content += delta.content
        thought += delta.reasoning
        for call in delta.tool_calls:
            entry = calls.setdefault(call.index, [call.name, ""])
            entry[1] += call.arguments
    return content, thought, [(n, a) for n, a in (calls[i] for i in sorted(calls))]


def _chunkings(text: str, seed: int, *, rounds: int = 8, max_cuts: int = 10) -> list[list[str]]:
    """`text` whole, a character at a time, and cut at up to `max_cuts` random places, `rounds` times."""
    rng = random.Random(seed)
    out = [[text], list(text)]
    for _ in range(rounds):
        k = min(len(text) - 1, rng.randint(1, max_cuts))
        cuts = sorted(rng.sample(range(1, len(text)), k=k)) if len(text) > 1 else []
        bounds = [0, *cuts, len(text)]
        out.append([text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)])
    return out


def _strict_json(text: str) -> Any:
    """`json.loads` without Python's NaN/Infinity extensions, which are not JSON."""
    def reject(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=reject)


def _expected(fields: dict[str, Any]) -> tuple[str, str, list[tuple[str, Any]]]:
    return (fields["content"], fields["reasoning_content"],
            [(c["name"], c["arguments"]) for c in fields["calls"]])


def _observed(result: Result) -> tuple[str, str, list[tuple[str, Any]]]:
    content, thought, calls = result
    return content.strip(), thought.strip(), [(n, _strict_json(a)) for n, a in calls]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_corpus_case(case: dict[str, Any]) -> None:
    whole = _run(case, [case["input"]])
    for _, arguments in whole[2]:
        _strict_json(arguments)  # never invalid
    peer = _expected(case)
    if case["id"] in DIVERGENCES:
        ours = _expected({**case, **case["ours"]})
        assert ours != peer, "a divergence must differ from the peer's expectation"
        assert _observed(whole) == ours
    else:
        assert "ours" not in case, "`ours` is only for ids listed in DIVERGENCES"
        assert _observed(whole) == peer
    for chunks in _chunkings(case["input"], seed=len(case["id"])):
        assert _run(case, chunks) == whole, f"split {chunks!r} differs"


def test_corpus_ids_are_unique() -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))


def test_corpus_divergences_are_cases() -> None:
    ids = {c["id"] for c in CASES}
    assert set(DIVERGENCES) <= ids
    assert {c["id"] for c in CASES if "ours" in c} == set(DIVERGENCES)


def test_corpus_covers_every_family() -> None:
    """Every registered tool and reasoning parser has at least one case."""
    for registry, key in ((TOOL_PARSERS, "tool_parser"), (REASONING_PARSERS, "reasoning_parser")):
        covered = {registry.canonical(c[key]) for c in CASES if c[key]}
        assert {registry.canonical(n) for n in registry.names()} - covered == set()
