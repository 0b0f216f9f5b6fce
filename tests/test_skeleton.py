"""Template skeletons (tokenizer/skeleton.py): a render served from a skeleton always equals
jinja's own, for the real model templates and for templates built to trip each rule.

Each conversation is rendered twice by a cached template (the second render of a shape is
the one a skeleton may serve) and once by the same template with skeletons off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from sglang_gw.testing.models import FAMILIES, model_dir
from sglang_gw.tokenizer.chat_template import ChatTemplate, load_chat_templates, read_special_tokens

# Texts that differ in everything a template could look at: whitespace at the edges,
# emptiness, markup of reasoning and tool results, escapable and non-ASCII characters,
# length, case, digits, format braces.
TEXTS = [
    "hi", "", "  spaced  \n", "<think>why</think>the answer", "<tool_response>42</tool_response>",
    'quote " backslash \\ amp & lt <b>', "你好，世界 👋🏽", "x" * 300, "UPPER", "12", "{0} {name}",
    "line one\nline two\n\nline four",
]
SHAPES = [
    ["user"],
    ["system", "user"],
    ["user", "assistant", "user"],
    ["system", "user", "assistant", "user", "assistant"],
]


def conversation(roles: list[str], offset: int) -> list[dict[str, str]]:
    return [{"role": role, "content": TEXTS[(offset + i * 5) % len(TEXTS)]} for i, role in enumerate(roles)]


def render_or_error(template: ChatTemplate, messages: list[dict[str, str]], **kwargs: Any) -> str:
    try:
        return template.render(messages, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return f"{type(exc).__name__}: {exc}"


def assert_same_as_jinja(templates: dict[str, str] | str, special: dict[str, str] | None = None,
                         kwargs_list: tuple[dict[str, Any], ...] = ({},),
                         tool_lists: Sequence[list[dict[str, Any]] | None] = (None,),
                         offset_step: int = 1) -> ChatTemplate:
    """Every conversation of `SHAPES` (texts from every `offset_step`-th offset), with each
    of `tool_lists` and `kwargs_list`, renders from the skeleton cache as jinja renders it,
    twice (the second from a skeleton where one was learned)."""
    cached = ChatTemplate(templates, special)
    plain = ChatTemplate(templates, special, skeletons=False)
    for kwargs in kwargs_list:
        for tools in tool_lists:
            for roles in SHAPES:
                for offset in range(0, len(TEXTS), offset_step):
                    messages = conversation(roles, offset)
                    expected = render_or_error(plain, messages, tools=tools, template_kwargs=kwargs)
                    for _ in range(2):
                        got = render_or_error(cached, messages, tools=tools, template_kwargs=kwargs)
                        assert got == expected, (messages, tools)
    return cached


@pytest.mark.parametrize("with_tools", [False, True])
@pytest.mark.parametrize("family", FAMILIES)
def test_real_templates_render_as_jinja(family: str, with_tools: bool) -> None:
    folder = model_dir(family)
    tools: dict[str, Any] = {"tool_lists": TOOL_LISTS, "offset_step": 3} if with_tools else {}
    cached = assert_same_as_jinja(load_chat_templates(folder), read_special_tokens(folder),
                                  ({}, {"enable_thinking": False}), **tools)
    skeletons = cached.skeletons
    assert skeletons is not None
    if family in ("llama31", "gpt_oss"):
        # Both print today's date, and Llama trims every text: nothing can be kept.
        assert skeletons.hits == 0 and not skeletons.enabled
    else:
        assert skeletons.hits > 0


def test_plain_chat_is_served_from_the_skeleton() -> None:
    template = ChatTemplate("{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>{% endfor %}")
    skeletons = template.skeletons
    assert skeletons is not None
    assert template.render([{"role": "user", "content": "one"}]) == "<user>one</user>"
    assert (skeletons.hits, skeletons.misses) == (0, 1)
    assert template.render([{"role": "user", "content": "two {x}"}]) == "<user>two {x}</user>"
    assert (skeletons.hits, skeletons.misses) == (1, 1)


# Each reads the text in a way a skeleton cannot replay, or only under a guard.
TRICKY = {
    "trim": "{% for m in messages %}[{{ m.content | trim }}]{% endfor %}",
    "trim after concat": "{% for m in messages %}{{ ('\\n' + m.content + '\\n') | trim }}|{% endfor %}",
    "strip method": "{% for m in messages %}{{ m.content.strip() }}|{% endfor %}",
    "upper": "{% for m in messages %}{{ m.content | upper }}{% endfor %}",
    "upper after concat": "{% for m in messages %}{{ ('a' ~ m.content) | upper }}{% endfor %}",
    "escape": "{% for m in messages %}{{ m.content | e }}{% endfor %}",
    "tojson": "{% for m in messages %}{{ m.content | tojson }}{% endfor %}",
    "message tojson": "{% for m in messages %}{{ m | tojson }}{% endfor %}",
    "indent": "{% for m in messages %}>{{ m.content | indent(2) }}{% endfor %}",
    "replace": "{% for m in messages %}{{ m.content | replace('a', 'b') }}{% endfor %}",
    "slice": "{% for m in messages %}{{ m.content[:3] }}{% endfor %}",
    "split": "{% for m in messages %}{{ m.content.split('</think>')[-1] }}{% endfor %}",
    "length guard": "{% for m in messages %}{% if m.content | length > 5 %}long:{% endif %}{{ m.content }}{% endfor %}",
    "length printed": "{% for m in messages %}{{ m.content | length }}{% endfor %}",
    "wordcount": "{% for m in messages %}{{ m.content | wordcount }}{% endfor %}",
    "int": "{% for m in messages %}{{ m.content | int }}{% endfor %}",
    "is lower": "{% for m in messages %}{% if m.content is lower %}low{% endif %}{{ m.content }}{% endfor %}",
    "contains guard": "{% for m in messages %}{% if '</think>' in m.content %}R{% endif %}{{ m.content }}{% endfor %}",
    "startswith guard": "{% for m in messages %}{% if m.content.startswith('<tool') %}T{% endif %}{{ m.content }}"
                        "{% endfor %}",
    "equality guard": "{% for m in messages %}{% if m.content == 'hi' %}H{% endif %}{{ m.content }}{% endfor %}",
    "membership guard": "{% for m in messages %}{% if m.content in ['hi', '12'] %}M{% endif %}{% endfor %}",
    "truthiness": "{% for m in messages %}{% if m.content %}[{{ m.content }}]{% else %}none{% endif %}{% endfor %}",
    "printed twice": "{% for m in messages %}{{ m.content }}/{{ m.content }}{% endfor %}",
    "dropped": "{% for m in messages %}{% if m.role != 'system' %}{{ m.content }}{% endif %}{% endfor %}",
    "percent": "{% for m in messages %}{{ '%s!' % m.content }}{% endfor %}",
    "format": "{% for m in messages %}{{ m.content.format(name='N') if '{' in m.content else m.content }}"
              "{% endfor %}",
    "iterate": "{% for m in messages %}{% for c in m.content %}{{ c }}.{% endfor %}{% endfor %}",
    "date": "{{ strftime_now('%Y') }}{% for m in messages %}{{ m.content }}{% endfor %}",
    "raises": "{% for m in messages %}{% if m.content == '' %}{{ raise_exception('empty') }}{% endif %}"
              "{{ m.content }}{% endfor %}",
    "kwargs": "{% if flag %}F{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_templates_that_read_the_text_render_as_jinja(name: str) -> None:
    assert_same_as_jinja(TRICKY[name], kwargs_list=({}, {"flag": True}, {"flag": False}))


@pytest.mark.parametrize("name", ["trim", "trim after concat", "upper", "escape", "tojson", "slice", "wordcount",
                                  "int", "is lower", "iterate", "date", "indent"])
def test_templates_that_transform_the_text_never_use_skeletons(name: str) -> None:
    template = ChatTemplate(TRICKY[name])
    for offset in range(len(TEXTS)):
        for _ in range(2):
            render_or_error(template, conversation(["user"], offset))
    skeletons = template.skeletons
    assert skeletons is not None and skeletons.hits == 0


def test_guards_keep_one_skeleton_per_answer() -> None:
    template = ChatTemplate(TRICKY["startswith guard"])
    for text in ("<tool>a", "plain", "<tool>b", "other"):
        template.render([{"role": "user", "content": text}])
    skeletons = template.skeletons
    assert skeletons is not None
    # Two answers to the one question: two skeletons, each made once and then reused.
    assert (skeletons.hits, skeletons.misses) == (2, 2)
    assert template.render([{"role": "user", "content": "<tool>c"}]) == "T<tool>c"


def test_messages_with_other_keys_take_jinja() -> None:
    template = ChatTemplate("{% for m in messages %}{{ m.content }}{{ m.name or '' }}{% endfor %}"
                            "{% if tools %}T{% endif %}")
    named = [{"role": "user", "content": "a", "name": "bob"}]
    for _ in range(2):
        assert template.render(named) == "abob"
        assert template.render([{"role": "user", "content": [{"type": "text", "text": "p"}]}]) == "p"
        assert template.render([{"role": "user", "content": "a"}], tools=({"type": "function"},)) == "aT"
        assert template.render([{"role": "user", "content": "a"}], documents=[{"text": "d"}]) == "a"
    skeletons = template.skeletons
    assert skeletons is not None and skeletons.hits == 0 and skeletons.misses == 0


# --- chats that declare tools ------------------------------------------------------------------


def weather_tool(name: str = "get_weather", **extra: Any) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": "Current weather for a city (城市) <b>\"now\"</b>.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"], **extra}}}


# The same list several times, and lists that differ in one name, in a value's type only
# (1, 1.0, True, "1"), in order, in length, and the empty list.
TOOL_LISTS = [
    [weather_tool()],
    [weather_tool(), weather_tool("search_web")],
    [weather_tool()],
    [weather_tool("get_weathers")],
    [weather_tool(minItems=1)],
    [weather_tool(minItems=1.0)],
    [weather_tool(minItems=True)],
    [weather_tool(minItems="1")],
    [weather_tool("search_web"), weather_tool()],
    [],
    [weather_tool(), weather_tool("search_web")],
]


def assert_same_as_jinja_with_tools(templates: dict[str, str] | str, special: dict[str, str] | None = None,
                                    kwargs_list: tuple[dict[str, Any], ...] = ({},)) -> ChatTemplate:
    return assert_same_as_jinja(templates, special, kwargs_list, tool_lists=TOOL_LISTS, offset_step=3)


TOOLS_TRICKY = {
    "tools tojson": "{{ tools | tojson }}{% for m in messages %}[{{ m.content }}]{% endfor %}",
    "each tool tojson": "{% for t in tools %}{{ t | tojson(indent=2) }}\n{% endfor %}"
                        "{% for m in messages %}{{ m.content }}{% endfor %}",
    "value types": "{% for t in tools %}{% set v = t.function.parameters.minItems %}"
                   "{{ v is string }}{{ v is integer }}{{ v is boolean }}{{ v }}{% endfor %}"
                   "{% for m in messages %}{{ m.content }}{% endfor %}",
    "tool names as guards": "{% for m in messages %}{% for t in tools %}"
                            "{% if t.function.name in m.content %}<{{ t.function.name }}>{% endif %}"
                            "{% endfor %}{{ m.content }}{% endfor %}",
    "message tojson": "{{ tools | tojson }}{% for m in messages %}{{ m | tojson }}{% endfor %}",
    "messages tojson": "{{ tools | length }}{{ messages | tojson }}",
    "content concat tojson": "{% for m in messages %}{{ ('<' ~ m.content) | tojson }}{% endfor %}{{ tools | tojson }}",
    "tools none or list": "{% if tools is none %}N{% elif tools %}L{{ tools | length }}{% else %}E{% endif %}"
                          "{% for m in messages %}{{ m.content }}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(TOOLS_TRICKY))
def test_templates_with_tools_render_as_jinja(name: str) -> None:
    assert_same_as_jinja_with_tools(TOOLS_TRICKY[name])


@pytest.mark.parametrize("name", ["message tojson", "messages tojson", "content concat tojson"])
def test_tojson_of_message_text_never_uses_skeletons(name: str) -> None:
    cached = assert_same_as_jinja_with_tools(TOOLS_TRICKY[name])
    skeletons = cached.skeletons
    assert skeletons is not None and skeletons.hits == 0


def test_a_changed_tools_list_gets_its_own_skeleton() -> None:
    template = ChatTemplate("{% for t in tools or [] %}{{ t.function.name }}{{ t[1] }}|{% endfor %}"
                            "{% for m in messages %}{{ m.content }}{% endfor %}")
    skeletons = template.skeletons
    assert skeletons is not None
    messages = [{"role": "user", "content": "hi"}]
    assert template.render(messages, tools=[{"function": {"name": "a"}}]) == "a|hi"
    assert template.render(messages, tools=[{"function": {"name": "a"}}]) == "a|hi"
    assert (skeletons.hits, skeletons.misses) == (1, 1)
    assert template.render(messages, tools=[{"function": {"name": "b"}}]) == "b|hi"
    assert template.render(messages, tools=[{"function": {"name": "b"}}, {"function": {"name": "c"}}]) == "b|c|hi"
    # Keys JSON would write alike: the integer key is seen by `t[1]`, the string key is not.
    assert template.render(messages, tools=[{"function": {"name": "d"}, "1": "s"}]) == "d|hi"
    assert template.render(messages, tools=[{"function": {"name": "d"}, 1: "i"}]) == "di|hi"
    assert template.render(messages) == "hi"
    assert (skeletons.hits, skeletons.misses) == (1, 6)


def test_tools_skeletons_are_bounded_in_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from sglang_gw.tokenizer import skeleton

    monkeypatch.setattr(skeleton, "MAX_CHARS", 20_000)
    template = ChatTemplate("{{ tools | tojson }}{% for m in messages %}{{ m.content }}{% endfor %}")
    skeletons = template.skeletons
    assert skeletons is not None
    messages = [{"role": "user", "content": "hi"}]
    for i in range(40):
        tools = [weather_tool(f"tool_{i}_" + "x" * 1000)]
        for _ in range(2):
            assert template.render(messages, tools=tools).endswith("hi")
    assert skeletons.hits == 40
    assert 0 < len(skeletons._shapes) < 10 and skeletons._chars <= 20_000
    huge = [weather_tool("x" * skeleton.MAX_TOOLS_CHARS)]
    for _ in range(2):
        template.render(messages, tools=huge)
    assert skeletons.hits == 40


def test_tojson_of_a_text_spoils_the_probe_even_when_undone() -> None:
    # Undoes the JSON escapes the probe's marker holds, so the marker comes out whole; only
    # tojson refusing a value that holds a text keeps this template off skeletons.
    source = (r"""{% for m in messages %}{{ (m.content | tojson)[1:-1] | replace('\\n', '\n') """
              r"""| replace('\\t', '\t') | replace('\\"', '"') | replace('\\\\', '\\') }}|{% endfor %}""")
    cached = ChatTemplate(source)
    plain = ChatTemplate(source, skeletons=False)
    for text in ("hi", "a\rb", "c\u0001d", "hi"):
        messages = [{"role": "user", "content": text}]
        assert cached.render(messages, tools=[weather_tool()]) == plain.render(messages, tools=[weather_tool()])
    skeletons = cached.skeletons
    assert skeletons is not None and skeletons.hits == 0
