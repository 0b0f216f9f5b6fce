"""DeepSeek V3 / R1 (code fence), V3.1 and V3.2 (DSML) tool calls beyond the shared suite."""

from __future__ import annotations

from tokenizers import Tokenizer

from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.parsers.tools.deepseek import (
    DeepSeekV3ToolParser,
    DeepSeekV31ToolParser,
    DeepSeekV32ToolParser,
)
from tests.parsers.harness import ToolResult, split_invariant_tools
from tests.parsers.test_tools_json_family import tokenizer
from tests.parsers.tool_cases import TOOLS

BEGIN, END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
CALL, CALL_END, SEP = "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>", "<｜tool▁sep｜>"


def r1() -> Tokenizer:
    tok = tokenizer("deepseek_r1")  # one load (and byte table) shared by the tool tests
    assert tok is not None
    return tok


def parse(cls: type, text: str, *, valid_json: bool = True) -> ToolResult:
    return split_invariant_tools(lambda: cls(TOOLS), text, tokenizer=r1(), valid_json=valid_json)


def calls(result: ToolResult) -> list[tuple[str, str]]:
    return [(c["name"], c["arguments"]) for c in result.calls]


def test_tool_tokens_are_128806_to_128814_and_all_kept() -> None:
    ids = {r1().token_to_id(m) for m in DeepSeekV3ToolParser.special_markers}
    assert ids == {128806, 128807, 128808, 128809, 128814}
    assert DeepSeekV31ToolParser.special_markers == DeepSeekV3ToolParser.special_markers
    assert TOOL_PARSERS.get("deepseekv3") is DeepSeekV3ToolParser


def test_v3_fence_with_indented_json_keeps_the_raw_text() -> None:
    args = '{\n  "city": "Oslo",\n  "unit": "c"\n}'
    text = f"{BEGIN}{CALL}function{SEP}get_weather\n```json\n{args}\n```{CALL_END}{END}"
    assert calls(parse(DeepSeekV3ToolParser, text)) == [("get_weather", args)]


def test_v3_fence_without_language_tag() -> None:
    text = f'{BEGIN}{CALL}function{SEP}noop\n```\n{{}}\n```{CALL_END}{END}'
    assert calls(parse(DeepSeekV3ToolParser, text)) == [("noop", "{}")]


def test_v3_head_without_separator_is_content() -> None:
    # No call in the section, so the section is content whole, its markers too (issue 25).
    unit = f'{CALL}get_weather\n```json\n{{"city": "Oslo"}}\n```{CALL_END}'
    result = parse(DeepSeekV3ToolParser, f"{BEGIN}{unit}{END}")
    assert (result.content, result.calls) == (f"{BEGIN}{unit}{END}", [])


def test_v31_empty_arguments_and_truncated_call() -> None:
    text = f'{BEGIN}{CALL}noop{SEP}{CALL_END}{CALL}get_weather{SEP}{{"city": "Os'
    result = parse(DeepSeekV31ToolParser, text, valid_json=False)
    assert calls(result) == [("noop", "{}"), ("get_weather", '{"city": "Os')]


def test_v31_malformed_arguments_end_at_the_bad_character() -> None:
    text = f"Hi{BEGIN}{CALL}get_weather{SEP}{{city: 'Oslo'}}{CALL_END}{END} there"
    result = parse(DeepSeekV31ToolParser, text, valid_json=False)
    assert (result.content, calls(result)) == ("Hithere", [("get_weather", "{")])


def test_v31_missing_call_end_before_the_next_call() -> None:
    text = f"{BEGIN}{CALL}noop{SEP}{{}}{CALL}noop{SEP}{{}}{CALL_END}{END}"
    assert calls(parse(DeepSeekV31ToolParser, text)) == [("noop", "{}"), ("noop", "{}")]


DSML = "｜DSML｜"


def dsml(*invokes: str) -> str:
    return f"<{DSML}function_calls>\n" + "".join(invokes) + f"</{DSML}function_calls>"


def invoke(name: str, body: str) -> str:
    return f'<{DSML}invoke name="{name}">\n{body}</{DSML}invoke>\n'


def param(key: str, value: str, string: bool = True) -> str:
    return f'<{DSML}parameter name="{key}" string="{"true" if string else "false"}">{value}</{DSML}parameter>\n'


def test_v32_string_values_are_escaped_as_they_stream() -> None:
    text = dsml(invoke("search", param("query", 'a "quoted"\n\tline \\ 東京 ') + param("limit", " 3 ", string=False)))
    expected = '{"query": "a \\"quoted\\"\\n\\tline \\\\ 東京 ", "limit": 3}'
    assert calls(parse(DeepSeekV32ToolParser, text)) == [("search", expected)]


def test_v32_typed_value_that_is_not_json_becomes_a_string() -> None:
    text = dsml(invoke("search", param("limit", "three", string=False)))
    assert calls(parse(DeepSeekV32ToolParser, text)) == [("search", '{"limit": "three"}')]
    text = dsml(invoke("search", param("limit", "NaN", string=False)))  # Python reads it; JSON does not
    assert calls(parse(DeepSeekV32ToolParser, text)) == [("search", '{"limit": "NaN"}')]


def test_v32_json_body_instead_of_parameters() -> None:
    text = dsml(invoke("get_weather", '{"city": "Oslo"}\n'))
    assert calls(parse(DeepSeekV32ToolParser, text)) == [("get_weather", '{"city": "Oslo"}')]


def test_v32_truncated_inside_a_string_value() -> None:
    text = dsml(invoke("get_weather", param("city", "Oslo")))
    result = parse(DeepSeekV32ToolParser, text[:text.index("Os") + 2], valid_json=False)
    assert calls(result) == [("get_weather", '{"city": "Os')]


def test_v32_truncated_inside_a_typed_value() -> None:
    text = dsml(invoke("search", param("limit", "42", string=False)))
    result = parse(DeepSeekV32ToolParser, text[:text.index(">42") + 2], valid_json=False)
    assert calls(result) == [("search", '{"limit": 4')]


def test_v32_undeclared_invoke_is_content() -> None:
    undeclared = invoke("launch", param("x", "1", string=False))
    result = parse(DeepSeekV32ToolParser, "Ok." + dsml(undeclared, invoke("noop", "")))
    assert (result.content, calls(result)) == ("Ok." + undeclared.strip(), [("noop", "{}")])


def test_v4_tool_calls_wrapper_is_read_too() -> None:
    text = "Ok." + dsml(invoke("noop", "")).replace("function_calls>", "tool_calls>") + " Done."
    assert (parse(DeepSeekV32ToolParser, text).content, calls(parse(DeepSeekV32ToolParser, text))) == (
        "Ok.Done.", [("noop", "{}")])
