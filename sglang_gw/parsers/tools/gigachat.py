"""GigaChat 3 / 3.1 and GigaChat 3.5 tool calls.

GigaChat 3 ends the assistant's turn and writes the call as a `function call` turn; 3.1
marks it with one token instead. Either way one JSON call object follows::

    Sure.<|message_sep|>\\n\\nfunction call<|role_sep|>\\n{"name": "get_weather", "arguments": {"city": "Paris"}}
    Sure.<|function_call|>{"name": "get_weather", "arguments": {"city": "Paris"}}

The object is read as every JSON call object here (`_json_call`: committed once its name
is declared, arguments streamed as written). `<|message_sep|>` ends a turn: it is markup
with the whitespace before it (what follows keeps its own, so text is never glued
together), and so are the turn's end markers after a call (`</s>` included, as the peers
strip it). A header that no object follows is content.

GigaChat 3.5 writes GCML, DeepSeek's DSML grammar under another tag::

    <｜GCML｜tool_calls>
    <｜GCML｜invoke name="get_weather">
    <｜GCML｜parameter name="city" string="true">Paris</｜GCML｜parameter>
    </｜GCML｜invoke>
    </｜GCML｜tool_calls>
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._json_call import JsonCallsParser
from sglang_gw.parsers.tools._machine import State
from sglang_gw.parsers.tools.deepseek import DeepSeekV32ToolParser

__all__ = ["GigaChat3ToolParser", "GigaChat35ToolParser"]

_MESSAGE_SEP = "<|message_sep|>"
_ROLE_HEADER = "function call<|role_sep|>"  # GigaChat 3: the `function call` role's turn
_CALL_TOKEN = "<|function_call|>"  # GigaChat 3.1
_TEXT = Markers((_MESSAGE_SEP, _ROLE_HEADER, _CALL_TOKEN))
_TURN_END = (_MESSAGE_SEP, "</s>")


class GigaChat3ToolParser(JsonCallsParser):
    text_markers = _TEXT
    special_markers: ClassVar[tuple[str, ...]] = (_MESSAGE_SEP, "<|role_sep|>", _CALL_TOKEN)

    def initial_state(self) -> State:
        return self._text

    def _text(self) -> bool:
        marker = self.text_until(self.text_markers, markup=False)
        if marker == _MESSAGE_SEP:  # the turn's end: markup, with the whitespace before it
            self.out.markup()
            return True
        return marker is not None and self.begin_unit(marker, self._header)

    def _header(self) -> bool:
        return self.object_block(self._tail, self._text)  # no `{`: the header was text

    def _tail(self) -> bool:
        """After a call: whitespace and the turn's end markers are markup."""
        self.skip_ws()
        if not self.more() and not self.eof:
            return False
        for marker in _TURN_END:
            found = self.expect(marker)
            if found is None:
                return False
            if found:
                return True
        self.out.markup_end()
        return self.goto(self._text)


class GigaChat35ToolParser(DeepSeekV32ToolParser):
    tag = "｜GCML｜"
    blocks = ("tool_calls",)
    # GigaChat 3.5's vocabulary is not public: listed in case the sentinel is a special token.
    special_markers: ClassVar[tuple[str, ...]] = ("｜GCML｜",)
