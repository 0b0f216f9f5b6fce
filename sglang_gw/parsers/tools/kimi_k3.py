"""Kimi-K3 tool calls: the XTML `tools` channel after the `response` channel::

    <|open|>response<|sep|>Let me check.<|close|>response<|sep|>
    <|open|>tools<|sep|>
    <|open|>call tool="get_weather" index="1"<|sep|>
    <|open|>argument key="city" type="string"<|sep|>Paris<|close|>argument<|sep|>
    <|open|>argument key="days" type="number"<|sep|>3<|close|>argument<|sep|>
    <|close|>call<|sep|>
    <|close|>tools<|sep|>

Facts from smg's and SGLang's K3 parsers: an argument of `type="string"` is its raw text
(streamed as it arrives); any other type is JSON text (kept as written when it is one
JSON value, else the text as a string); attribute values escape `"` and `&` as `&quot;`
and `&amp;`; the `index` attribute is not trusted (calls are numbered in order). The
`response` and `message` wrapper markers are dropped from content here too, so they never
reach a client when only the tool parser runs. The channel markers are markup; a call
whose head has no `tool` or names an undeclared tool is content through `<|close|>call<|sep|>`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._arg_types import loads_strict
from sglang_gw.parsers.tools._json_args import ArgsWriter, StringValue, Trim, dumps
from sglang_gw.parsers.tools._machine import MAX_HEAD, MachineParser, State
from sglang_gw.parsers.types import ToolSpec

__all__ = ["WRAPPERS", "KimiK3ToolParser"]

OPEN, CLOSE, SEP = "<|open|>", "<|close|>", "<|sep|>"
TOOLS_OPEN, TOOLS_CLOSE = f"{OPEN}tools{SEP}", f"{CLOSE}tools{SEP}"
CALL_OPEN, CALL_CLOSE = f"{OPEN}call", f"{CLOSE}call{SEP}"
ARG_OPEN, ARG_CLOSE = f"{OPEN}argument", f"{CLOSE}argument{SEP}"
# Channel wrappers around the answer: markup, dropped wherever they appear in content.
WRAPPERS = (f"{OPEN}response{SEP}", f"{CLOSE}response{SEP}", f"{OPEN}message{SEP}", f"{CLOSE}message{SEP}")

_TEXT = Markers((TOOLS_OPEN, *WRAPPERS))
_SECTION = Markers((CALL_OPEN, TOOLS_CLOSE))
_HEAD = Markers((SEP, OPEN, CLOSE))
_UNIT = Markers((CALL_CLOSE, CALL_OPEN, TOOLS_CLOSE))
_BODY = Markers((ARG_OPEN, CALL_CLOSE, TOOLS_CLOSE))
_VALUE = Markers((ARG_CLOSE,))
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def attributes(head: str) -> dict[str, str]:
    """`key="value"` pairs of a tag head, unescaped as the encoder escaped them."""
    return {k: v.replace("&quot;", '"').replace("&amp;", "&") for k, v in _ATTR.findall(head)}


def typed_json(raw: str) -> str:
    """A non-string argument: its text if that is one JSON value, else the text as a string."""
    try:
        loads_strict(raw)
    except ValueError:
        return dumps(raw)
    return raw.strip()


class KimiK3ToolParser(MachineParser):
    text_markers = _TEXT
    special_markers: ClassVar[tuple[str, ...]] = (OPEN, CLOSE, SEP)

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self._writer = ArgsWriter()
        self._string: StringValue | None = None
        self._raw: list[str] = []

    def initial_state(self) -> State:
        return self._text

    def _text(self) -> bool:
        marker = self.text_until(self.text_markers)
        if marker is None:
            return False
        if marker == TOOLS_OPEN:
            return self.goto(self._section)
        self.out.markup_end()  # a wrapper: dropped, and the whitespace it brought
        return True

    def _section(self) -> bool:
        _, marker = self.until(_SECTION)  # between calls: markup
        if marker is None:
            return False
        if marker == TOOLS_CLOSE:
            self.out.markup_end()
            return self.goto(self._text)
        return self.begin_unit(marker, self._head)

    def _head(self) -> bool:
        done = self.read_head(_HEAD, SEP)
        if done is None:
            return False
        name = attributes(self.head).get("tool") if done and self.head[:1].isspace() else None
        if not self.open_call(name or None):
            self.release_held()
            return self.goto(self._unit_as_content)
        self._writer = ArgsWriter()
        self.out.args(self._writer.open())
        return self.goto(self._body)

    def _unit_as_content(self) -> bool:
        return self.through(_UNIT, CALL_CLOSE, self.out.text) and self.goto(self._section)

    def _body(self) -> bool:
        _, marker = self.until(_BODY)  # between arguments: markup
        if marker is None:
            return False
        if marker == ARG_OPEN:
            return self.goto(self._arg_head)
        self.out.args(self._writer.close())
        if marker == TOOLS_CLOSE:
            self.out.markup_end()
            return self.goto(self._text)
        return self.goto(self._section)

    def _arg_head(self) -> bool:
        sep = self.buf.find(SEP, self.pos, self.pos + MAX_HEAD)
        if sep == -1:
            if not self.eof and len(self.buf) - self.pos < MAX_HEAD:
                return False
            return self.goto(self._body)  # not an argument head: skipped
        attrs = attributes(self.buf[self.pos:sep])
        self.pos = sep + len(SEP)
        if "key" not in attrs:
            return self.goto(self._body)
        self.out.args(self._writer.key(attrs["key"]))
        is_string = attrs.get("type", "string") == "string"
        self._string, self._raw = (StringValue(Trim()) if is_string else None), []
        return self.goto(self._value)

    def _value(self) -> bool:
        text, marker = self.until(_VALUE)
        if self._string is not None:
            self.out.args(self._string.feed(text))
        else:
            self._raw.append(text)
        if marker is None and not self.eof:
            return False
        self.out.args(self._string.end() if self._string is not None else typed_json("".join(self._raw)))
        return self.goto(self._body)
