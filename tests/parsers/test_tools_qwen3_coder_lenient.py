"""Qwen3-Coder's lenient forms (issue 25, item 4): `<function=…>` with no `<tool_call>`
around it, and parameters left without `</parameter>`. Every case is split every way
(token-aligned through the real Qwen3 tokenizer and 100 seeded chunkings)."""

from __future__ import annotations

import pytest

from tests.parsers._tool_helpers import calls_of, parse

BARE = "<function=search>\n<parameter=query>\nhi\n</parameter>\n</function>"
WEATHER = "<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>"


@pytest.mark.parametrize(("text", "content", "calls"), [
    (BARE, "", [("search", {"query": "hi"})]),
    (f"Sure.\n{BARE}\nDone.", "Sure.\nDone.", [("search", {"query": "hi"})]),
    (f"{BARE}\n{WEATHER}", "", [("search", {"query": "hi"}), ("get_weather", {"city": "Paris"})]),
    # A bare call followed by a wrapped one, and a wrapper that only closes.
    (f"{BARE}\n<tool_call>\n{WEATHER}\n</tool_call>", "",
     [("search", {"query": "hi"}), ("get_weather", {"city": "Paris"})]),
    (f"{BARE}\n</tool_call>\nok", "ok", [("search", {"query": "hi"})]),
])
def test_function_without_tool_call_wrapper_is_a_call(text: str, content: str, calls: list) -> None:
    result = parse("qwen3_coder", text)
    assert result.content == content
    assert calls_of(result) == calls


@pytest.mark.parametrize("text", [
    "<function=launch_missiles>\n<parameter=target>\nmoon\n</parameter>\n</function>",
    "Write it as <function=NAME> in the prompt.",
    "a <function= b",
    "<function=get weather>\n</function>",
])
def test_bare_lookalikes_and_undeclared_functions_are_content_verbatim(text: str) -> None:
    result = parse("qwen3_coder", text)
    assert result.calls == []
    assert result.content == text


@pytest.mark.parametrize(("body", "args"), [
    # The next parameter's tag, on its own line, closes the open value (typed by schema).
    ("<parameter=query>\nhi\n<parameter=limit>\n3\n</parameter>\n", {"query": "hi", "limit": 3}),
    ("<parameter=query>\nhi\n<parameter=limit>\n3\n", {"query": "hi", "limit": 3}),
    ("<parameter=limit>\n3\n<parameter=query>\nhi\n", {"limit": 3, "query": "hi"}),
    ("<parameter=query>\ntwo\nlines\n", {"query": "two\nlines"}),
    ("<parameter=query>\nhi\n\n", {"query": "hi\n"}),
    # A tag the call cannot take next stays the value's text: undeclared, or already given.
    ("<parameter=query>\nhi\n<parameter=bogus>\nx\n</parameter>\n", {"query": "hi\n<parameter=bogus>\nx"}),
    ("<parameter=query>\na\n<parameter=query>\nb\n</parameter>\n", {"query": "a\n<parameter=query>\nb"}),
    # Mid-line markup is the value's (code that quotes the format); only a line start closes.
    ("<parameter=query>\nx = '<parameter=limit>' + '</tool_call>'\n</parameter>\n",
     {"query": "x = '<parameter=limit>' + '</tool_call>'"}),
])
def test_parameter_closed_by_the_next_line_tag(body: str, args: dict) -> None:
    for wrap in ("<tool_call>\n<function=search>\n{}</function>\n</tool_call>", "<function=search>\n{}</function>"):
        result = parse("qwen3_coder", wrap.format(body))
        assert calls_of(result) == [("search", args)]
        assert result.content == ""


def test_parameter_closed_by_the_end_of_the_call() -> None:
    text = "<tool_call>\n<function=search>\n<parameter=query>\nhi\n</tool_call>\nthen text"
    result = parse("qwen3_coder", text)
    assert calls_of(result) == [("search", {"query": "hi"})]
    assert result.content == "then text"


def test_without_declared_tools_any_new_name_closes_the_value() -> None:
    text = "<function=anything>\n<parameter=a>\n1\n<parameter=b>\n2\n<parameter=a>\n3\n</function>"
    result = parse("qwen3_coder", text, tools=())
    assert calls_of(result) == [("anything", {"a": "1", "b": "2\n<parameter=a>\n3"})]


def test_a_value_closed_mid_line_by_function_end_is_cut_not_guessed() -> None:
    # `hi</function>`: no line start, so the value runs on to the end of the output: the
    # call is reported as cut (its arguments unterminated), never with a guessed value.
    result = parse("qwen3_coder", "<function=search>\n<parameter=query>\nhi</function>", valid_json=False)
    assert result.calls == [{"name": "search", "arguments": '{"query": "hi</function>"'}]
