"""Inkling (TML) tool calls: typed messages, a call being a JSON-content message::

    <|message_model|>get_weather<|content_invoke_tool_json|>{"name": "get_weather", "args": {…}}<|end_message|>

The call object is `_json_call`'s with its arguments under `args` (smg's and SGLang's
`inkling` parsers). The framing tokens around ordinary text (`<|message_model|>` and the
header after it up to its content-type token, `<|content_text|>`, `<|content_thinking|>`,
`<|end_message|>`, `<|content_model_end_sampling|>`) are markup, dropped from content as
the peers drop them. A header that never reaches a content-type token (cut off, or longer
than any header) is content as written. A text-mode call (`<|content_invoke_tool_text|>`)
has no JSON to read: it stays content (smg suppresses the frame).
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._machine import MAX_HEAD
from sglang_gw.parsers.tools._marked_json import MarkedJsonParser

__all__ = ["InklingToolParser"]

_CALL = "<|content_invoke_tool_json|>"
_END = "<|end_message|>"
_HEADER = "<|message_model|>"
_FRAMING = ("<|content_text|>", "<|content_thinking|>", _END, "<|content_model_end_sampling|>")
_TEXT = Markers((_CALL, _HEADER, *_FRAMING))
# What ends a message header: a content-type token (or another message, or an end).
_HEADER_END = Markers((_CALL, "<|content_invoke_tool_text|>", _HEADER, *_FRAMING))


class InklingToolParser(MarkedJsonParser):
    open = _CALL
    close = _END
    argument_keys: ClassVar[tuple[str, ...]] = ("args",)
    special_markers: ClassVar[tuple[str, ...]] = (_CALL, "<|content_invoke_tool_text|>", _HEADER, *_FRAMING)
    text_markers = _TEXT

    def _text(self) -> bool:
        marker = self.text_until(self.text_markers, markup=False)
        if marker == _CALL:
            return self.begin_unit(_CALL, self._after_open)
        if marker == _HEADER:
            return self.begin_unit(_HEADER, self._header)
        return marker is not None  # framing: markup

    def _header(self) -> bool:
        """The author/tool/channel header after `<|message_model|>`: markup once its
        content-type token comes."""
        text, marker = self.until(_HEADER_END)
        self.hold(text)
        self.head += text
        if marker is None:
            if len(self.head) <= MAX_HEAD and not self.eof:
                return False
            self.release_held()
            return self.goto(self._text)
        self.held = None
        if marker == _CALL:
            return self.begin_unit(_CALL, self._after_open)
        if marker == _HEADER:  # another message's header
            return self.begin_unit(_HEADER, self._header)
        if marker == "<|content_invoke_tool_text|>":
            self.out.text(marker)  # a text-mode call: content, as written from here
        return self.goto(self._text)
