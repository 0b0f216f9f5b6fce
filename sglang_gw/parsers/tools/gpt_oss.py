"""GPT-OSS (harmony) tool calls: a message addressed to `functions.NAME`::

    <|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>

The header (between the message start and `<|message|>`) may put `to=` before or after
`<|channel|>`, and the first message of a reply has no `<|start|>assistant` (the prompt
ends with it), so the output may begin inside a header (`<|channel|>…` or ` to=…`).

* A message to `functions.NAME` with NAME declared (any NAME when none are) is a call;
  its body is the arguments, passed through as written (it is JSON already), without the
  whitespace around it. `<|call|>` ends it, and so does the end of the output (the worker
  may drop `<|call|>`, a stop token).
* Every other message's body is content, whatever its channel (the reasoning parser takes
  `analysis` before this parser sees the text). That includes a message to an undeclared
  function or to a built-in tool (`browser.*`, `python`): its body is content.
* Harmony tokens are special tokens and never reach content.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._stream import Collector, StepParser
from sglang_gw.parsers.types import ToolSpec

__all__ = ["GptOssToolParser"]

START, END, MESSAGE, CHANNEL, CONSTRAIN, RETURN, CALL = (
    "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|return|>", "<|call|>")
_ENDS = (END, RETURN, CALL)
_HEADER_OPENERS = (START, CHANNEL, CONSTRAIN)
_ALL = (START, END, MESSAGE, CHANNEL, CONSTRAIN, RETURN, CALL)
_FIRST_HEADER = (CHANNEL, START, CONSTRAIN, MESSAGE, " to=", "to=")  # how a reply may begin
_ANY = Markers(_ALL)
_HEADER_END = Markers((MESSAGE, *_ENDS))
_RECIPIENT = re.compile(r"to=([^\s<]+)")
_MAX_HEADER = 1024

BEGIN, TEXT, HEADER, BODY, CALLING = range(5)


class GptOssToolParser(StepParser):
    special_markers: ClassVar[tuple[str, ...]] = _ALL

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self._out = Collector(self.emitter)
        self._buf = ""
        self._state = BEGIN
        self._skip_ws = False
        self._args_started = False
        self._args_ws: list[str] = []  # trailing whitespace of the arguments, held
        self._steps = {BEGIN: self._begin, TEXT: self._text, HEADER: self._header, BODY: self._body,
                       CALLING: self._calling}

    def _at_end(self) -> None:
        if self._state == CALLING:
            self._close_call()

    def _begin(self, final: bool) -> bool:
        """Does the reply open inside a header? Hold while it may."""
        buf = self._buf
        if any(buf.startswith(h) for h in _FIRST_HEADER):
            self._state = HEADER
        elif not final and any(h.startswith(buf) for h in _FIRST_HEADER):
            return False
        else:
            self._state = TEXT
        return True

    def _text(self, final: bool) -> bool:
        buf = self._buf.lstrip() if self._skip_ws else self._buf
        at, marker = _ANY.split(buf)
        end = at if marker is not None or not final else len(buf)
        if end:
            self._out.content(buf[:end])
            self._skip_ws = False
        self._buf = buf[end:]
        if marker is None:
            return False
        if marker in _HEADER_OPENERS:
            self._state = HEADER  # the marker stays: the header parse reads it
        elif marker == MESSAGE:
            self._buf, self._state = self._buf[len(marker):], BODY
        else:
            self._buf, self._skip_ws = self._buf[len(marker):], True
        return True

    def _header(self, final: bool) -> bool:
        at, marker = _HEADER_END.split(self._buf)
        if marker is None or at > _MAX_HEADER:
            return self._not_a_header(final)
        header, self._buf = self._buf[:at], self._buf[at + len(marker):]
        if marker != MESSAGE:
            self._state, self._skip_ws = TEXT, True
            return True
        name = _function_name(header)
        if name is not None and self._accepts(name):
            self._out.start(name)
            self._args_started, self._args_ws = False, []
            self._state = CALLING
        else:
            self._state = BODY
        return True

    def _not_a_header(self, final: bool) -> bool:
        """No `<|message|>` within reach: drop the would-be header (plain text if it holds no
        harmony token, e.g. a reply that starts with "to=") and read on as text."""
        if not final and len(self._buf) <= _MAX_HEADER:
            return False
        cut = min(len(self._buf), _MAX_HEADER)
        if "<|" not in self._buf[:cut]:
            self._out.content(self._buf[:cut])
        self._buf, self._state = self._buf[cut:], TEXT
        return True

    def _body(self, final: bool) -> bool:
        at, marker = _ANY.split(self._buf)
        end = at if marker is not None or not final else len(self._buf)
        self._out.content(self._buf[:end])
        self._buf = self._buf[end:]
        if marker is None:
            return False
        self._end_message(marker)
        return True

    def _calling(self, final: bool) -> bool:
        at, marker = _ANY.split(self._buf)
        self._arguments(self._buf[:at] if marker is not None or not final else self._buf)
        self._buf = self._buf[at:] if marker is not None or not final else ""
        if marker is None:
            return False
        self._close_call()
        self._end_message(marker)
        return True

    def _end_message(self, marker: str) -> None:
        if marker in _ENDS:
            self._buf, self._state, self._skip_ws = self._buf[len(marker):], TEXT, True
        elif marker == MESSAGE:  # a body with no header: read on as content
            self._buf, self._state = self._buf[len(marker):], BODY
        else:  # a new header without an end marker
            self._state = HEADER

    def _arguments(self, text: str) -> None:
        if not self._args_started:
            text = text.lstrip()
        if not text:
            return
        body = text.rstrip()
        if not body:
            self._args_ws.append(text)
            return
        self._out.args("".join(self._args_ws) + body)
        self._args_ws = [text[len(body):]]
        self._args_started = True

    def _close_call(self) -> None:
        if not self._args_started:
            self._out.args("{}")
        self._args_ws, self._args_started, self._state = [], False, TEXT


def _function_name(header: str) -> str | None:
    m = _RECIPIENT.search(header)
    if m is None or not m.group(1).startswith("functions."):
        return None
    return m.group(1)[len("functions."):] or None
