"""Mistral tool calls, both generations, told apart by what follows `[TOOL_CALLS]`.

    [TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}, {...}]
    [TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]search[ARGS]{...}
    [TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]{"city": "Paris"}

The first is Mistral 7B v0.3 / Nemo / Large 2407-2411 (a JSON array, optionally after a
space); the second is the v11+ tokenizers (Small 3.2, Ministral 3, Devstral, Magistral),
where `[ARGS]` may be missing (`name{...}`) and `[CALL_ID]` is optional (ignored).
Text before and between calls is content. In the array form the brackets and commas
are markup and an undeclared element is content as its object text; in the named form
a whole `[TOOL_CALLS]name[ARGS]{...}` unit of an undeclared tool is content. Call ids
are 9 alphanumerics, as Mistral's templates require.
"""

from __future__ import annotations

import re
from typing import ClassVar

from sglang_gw.ids import secret_alnum
from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._json_call import JsonCallsParser
from sglang_gw.parsers.tools._machine import MAX_HEAD, State
from sglang_gw.parsers.tools.base import CallEmitter

__all__ = ["MistralToolParser", "mistral_call_id"]

_CALLS = "[TOOL_CALLS]"
_ARGS = "[ARGS]"
_CALL_ID = "[CALL_ID]"
_TEXT = Markers((_CALLS,))
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.\-]*")
_ID_CHARS = re.compile(r"[A-Za-z0-9]*")


def mistral_call_id() -> str:
    return secret_alnum(9)


class _MistralEmitter(CallEmitter):
    __slots__ = ()

    def new_id(self, name: str, index: int) -> str:
        return mistral_call_id()


class MistralToolParser(JsonCallsParser):
    text_markers = _TEXT
    # [ARGS] and [CALL_ID] exist only in v11+ vocabularies (Nemo has [TOOL_CALLS], id 9).
    special_markers: ClassVar[tuple[str, ...]] = (_CALLS, _ARGS, _CALL_ID)
    emitter_type = _MistralEmitter

    # the named call being read
    _name = ""
    _id = ""
    _to_content = False  # an undeclared tool: its arguments are content

    def initial_state(self) -> State:
        return self._text

    def _text(self) -> bool:
        if self.text_until(self.text_markers) is None:
            return False
        self.hold(_CALLS)
        self._name = ""
        return self.goto(self._calls)

    def _calls(self) -> bool:
        c = self.peek(hold=True)
        if c is None:
            return False
        if c == "[":
            self.pos += 1
            self.held = None
            return self.begin_array(self._text)
        return self.goto(self._call_name)

    # -- [TOOL_CALLS]name[CALL_ID]id[ARGS]{...}

    def _call_name(self) -> bool:
        self._name, after = self._run(_NAME_CHARS, self._name)
        if after == "{" and self._name:  # `name{...}`: no [ARGS]
            return self._decide(self._name)
        marker = self._marker(after, _ARGS, _CALL_ID)
        if marker is None:
            return False
        if not marker or not self._name:
            return self._broken()
        if marker == _CALL_ID:
            self._id = ""
            return self.goto(self._call_id)
        return self._decide(self._name)

    def _call_id(self) -> bool:
        self._id, after = self._run(_ID_CHARS, self._id)
        marker = self._marker(after, _ARGS)
        if marker is None:
            return False
        return self._decide(self._name) if marker else self._broken()

    def _run(self, chars: re.Pattern[str], so_far: str) -> tuple[str, str | None]:
        """Consume (and hold) more of a run of `chars`: (the run so far, the character after
        it; None while the run may go on, "" if it is too long for a head)."""
        found = chars.match(self.buf, self.pos)
        end = found.end() if found else self.pos
        self.hold(self.buf[self.pos:end])
        run, self.pos = so_far + self.buf[self.pos:end], end
        if len(run) > MAX_HEAD:
            return run, ""
        return run, self.buf[self.pos] if self.more() else None

    def _marker(self, after: str | None, *markers: str) -> str | None:
        """The marker that follows a run (consumed and held): "" if none can (or the run was
        too long), None if unsure."""
        if not after:
            return after
        unsure = False
        for marker in markers:
            found = self.expect(marker)
            if found:
                self.hold(marker)
                return marker
            unsure = unsure or found is None
        return None if unsure else ""

    def _broken(self) -> bool:
        """Not the named form after all: the unit so far is text, and so is what follows."""
        self.release_held()
        return self.goto(self._text)

    def _decide(self, name: str) -> bool:
        if self.accepts(name):
            self.held = None
            self.out.start(name)
            self._to_content = False
        else:
            self.release_held()
            self._to_content = True
        return self.read_json_args(self._call_end, as_content=self._to_content)

    def _call_end(self) -> bool:
        if not self._to_content:
            self.out.markup_end()
        return self.goto(self._text)
