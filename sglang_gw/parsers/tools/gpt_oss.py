"""GPT-OSS (harmony) tool calls: a message addressed to `functions.NAME`::

    <|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>

The header (between the message start and `<|message|>`) may put `to=` before or after
`<|channel|>`, and the first message of a reply has no `<|start|>assistant` (the prompt
ends with it), so the output may begin inside a header (`<|channel|>…` or ` to=…`).

* A message to `functions.NAME` with NAME declared (any NAME when none are) is a call;
  its body is the arguments, passed through as written (it is JSON already), without the
  whitespace around it. `<|call|>` ends it, and so does the end of the output (the worker
  may drop `<|call|>`, a stop token). A body that does not open an object or array (a
  scalar, or text when the header has no `<|constrain|>json`) is held until the call ends
  and sent as written if it is JSON, else as a JSON string, so arguments are never invalid.
* Every other message's body is content, whatever its channel (the reasoning parser takes
  `analysis` before this parser sees the text). That includes a message to an undeclared
  function or to a built-in tool (`browser.*`, `python`): its body is content.
* Harmony tokens are special tokens and never reach content. A header with no body (ended
  by a terminator, or abandoned at a new `<|start|>`) is markup and is dropped: stray
  `commentary` between two calls never joins them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._json_guard import completion
from sglang_gw.parsers.tools._machine import MachineParser, State, step_of
from sglang_gw.parsers.types import ToolSpec

__all__ = ["GptOssToolParser"]

START, END, MESSAGE, CHANNEL, CONSTRAIN, RETURN, CALL = (
    "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|return|>", "<|call|>")
_ENDS = (END, RETURN, CALL)
_HEADER_OPENERS = (START, CHANNEL, CONSTRAIN)
_ALL = (START, END, MESSAGE, CHANNEL, CONSTRAIN, RETURN, CALL)
_FIRST_HEADER = (CHANNEL, START, CONSTRAIN, MESSAGE, " to=", "to=")  # how a reply may begin
_ANY = Markers(_ALL)
_HEADER_END = Markers((MESSAGE, *_ENDS, START))  # a new <|start|> abandons a header
_RECIPIENT = re.compile(r"to=([^\s<]+)")
_MAX_HEADER = 1024


class GptOssToolParser(MachineParser):
    special_markers: ClassVar[tuple[str, ...]] = _ALL
    text_markers = _ANY
    content_text = True

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self._args_started = False
        self._args_ws: list[str] = []  # trailing whitespace of the arguments, held
        self._scalar: list[str] | None = None  # a body that is no object or array, held whole

    def initial_state(self) -> State:
        return self._begin

    def flush(self) -> None:
        if self.in_state(self._calling):
            self._close_call()
        super().flush()

    def _begin(self) -> bool:
        """Does the reply open inside a header? Hold while it may."""
        final = self.eof
        buf = self.buf
        if any(buf.startswith(h) for h in _FIRST_HEADER):
            self.state = step_of(self._header)
        elif not final and any(h.startswith(buf) for h in _FIRST_HEADER):
            return False
        else:
            self.state = step_of(self._text)
        return True

    def _text(self) -> bool:
        marker = self.content_until(self.text_markers)
        if marker is None:
            return False
        if marker in _HEADER_OPENERS:
            self.state = step_of(self._header)  # the marker stays: the header parse reads it
        elif marker == MESSAGE:
            self.buf, self.state = self.buf[len(marker):], step_of(self._body)
        else:
            self.buf, self.strip_next = self.buf[len(marker):], True
        return True

    def _header(self) -> bool:
        final = self.eof
        # Past the header's own `<|start|>`: a later one abandons the header.
        at, marker = _HEADER_END.split(self.buf, len(START) if self.buf.startswith(START) else 0)
        if marker is None or at > _MAX_HEADER:
            return self._not_a_header(final)
        if marker == START:  # a header with no body: markup, dropped; the next one is read
            self.buf = self.buf[at:]
            return True
        header, self.buf = self.buf[:at], self.buf[at + len(marker):]
        if marker != MESSAGE:
            self.state, self.strip_next = step_of(self._text), True
            return True
        name = _function_name(header)
        if name is not None and self.accepts(name):
            self.out.start(name)
            self._args_started, self._args_ws, self._scalar = False, [], None
            self.state = step_of(self._calling)
        else:
            self.state = step_of(self._body)
        return True

    def _not_a_header(self, final: bool) -> bool:
        """No `<|message|>` within reach: drop the would-be header (plain text if it holds no
        harmony token, e.g. a reply that starts with "to=") and read on as text."""
        if not final and len(self.buf) <= _MAX_HEADER:
            return False
        cut = min(len(self.buf), _MAX_HEADER)
        if "<|" not in self.buf[:cut]:
            self.out.content(self.buf[:cut])
        self.buf, self.state = self.buf[cut:], step_of(self._text)
        return True

    def _body(self) -> bool:
        final = self.eof
        at, marker = _ANY.split(self.buf)
        end = at if marker is not None or not final else len(self.buf)
        self.out.content(self.buf[:end])
        self.buf = self.buf[end:]
        if marker is None:
            return False
        self._end_message(marker)
        return True

    def _calling(self) -> bool:
        final = self.eof
        at, marker = _ANY.split(self.buf)
        self._arguments(self.buf[:at] if marker is not None or not final else self.buf)
        self.buf = self.buf[at:] if marker is not None or not final else ""
        if marker is None:
            return False
        self._close_call()
        self._end_message(marker)
        return True

    def _end_message(self, marker: str) -> None:
        if marker in _ENDS:
            self.buf, self.state, self.strip_next = self.buf[len(marker):], step_of(self._text), True
        elif marker == MESSAGE:  # a body with no header: read on as content
            self.buf, self.state = self.buf[len(marker):], step_of(self._body)
        else:  # a new header without an end marker
            self.state = step_of(self._header)

    def _arguments(self, text: str) -> None:
        if not self._args_started:
            text = text.lstrip()
        if not text:
            return
        if not self._args_started and text[0] not in "{[":
            self._scalar, self._args_started = [], True
        if self._scalar is not None:
            self._scalar.append(text)
            return
        body = text.rstrip()
        if not body:
            self._args_ws.append(text)
            return
        self.out.args("".join(self._args_ws) + body)
        self._args_ws = [text[len(body):]]
        self._args_started = True

    def _close_call(self) -> None:
        if self._scalar is not None:
            self.out.args(_as_json("".join(self._scalar).strip()))
        elif not self._args_started:
            self.out.args("{}")
        self._args_ws, self._args_started, self._scalar, self.state = [], False, None, step_of(self._text)


def _as_json(body: str) -> str:
    """A held scalar body: as written if it is JSON (or a JSON prefix cut off, which the
    arguments guard completes), else the text as a JSON string."""
    return body if completion(body) is not None else json.dumps(body, ensure_ascii=False)


def _function_name(header: str) -> str | None:
    m = _RECIPIENT.search(header)
    if m is None or not m.group(1).startswith("functions."):
        return None
    return m.group(1)[len("functions."):] or None
