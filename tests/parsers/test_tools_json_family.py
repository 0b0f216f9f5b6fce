"""The shared tool cases through every JSON-argument parser, in each family's wire format.

Each format renders `tool_cases.CASES` as its model would write them (checked against
the chat templates); the parse must match through every split of the harness (whole,
per character, token-aligned through the real detokenizer where we have the family's
tokenizer, 100 seeded random chunkings). Arguments are compared as JSON and as the
exact raw text the model wrote.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from tokenizers import Tokenizer

from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.parsers.types import ToolSpec
from sglang_gw.testing.models import model_dir
from sglang_gw.tokenizer.chat_template import ChatTemplate
from tests.parsers.harness import chunkings, run_tools, split_invariant_tools
from tests.parsers.tool_cases import CASES, TOOLS, ToolCase

DS_BEGIN, DS_END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
DS_CALL, DS_CALL_END, DS_SEP = "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁sep｜>"
DSML = "｜DSML｜"


def args_json(args: dict[str, Any]) -> str:
    return json.dumps(args, ensure_ascii=False)


def call_object(key: str) -> Callable[[str, dict[str, Any], int], str]:
    return lambda name, args, i: f'{{"name": "{name}", "{key}": {args_json(args)}}}'


def dsml_invoke(name: str, args: dict[str, Any], i: int) -> str:
    params = "".join(
        f'<{DSML}parameter name="{k}" string="true">{v}</{DSML}parameter>\n' if isinstance(v, str)
        else f'<{DSML}parameter name="{k}" string="false">{args_json(v)}</{DSML}parameter>\n'
        for k, v in args.items())
    return f'<{DSML}invoke name="{name}">\n{params}</{DSML}invoke>\n'


@dataclass(frozen=True)
class Format:
    id: str
    parser: str
    unit: Callable[[str, dict[str, Any], int], str]  # one call; content as is if undeclared
    wrap: Callable[[list[str], str], str]  # (units, text before) -> the output
    tokenizer: str | None = None
    before: bool = True  # can the format carry text before the calls?
    call_id: str = r"call_[A-Za-z0-9]{24}"
    sections: bool = False  # special-token sections: one holding no call is content whole


FORMATS = (
    Format("json", "json", call_object("arguments"),
           lambda units, _: units[0] if len(units) == 1 else "[" + ", ".join(units) + "]", before=False),
    Format("hermes", "hermes", lambda n, a, i: f"<tool_call>\n{call_object('arguments')(n, a, i)}\n</tool_call>",
           lambda units, before: before + ("\n" if before else "") + "\n".join(units), tokenizer="qwen3"),
    Format("llama3", "llama3", call_object("parameters"),
           lambda units, before: before + "<|python_tag|>" + "; ".join(units), tokenizer="llama31"),
    Format("mistral_array", "mistral", call_object("arguments"),
           lambda units, before: before + "[TOOL_CALLS][" + ", ".join(units) + "]", tokenizer="mistral_nemo",
           call_id=r"[A-Za-z0-9]{9}"),
    Format("mistral_named", "mistral", lambda n, a, i: f"[TOOL_CALLS]{n}[ARGS]{args_json(a)}",
           lambda units, before: before + "".join(units), tokenizer="mistral_nemo", call_id=r"[A-Za-z0-9]{9}"),
    Format("deepseek_v3", "deepseek_v3",
           lambda n, a, i: f"{DS_CALL}function{DS_SEP}{n}\n```json\n{args_json(a)}\n```{DS_CALL_END}",
           lambda units, before: before + DS_BEGIN + "\n".join(units) + DS_END, tokenizer="deepseek_r1",
           sections=True),
    Format("deepseek_v31", "deepseek_v31", lambda n, a, i: f"{DS_CALL}{n}{DS_SEP}{args_json(a)}{DS_CALL_END}",
           lambda units, before: before + DS_BEGIN + "".join(units) + DS_END, tokenizer="deepseek_r1",
           sections=True),
    Format("deepseek_v32", "deepseek_v32", dsml_invoke,
           lambda units, before: before + f"\n\n<{DSML}function_calls>\n" + "".join(units) + f"</{DSML}function_calls>",
           tokenizer="deepseek_r1", sections=True),
    Format("kimi_k2", "kimi_k2",
           lambda n, a, i: f"<|tool_call_begin|>functions.{n}:{i}<|tool_call_argument_begin|>{args_json(a)}"
                           "<|tool_call_end|>",
           lambda units, before: f"{before}<|tool_calls_section_begin|>{''.join(units)}<|tool_calls_section_end|>",
           call_id=r"functions\.[a-z_]+:\d+", sections=True),
)


@cache
def tokenizer(family: str | None) -> Tokenizer | None:
    return None if family is None else Tokenizer.from_file(str(model_dir(family) / "tokenizer.json"))


def factory(fmt: Format, tools: tuple[ToolSpec, ...] = TOOLS) -> Callable[[], object]:
    cls = TOOL_PARSERS.get(fmt.parser)
    return lambda: cls(tools)


def render(fmt: Format, case: ToolCase) -> tuple[str, str]:
    """The model output for `case` and the content expected from it."""
    if not case.calls:
        return case.before, case.before
    before = case.before if fmt.before else ""
    units = [fmt.unit(c.name, c.args, i) for i, c in enumerate(case.calls)]
    text = fmt.wrap(units, before)
    if case.id == "undeclared":  # not a call: the unit's own text is content
        return text, text if fmt.sections else units[0].strip()
    return text, before.rstrip()  # whitespace touching call markup is markup


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("fmt", FORMATS, ids=[f.id for f in FORMATS])
def test_canonical_case(fmt: Format, case: ToolCase) -> None:
    text, content = render(fmt, case)
    result = split_invariant_tools(factory(fmt), text, tokenizer=tokenizer(fmt.tokenizer))
    assert result.content == content
    expected = [] if case.id == "undeclared" else list(case.calls)
    assert [c["name"] for c in result.calls] == [c.name for c in expected]
    for got, want in zip(result.calls, expected, strict=True):
        assert json.loads(got["arguments"]) == want.args
        assert got["arguments"] == args_json(want.args)  # the model's own text, not re-encoded
    assert all(re.fullmatch(fmt.call_id, i) for i in result.ids)


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.id for f in FORMATS])
def test_truncated_inside_arguments(fmt: Format) -> None:
    """Cut inside a string argument: the call is reported with the text received."""
    text = fmt.wrap([fmt.unit("get_weather", {"city": "Paris", "unit": "c"}, 0)], "")
    cut = text.index("Par") + 3
    result = split_invariant_tools(factory(fmt), text[:cut], valid_json=False)
    assert result.content == ""
    assert result.calls == [{"name": "get_weather", "arguments": '{"city": "Par'}]


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.id for f in FORMATS])
def test_truncated_before_the_name_is_content(fmt: Format) -> None:
    """Cut before the name is complete: not a call; nothing is lost."""
    text = fmt.wrap([fmt.unit("get_weather", {"city": "Paris"}, 0)], "")
    result = split_invariant_tools(factory(fmt), text[:text.index("get_wea") + 7], valid_json=False)
    assert result.calls == []
    assert result.content.endswith("get_wea")


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.id for f in FORMATS])
def test_no_tools_declared_accepts_any_name(fmt: Format) -> None:
    text = fmt.wrap([fmt.unit("launch_missiles", {"target": "moon"}, 0)], "")
    result = split_invariant_tools(factory(fmt, ()), text)
    assert result.calls == [{"name": "launch_missiles", "arguments": '{"target": "moon"}'}]


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.id for f in FORMATS])
def test_text_after_calls_is_content(fmt: Format) -> None:
    text = fmt.wrap([fmt.unit("noop", {}, 0)], "Sure.") + "\n\nDone, see above."
    result = split_invariant_tools(factory(fmt), text, tokenizer=tokenizer(fmt.tokenizer))
    assert result.content == ("Sure." if fmt.before else "") + "Done, see above."
    assert result.calls == [{"name": "noop", "arguments": "{}"}]


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.id for f in FORMATS])
def test_held_text_stays_bounded(fmt: Format) -> None:
    """A long argument streams as it arrives: nothing piles up in the parser."""
    long = "x" * 20_000
    text = fmt.wrap([fmt.unit("search", {"query": long}, 0)], "")
    parser = factory(fmt)()
    streamed = 0
    for i in range(0, len(text), 7):
        delta = parser.feed(text[i:i + 7])  # type: ignore[attr-defined]
        streamed += sum(len(c.arguments) for c in delta.calls)
        assert streamed > i - 200  # the argument leaves as it comes, not at the end
    parser.finish()  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.id for f in FORMATS])
def test_special_markers_are_single_tokens(fmt: Format) -> None:
    markers = TOOL_PARSERS.get(fmt.parser).special_markers
    tok = tokenizer(fmt.tokenizer)
    if tok is None or not markers:
        pytest.skip("no tokenizer for the family, or no special markers")
    vocab_markers = [m for m in markers if tok.token_to_id(m) is not None]
    assert vocab_markers, "the family's tokenizer has its call markers"
    for marker in vocab_markers:
        assert len(tok.encode(marker, add_special_tokens=False).ids) == 1


def test_stream_equals_whole_for_mixed_output() -> None:
    """Content, a call, more content, another call: per-feed deltas concatenate right."""
    fmt = FORMATS[1]
    text = ("Checking.\n" + fmt.unit("get_weather", {"city": "Zürich"}, 0) + "\nAnd also:\n"
            + fmt.unit("search", {"query": "rain", "limit": 2}, 1))
    whole = run_tools(factory(fmt)(), [text])
    assert whole.content == "Checking.And also:"
    assert [c["name"] for c in whole.calls] == ["get_weather", "search"]
    split_invariant_tools(factory(fmt), text, tokenizer=tokenizer("qwen3"))


# The assistant turn each real chat template writes for tool calls, cut out of a rendered
# conversation: (family, parser, text before the turn's output, text after it).
TEMPLATE_TURNS = (
    ("qwen3", "hermes", "<think>\n\n</think>\n\n", "<|im_end|>"),
    ("llama31", "llama3", "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"),
    ("deepseek_r1", "deepseek_v3", "<｜Assistant｜>", "<｜end▁of▁sentence｜>"),
    ("mistral_nemo", "mistral", "[/INST]", "</s>"),
)


@pytest.mark.parametrize(("family", "parser", "start", "end"), TEMPLATE_TURNS, ids=[t[0] for t in TEMPLATE_TURNS])
def test_what_the_chat_template_writes_parses_back(family: str, parser: str, start: str, end: str) -> None:
    template = ChatTemplate.from_model_dir(model_dir(family))
    calls = [("abc123xyz", "get_weather", {"city": "東京"}), ("def456uvw", "search", {"query": "umbrella"})]
    if family == "llama31":
        calls = calls[:1]  # its template takes one call per turn
    content = "Let me check." if family == "qwen3" else None
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": content, "tool_calls": [
        {"id": i, "type": "function", "function": {"name": n, "arguments": args_json(a)}} for i, n, a in calls]}]
    tools = [{"type": "function", "function": {"name": t.name, "parameters": dict(t.parameters)}} for t in TOOLS]
    prompt = template.render(messages, tools=tools, add_generation_prompt=False)
    turn = prompt[prompt.rindex(start) + len(start):]
    turn = turn[:turn.index(end)]
    result = split_invariant_tools(lambda: TOOL_PARSERS.get(parser)(TOOLS), turn, tokenizer=tokenizer(family))
    assert result.content == (content or "")
    assert [(c["name"], json.loads(c["arguments"])) for c in result.calls] == [(n, a) for _, n, a in calls]


_DEBRIS = (
    "{", "}", "[", "]", '"', ",", ":", ";", "\n", "\\", "<", "```", '">', "null", "<tool_call>", "</tool_call>",
    "[TOOL_CALLS]", "[ARGS]", "<|python_tag|>", DS_CALL, DS_CALL_END, DS_SEP, DS_END, "<|tool_call_begin|>",
    "<|tool_call_end|>", "<|tool_call_argument_begin|>", f'<{DSML}invoke name="', f"</{DSML}invoke>",
    f"</{DSML}parameter>",
)


def assert_damage_tolerated(fmt: Format, debris: tuple[str, ...], rounds: int) -> None:
    """Outputs of `fmt` with `debris` (markers, brackets, quotes) inserted, or text cut or
    deleted, anywhere: parsing never raises and gives the same result however it is split."""
    rng = random.Random(fmt.id)
    for round_ in range(rounds):
        text, _ = render(fmt, rng.choice(CASES))
        for _ in range(rng.randint(1, 4)):
            k = rng.randrange(len(text) + 1)
            roll = rng.random()
            text = (text[:k] + rng.choice(debris) + text[k:] if roll < 0.4
                    else text[:k] + text[k + rng.randint(1, 5):] if roll < 0.8 else text[:k])
        whole = run_tools(factory(fmt)(), [text])
        for chunks in chunkings(text, seed=round_, count=6):
            assert run_tools(factory(fmt)(), chunks).key() == whole.key(), (text, chunks)


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.id for f in FORMATS])
def test_damaged_output_never_raises_and_stays_split_invariant(fmt: Format) -> None:
    assert_damage_tolerated(fmt, _DEBRIS, rounds=100)
