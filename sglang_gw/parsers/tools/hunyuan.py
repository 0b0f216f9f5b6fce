"""Tencent Hy3 (`hy_v3`, SGLang's `hunyuan`) tool calls: GLM-style key/value pairs in a block::

    <tool_calls>
    <tool_call>get_weather<tool_sep>
    <arg_key>city</arg_key>
    <arg_value>Paris</arg_value>
    </tool_call>
    </tool_calls>

The template prints string values as they are and other values as JSON; values are typed
by the declared schema (`_arg_types`), not trimmed. The released tokenizer spells every
marker with a suffix (`<tool_calls:opensource>`, `<arg_key:opensource>`, ...), the preview
without one: the first block opener in the output decides which spelling the rest uses
(a parser never sees a tokenizer, and both vocabularies are in use).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._xml_stream import WS, Lit, Name, XmlFormat, XmlToolParser
from sglang_gw.parsers.tools.base import ToolParser
from sglang_gw.parsers.types import ToolDelta, ToolSpec

__all__ = ["HyV3ToolParser"]

_SUFFIX = ":opensource"
_TOKENS = ("tool_calls", "tool_call", "tool_sep", "arg_key", "arg_value")


def _format(suffix: str) -> XmlFormat:
    def tag(name: str, close: bool = False) -> str:
        return f"<{'/' if close else ''}{name}{suffix}>"

    return XmlFormat(
        block_open=tag("tool_calls"),
        block_close=tag("tool_calls", close=True),
        call_open=tag("tool_call"),
        call_close=tag("tool_call", close=True),
        header=(WS, Name("<"), Lit(tag("tool_sep"))),
        param_open=tag("arg_key"),
        key=(Name("<"), Lit(tag("arg_key", close=True)), WS, Lit(tag("arg_value"))),
        value_close=tag("arg_value", close=True),
        body_close=tag("tool_call", close=True),
    )


def _markers(suffix: str) -> tuple[str, ...]:
    opens = tuple(f"<{name}{suffix}>" for name in _TOKENS)
    return opens + tuple(f"</{name}{suffix}>" for name in _TOKENS if name != "tool_sep")


class _Bare(XmlToolParser):
    fmt = _format("")


class _Suffixed(XmlToolParser):
    fmt = _format(_SUFFIX)


class HyV3ToolParser(ToolParser):
    """Reads text as content (as the XML engine would) until a block opener shows the
    spelling, then hands everything to the engine for that spelling."""

    special_markers: ClassVar[tuple[str, ...]] = _markers("") + _markers(_SUFFIX)
    _openers: ClassVar[Markers] = Markers((_Bare.fmt.openers()[0], _Suffixed.fmt.openers()[0]))

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self._specs = tuple(tools)
        self._inner: XmlToolParser | None = None
        self._held = ""

    @property
    def has_calls(self) -> bool:
        return self._inner is not None and self._inner.has_calls

    def passes(self, text: str) -> bool:
        return self._inner is not None and self._inner.passes(text)

    def feed(self, text: str) -> ToolDelta:
        if self._inner is not None:
            return self._inner.feed(text)
        buf = self._held + text
        hit = self._openers.find(buf)
        if hit is None:
            end = self._openers.safe_end(buf)
            self._held = buf[end:]
            return ToolDelta(content=buf[:end])
        self._held = ""
        self._inner = (_Bare if hit[1] == _Bare.fmt.block_open else _Suffixed)(self._specs)
        return self._inner.feed(buf)

    def finish(self) -> ToolDelta:
        if self._inner is not None:
            return self._inner.finish()
        held, self._held = self._held, ""
        return ToolDelta(content=held)
