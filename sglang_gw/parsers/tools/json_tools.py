"""Bare JSON tool calls: the output *is* the call(s), as a constrained decode writes them.

    {"name": "get_weather", "arguments": {"city": "Paris"}}
    [{"name": "get_weather", "parameters": {...}}, {"name": "search", ...}]
    {"name": "a", "arguments": {}}; {"name": "b", "arguments": {}}

The output (after leading whitespace) must begin with `{` or `[`; otherwise it is all
content. Objects may follow each other separated by whitespace or `;`; an array holds
objects separated by commas. Text after the calls is content. If the first object is
not a call, the whole output is content; a later object that is not a call (undeclared
name, no name) is content itself. `arguments` and `parameters` are both accepted.
"""

from __future__ import annotations

from sglang_gw.parsers.tools._json_call import CallObject, JsonCallsParser
from sglang_gw.parsers.tools._machine import State, step_of

__all__ = ["JsonToolParser"]


class JsonToolParser(JsonCallsParser):
    def initial_state(self) -> State:
        self._run_text_state = step_of(self.text_state())  # after the calls, in an array or not
        return self._start

    def text_state(self) -> State:
        """Where text after (or instead of) the calls goes; here: all of it is content."""
        return self._plain

    def _plain(self) -> bool:
        if self.more():
            self.out.text(self.buf[self.pos:])
            self.pos = len(self.buf)
        return False

    def _start(self) -> bool:
        if self.peek(hold=True) != "[":  # one object, or not calls (all of it is text)
            return self.object_or_text(self._first_done, self.text_state())
        self.pos += 1
        self.hold("[")
        return self.goto(self._array_first)

    def _array_first(self) -> bool:
        # The `[` is markup only if the array begins with a call: hold it until then.
        return self.object_or_text(self._first_in_array_done, self.text_state())

    def _first_done(self, obj: CallObject) -> bool:
        return self.next_in_run(obj, self._separator) if obj.decision == "call" else self.goto(self.text_state())

    def _first_in_array_done(self, obj: CallObject) -> bool:
        return self.next_in_run(obj, self._array_next) if obj.decision == "call" else self.goto(self.text_state())

    def _separator(self) -> bool:
        """Between top-level objects: whitespace and `;` are markup."""
        c = self.peek(skip=";")
        if c is None:
            return False
        if c == "{":
            return self.run_object(self._separator)
        return self.end_run()
