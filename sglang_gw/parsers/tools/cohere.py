"""Cohere Command-A / Command R7B tool calls: a JSON array in an action block::

    <|START_ACTION|>[
        {"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "Paris"}}
    ]<|END_ACTION|>

Text the model meant for the user sits in `<|START_RESPONSE|>…<|END_RESPONSE|>` (or
`<|START_TEXT|>…<|END_TEXT|>`); the
markers are dropped and the text is content (so is plain text outside any block, and
thinking text if no reasoning parser took it).

* Each object becomes a call once its `tool_name` is read (the template writes it before
  `parameters`). Its `parameters` object is passed through as written, character by
  character; parameters written before the name are held until it comes. No or non-object
  parameters give `{}`. The model's `tool_call_id` is not used (ids are `call_…`).
* An object with an undeclared or missing `tool_name` is content, as written. `name` and
  `arguments` are read as `tool_name` and `parameters` (the generic call keys, which the
  model sometimes writes instead; smg accepts them too); the first of either pair wins.
* A single object instead of the array is one call (Command-A writes that form too).
* An action that is not a JSON array or object is content from where it stops making sense.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._machine import MachineParser, State, step_of
from sglang_gw.parsers.types import ToolSpec

__all__ = ["CohereToolParser"]

START_ACTION, END_ACTION = "<|START_ACTION|>", "<|END_ACTION|>"
# Command-A Reasoning writes its answer in <|START_TEXT|>…<|END_TEXT|>: dropped too, so the
# markers never reach content when only the tool parser runs.
_DROPPED = ("<|START_RESPONSE|>", "<|END_RESPONSE|>", "<|START_TEXT|>", "<|END_TEXT|>", "<|START_THINKING|>",
            "<|END_THINKING|>", END_ACTION)
_WS = " \t\r\n"
_NAME_KEYS = ("tool_name", "name")
_PARAMS_KEYS = ("parameters", "arguments")
_TEXT = Markers((START_ACTION, *_DROPPED))


class _Object:
    """One array element, read a character at a time: its members at depth 1."""

    __slots__ = ("raw", "depth", "in_string", "escape", "phase", "key", "key_start", "value_start",
                 "name", "params", "params_object", "params_done")

    def __init__(self) -> None:
        self.raw: list[str] = ["{"]
        self.depth = 1
        self.in_string = self.escape = False
        self.phase = "key"  # key → colon → value → (comma) → key
        self.key = ""
        self.key_start = self.value_start = 0
        self.name: str | None = None
        self.params: list[str] = []       # the parameters text as written
        self.params_object = False
        self.params_done = False

    def step(self, c: str) -> bool:
        """Take one character; True when it closed the object."""
        in_params = self.phase == "value" and self.key in _PARAMS_KEYS and not self.params_done
        top = self.depth == 1 and not self.in_string
        self.raw.append(c)
        if in_params and not (top and c in _WS + ",}"):
            if not self.params:
                self.params_object = c == "{"
            self.params.append(c)
        if self.in_string:
            self._string_char(c)
        elif c == '"':
            self.in_string = True
            if top and self.phase == "key":
                self.key_start = len(self.raw) - 1
        elif c in "{[":
            self.depth += 1
        elif c in "}]":
            self.depth -= 1
        elif top and c == ":" and self.phase == "colon":
            self.phase, self.value_start = "value", len(self.raw)
        elif top and c == ",":
            self._member_done()
        if self.depth == 0:
            self._member_done()
            return True
        return False

    def _string_char(self, c: str) -> None:
        if self.escape:
            self.escape = False
        elif c == "\\":
            self.escape = True
        elif c == '"':
            self.in_string = False
            if self.depth == 1 and self.phase == "key":
                key = _loads("".join(self.raw[self.key_start:]))
                self.key = key if isinstance(key, str) else ""
                self.phase = "colon"

    def _member_done(self) -> None:
        if self.phase == "value":
            value = "".join(self.raw[self.value_start:-1]).strip()
            if self.key in _NAME_KEYS and self.name is None:
                name = _loads(value)
                self.name = name if isinstance(name, str) else None
            elif self.key in _PARAMS_KEYS:
                self.params_done = True
        self.phase, self.key = "key", ""


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


class CohereToolParser(MachineParser):
    special_markers: ClassVar[tuple[str, ...]] = (START_ACTION, *_DROPPED)
    text_markers = _TEXT
    content_text = True

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self._obj: _Object | None = None
        self._open = False      # the current object's call was started
        self._sent = 0          # parameters characters already sent

    def initial_state(self) -> State:
        return self._text

    def flush(self) -> None:
        if self.in_state(self._object) and self._obj is not None and not self._open:
            self.out.content("".join(self._obj.raw))  # cut before it became a call
        super().flush()

    def _text(self) -> bool:
        marker = self.content_until(self.text_markers)
        if marker is None:
            return False
        self.buf = self.buf[len(marker):]
        if marker == START_ACTION:
            self.state = step_of(self._action)
        return True

    def _action(self) -> bool:
        rest = self.buf.lstrip()
        if not rest:
            self.buf = ""
            return False
        if rest[0] == "[":
            self.buf, self.state = rest[1:], step_of(self._list)
        elif rest[0] == "{":  # Command-A also writes one call as a bare object
            self.buf, self.state = rest, step_of(self._list)
        else:  # not an array: text from here
            self.buf, self.state = rest, step_of(self._text)
        return True

    def _list(self) -> bool:
        rest = self.buf.lstrip(_WS + ",")
        self.buf = rest
        if not rest:
            return False
        if rest[0] == "{":
            self.buf, self.state = rest[1:], step_of(self._object)
            self._obj, self._open, self._sent = _Object(), False, 0
        elif rest[0] == "]":
            self.buf, self.state = rest[1:], step_of(self._list_end)
        else:
            self.state, self.strip_next = step_of(self._text), True
        return True

    def _list_end(self) -> bool:
        final = self.eof
        rest = self.buf.lstrip()
        if not final and END_ACTION.startswith(rest):
            self.buf = rest
            return False
        self.buf = rest[len(END_ACTION):] if rest.startswith(END_ACTION) else rest
        self.state, self.strip_next = step_of(self._text), True
        return True

    def _object(self) -> bool:
        obj = self._obj
        assert obj is not None
        for i, c in enumerate(self.buf):
            if obj.step(c):
                self.buf = self.buf[i + 1:]
                self._sync(obj)
                self._close(obj)
                self.state = step_of(self._list)
                return True
        self.buf = ""
        self._sync(obj)
        return False

    def _sync(self, obj: _Object) -> None:
        """Start the call once the name is known; send the parameters written so far."""
        if not self._open and obj.name is not None and self.accepts(obj.name):
            self._open = True
            self.out.start(obj.name)
        if self._open and obj.params_object and len(obj.params) > self._sent:
            self.out.args("".join(obj.params[self._sent:]))
            self._sent = len(obj.params)

    def _close(self, obj: _Object) -> None:
        if not self._open:
            self.out.content("".join(obj.raw))
        elif not obj.params_object:
            self.out.args("{}")
        self._obj, self._open = None, False
