"""Apertus (swiss-ai/Apertus-*-2509) tool calls: a list of one-key objects, name → arguments::

    <|tools_prefix|>[{"get_weather": {"city": "Paris"}}, {"search": {"query": "rain"}}]<|tools_suffix|>

The template writes `{"NAME": ARGUMENTS}` per call, `, ` between them. A call commits once
its key (the name) is read and declared; its arguments stream as the model writes them.
An item naming an undeclared tool is content as written; the marker, the brackets and the
commas are markup once a `[` follows the marker (a marker not followed by `[` is text).
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._machine import MAX_HEAD, MachineParser, State

__all__ = ["ApertusToolParser"]

PREFIX, SUFFIX = "<|tools_prefix|>", "<|tools_suffix|>"
_OPEN = Markers((PREFIX,))
_KEY = re.compile(r'\{\s*("(?:[^"\\]|\\.)*")\s*:')
_MAYBE_KEY = re.compile(r'\{\s*(?:"(?:[^"\\]|\\.)*(?:"\s*)?)?')


class ApertusToolParser(MachineParser):
    text_markers = _OPEN
    special_markers: ClassVar[tuple[str, ...]] = (PREFIX, SUFFIX)
    _as_content = False  # the item being read names an undeclared tool

    def initial_state(self) -> State:
        return self._text

    def _text(self) -> bool:
        return self.text_then_unit(self.text_markers, self._bracket)  # the marker is markup once `[` follows

    def _bracket(self) -> bool:
        c = self.peek(hold=True)
        if c is None:
            return False
        if c != "[":
            self.release_held()  # not a call list: the marker was text
            return self.goto(self._text)
        self.pos += 1
        self.held = None
        self.out.markup()
        return self.goto(self._item)

    def _item(self) -> bool:
        """Between items: `,` and whitespace are markup; `]` ends the list."""
        c = self.peek(skip=",", take="]")
        if c is None:
            return False
        if c == "]":
            return self.goto(self._suffix)
        return self.goto(self._key if c == "{" else self._text)  # not an item: text again

    def _key(self) -> bool:
        m = _KEY.match(self.buf, self.pos)
        if m is None:
            partial = _MAYBE_KEY.match(self.buf, self.pos)
            whole = partial is not None and partial.end() == len(self.buf)
            if whole and not self.eof and len(self.buf) - self.pos <= MAX_HEAD:
                return False
            return self.goto(self._text)  # a broken item: text again
        try:
            name = json.loads(m[1])
        except ValueError:  # a raw control character in the key
            return self.goto(self._text)
        self._as_content = not self.accepts(name)
        if self._as_content:
            self.out.text(self.buf[self.pos:m.end()])
        else:
            self.open_call(name)
        self.pos = m.end()
        return self.read_json_args(self._item_end, as_content=self._as_content)

    def _item_end(self) -> bool:
        """The one-key object's closing brace."""
        c = self.peek(take="}")
        if c is None:
            return False
        if c == "}" and self._as_content:
            self.out.text("}")
        return self.goto(self._item)

    def _suffix(self) -> bool:
        self.skip_ws()
        found = self.expect(SUFFIX)
        if found is None:
            return False
        self.out.markup_end()
        return self.goto(self._text)
