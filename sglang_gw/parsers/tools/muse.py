"""Muse Glimmer tool calls: harmony-like messages addressed by recipient, a call being an
ATEM block in a message to a tool (SGLang's `muse`, `MuseGlimmerDetector`)::

     to=self<|message|>Need the weather.<|eom|>
    <|start|>assistant to=get_weather.get_weather<|message|><atem:function_calls>
    <atem:invoke name="get_weather.get_weather">
    <atem:parameter name="city">Paris</atem:parameter>
    </atem:invoke>
    </atem:function_calls><|eom|><|start|>assistant to=user<|message|>It is sunny.

* The first message's header may come bare (the prompt wrote `<|start|>assistant`); later
  ones start with `<|start|>`. A header runs to `<|message|>`, a body to `<|eom|>` or
  `<|eot|>` (`_muse.py`). Framing (headers, terminators) is markup. Text with no header
  is content as written, up to a terminator.
* A body addressed to `self` (the thought) or `user` (the answer), or to no one, is
  content as written: ATEM markup there is quoted text, never a call.
* In a body addressed to anyone else, each `<atem:invoke name="…">…</atem:invoke>` is held
  until it closes, then read: a declared tool (the template's doubled name `get.get`, or
  a namespaced name whose last part names one declared tool only, reads as that tool)
  is a call, anything else content as written; so is an invoke cut off. The
  `<atem:function_calls>` wrapper and the blanks between tags are markup.
* Values: typed by the schema (`_arg_types`); a parameter the schema does not type is
  JSON if its text is JSON, else the text (the format allows non-JSON values).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from sglang_gw.parsers._muse import EOM, EOT, MESSAGE, START, bare_header, recipient
from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._arg_types import convert, jsonable, loads_strict, param_types
from sglang_gw.parsers.tools._json_args import dumps
from sglang_gw.parsers.tools._machine import MachineParser, State
from sglang_gw.parsers.types import ToolSpec

__all__ = ["MuseToolParser"]

CALLS_OPEN, CALLS_CLOSE = "<atem:function_calls>", "</atem:function_calls>"
INVOKE_OPEN, INVOKE_CLOSE = "<atem:invoke", "</atem:invoke>"
_PROSE_RECIPIENTS = frozenset({"self", "user"})
_HEADER_END = Markers((MESSAGE, START, EOM, EOT))
_BODY_END = Markers((EOM, EOT))
_TOOL_BODY = Markers((EOM, EOT, CALLS_OPEN, CALLS_CLOSE, INVOKE_OPEN))
_INVOKE_END = Markers((INVOKE_CLOSE, EOM, EOT))
_INVOKE = re.compile(r'<atem:invoke\b[^>]*?\bname="([^"]+)"[^>]*>(.*)</atem:invoke>', re.DOTALL)
_PARAM = re.compile(r'<atem:parameter\b[^>]*?\bname="([^"]+)"[^>]*>(.*?)</atem:parameter>', re.DOTALL)


class MuseToolParser(MachineParser):
    special_markers: ClassVar[tuple[str, ...]] = (START, MESSAGE, EOM, EOT)
    # A message starts a call; telling the reasoning parser so makes it keep the answer's
    # framing, so a tool message quoted in the answer stays text (`MuseReasoningParser`).
    call_starts: ClassVar[tuple[str, ...]] = (START,)
    call_ends: ClassVar[tuple[str, ...]] = (EOM, EOT)

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self._first = True  # the first message: its header may come without `<|start|>`
        self._invoke: list[str] = []

    def initial_state(self) -> State:
        return self._between

    # -- framing ------------------------------------------------------------------------

    def _between(self) -> bool:
        """Before a message: its `<|start|>` (blanks before it are framing), a bare first
        header, or text that is no message (content, up to a terminator)."""
        rest = self.buf[self.pos:]
        body = rest.lstrip()
        if body.startswith(START):
            self.pos += len(rest) - len(body) + len(START)
            self.head = ""
            self.hold(START)
            return self.goto(self._header)
        if not self.eof and (not body or START.startswith(body)):
            return False
        if self._first:
            verdict, n = bare_header(rest, self.eof)
            if verdict is None:
                return False
            if verdict:
                self.pos += n
                return self._open_body(rest[:n])
        self._first = False
        return self.goto(self._prose)

    def _header(self) -> bool:
        complete = self.read_head(_HEADER_END, MESSAGE)
        if complete is None and not self.eof:
            return False
        if not complete:  # no header after all: its text is content
            self.release_held()
            self._first = False
            return self.goto(self._prose)
        self.held = None
        return self._open_body(self.head)

    def _open_body(self, header: str) -> bool:
        self._first = False
        if recipient(header) in _PROSE_RECIPIENTS:
            return self.goto(self._prose)
        return self.goto(self._tool_body)

    def _prose(self) -> bool:
        """A body to `self` or `user`, or text with no header: content, up to a terminator
        only (a quoted header inside it is text)."""
        text, marker = self.until(_BODY_END)
        self.out.content(text)
        return self.goto(self._between) if marker else False

    # -- a message to a tool ------------------------------------------------------------

    def _tool_body(self) -> bool:
        marker = self.text_until(_TOOL_BODY)
        if marker is None:
            return False
        if marker in (EOM, EOT):
            return self.goto(self._between)
        if marker == INVOKE_OPEN:
            self._invoke = [INVOKE_OPEN]
            return self.goto(self._held_invoke)
        self.out.markup_end()  # the wrapper
        return True

    def _held_invoke(self) -> bool:
        text, marker = self.until(_INVOKE_END)
        self._invoke.append(text)
        if marker is None:
            if self.eof:
                self.out.content("".join(self._invoke))  # cut off: as written
            return False
        if marker != INVOKE_CLOSE:  # the message ended inside it
            self.out.content("".join(self._invoke))
            return self.goto(self._between)
        source = "".join(self._invoke) + INVOKE_CLOSE
        call = _read_invoke(source, self.tools)
        if call is None:
            self.out.content(source)
        else:
            self.out.start(call[0], dumps(call[1]))
            self.out.markup_end()
        return self.goto(self._tool_body)


def _read_invoke(source: str, tools: Mapping[str, ToolSpec]) -> tuple[str, dict[str, Any]] | None:
    m = _INVOKE.fullmatch(source)
    if m is None:
        return None
    name = _tool_name(m.group(1).strip(), tools)
    if name is None:
        return None
    spec = tools.get(name)
    return name, {p.group(1): _value(p.group(2), param_types(spec, p.group(1))) for p in _PARAM.finditer(m.group(2))}


def _tool_name(written: str, tools: Mapping[str, ToolSpec]) -> str | None:
    """The declared tool `written` names (any name when none is declared)."""
    if not tools or written in tools:
        return written
    head, _, tail = written.partition(".")
    if head == tail and head in tools:  # the template's doubled namespace
        return head
    leaf = written.rsplit(".", 1)[-1]
    matches = [n for n in tools if n.rsplit(".", 1)[-1] == leaf]
    return matches[0] if len(matches) == 1 else None


def _value(text: str, types: frozenset[str] | None) -> Any:
    if types is not None:
        return convert(text, types)
    try:
        return jsonable(loads_strict(text))
    except (ValueError, TypeError):
        return text
