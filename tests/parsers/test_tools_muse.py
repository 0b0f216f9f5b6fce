"""Muse Glimmer (`muse`, SGLang): messages addressed by recipient; an ATEM invoke in a message
to a tool is a call, read whole when it closes; elsewhere ATEM markup is text."""

from __future__ import annotations

from typing import Any

import pytest

from sglang_gw.parsers.types import ToolSpec
from tests.parsers._tool_helpers import calls_of, parse

TOOLS = (ToolSpec("get_weather", {"type": "object", "properties": {"city": {"type": "string"}}}),
         ToolSpec("web.search"), ToolSpec("docs.search"))


def invoke(name: str, **params: str) -> str:
    body = "".join(f'<atem:parameter name="{k}">{v}</atem:parameter>\n' for k, v in params.items())
    return f'<atem:invoke name="{name}">\n{body}</atem:invoke>'


def to(recipient: str, body: str, end: str = "<|eom|>") -> str:
    return f"<|start|>assistant to={recipient}<|message|>{body}{end}"


@pytest.mark.parametrize(("text", "content", "calls"), [
    # Declared types win over the text's look; an untyped value is JSON if it reads as JSON.
    (to("get_weather", f"<atem:function_calls>\n{invoke('get_weather', city='123', days='2')}\n</atem:function_calls>"),
     "", [("get_weather", {"city": "123", "days": 2})]),
    # Two invokes in one block, the turn ended by <|eot|>, a namespaced name matched by its last part.
    (to("functions", f"<atem:function_calls>\n{invoke('get_weather', city='A')}\n{invoke('x.get_weather')}\n"
                     "</atem:function_calls>", "<|eot|>"),
     "", [("get_weather", {"city": "A"}), ("get_weather", {})]),
    # An undeclared name, or a last part that names two tools, is content as written.
    (to("nope", invoke("nope")), invoke("nope"), []),
    (to("search", invoke("search")), invoke("search"), []),
    # The message ends inside the invoke: content; what follows is read on.
    (to("get_weather", '<atem:invoke name="get_weather">') + " to=user",
     '<atem:invoke name="get_weather"> to=user', []),
    # Framing is markup; a header that never reaches <|message|> is content.
    (" to=user<|message|>Hi.<|eot|>", "Hi.", []),
    ("<|start|>assistant to=user and then", "<|start|>assistant to=user and then", []),
    ("Plain answer.", "Plain answer.", []),
])
def test_muse(text: str, content: str, calls: list[tuple[str, Any]]) -> None:
    result = parse("muse", text, tools=TOOLS)
    assert (result.content, calls_of(result)) == (content, calls)


def test_without_declared_tools_every_name_is_a_call() -> None:
    result = parse("muse", to("x", invoke("x.x", k="v")), tools=())
    assert calls_of(result) == [("x.x", {"k": "v"})]
