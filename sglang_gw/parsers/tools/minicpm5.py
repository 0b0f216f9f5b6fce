"""MiniCPM 5 tool calls: one XML element per call, no wrapper::

    <function name="get_weather"><param name="city">上海</param><param name="date">2024-06-27</param></function>

The template puts a newline before each call (after content) and wraps a string value
holding `<`, `&` or a newline in `<![CDATA[…]]>`. A value is read whole at its `</param>`:
the CDATA wrapper is removed, the text trimmed (as both peers do) and typed by the declared
schema (`_arg_types`). Calls still stream parameter by parameter.
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers.tools._arg_types import convert
from sglang_gw.parsers.tools._json_args import dumps
from sglang_gw.parsers.tools._xml_layouts import LOOSE_NAME_ATTR, element_layout
from sglang_gw.parsers.tools._xml_stream import XmlToolParser

__all__ = ["MiniCPM5ToolParser"]

_CDATA_OPEN, _CDATA_CLOSE = "<![CDATA[", "]]>"


class MiniCPM5ToolParser(XmlToolParser):
    fmt = element_layout("function", "param", LOOSE_NAME_ATTR)
    special_markers: ClassVar[tuple[str, ...]] = ()

    def _key(self) -> bool:
        again = super()._key()
        if self.in_state(self._value):  # every value is held to its end (a CDATA wrapper)
            self._string, self._typed = None, []
        return again

    def _end_value(self) -> str:
        raw = "".join(self._typed).strip()
        if raw.startswith(_CDATA_OPEN) and raw.endswith(_CDATA_CLOSE):
            raw = raw[len(_CDATA_OPEN):-len(_CDATA_CLOSE)].strip()
        return dumps(convert(raw, self._types))
