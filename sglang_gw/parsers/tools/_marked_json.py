"""JSON call objects (or an array of them) after a marker, with an optional closing marker.

    Sure.<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}, {...}]
    <tool_calls>[{"name": ...}]</tool_calls>

Text before the marker is content. After it, a `[` opens an array of call objects (its
brackets and commas are markup), a `{` a single call object; anything else means the
marker was text after all (content, read on). When the calls end, `close` (if the family
has one) is consumed as markup; text after it is content again and another marker may
open more calls. Each object follows `_json_call` (committed once its name is declared;
an undeclared object is content as written).
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._json_call import CallObject, JsonCallsParser, Status
from sglang_gw.parsers.tools._machine import State

__all__ = ["MarkedJsonParser"]


class MarkedJsonParser(JsonCallsParser):
    """A family sets `open` (and `close`, if its calls are wrapped) and `special_markers`."""

    open: ClassVar[str]
    close: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "open" in cls.__dict__ and "text_markers" not in cls.__dict__:
            cls.text_markers = Markers((cls.open,))

    def initial_state(self) -> State:
        return self._text

    def _text(self) -> bool:
        # The marker is markup only once a bracket shows calls follow (`functools` may be a
        # word in prose).
        return self.text_then_unit(self.text_markers, self._after_open)

    def _after_open(self) -> bool:
        if self.peek(hold=True) != "[":  # one object, or not calls (the marker was text)
            return self.object_or_text(self._object_done, self._text)
        self.out.markup()
        self.pos += 1
        self.held = None  # the marker and `[` are markup whatever the items are
        return self.begin_array(self._close)

    def _object_done(self, obj: CallObject) -> bool:
        if obj.decision != "call":
            return self.goto(self._text)
        if obj.status is Status.FAILED:
            self.out.markup_end()
            return self.goto(self._text)
        return self.goto(self._close)

    def _close(self) -> bool:
        """After the calls: the closing marker (if any, and if there) is markup."""
        self.out.markup_end()
        if self.close is None:
            return self.goto(self._text)
        self.skip_ws()
        if not self.more() and not self.eof:
            return False
        found = self.expect(self.close)
        if found is None:
            return False
        return self.goto(self._text)
