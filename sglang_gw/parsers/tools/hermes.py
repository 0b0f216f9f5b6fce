"""Hermes / Qwen 2.5 / Qwen 3 tool calls: a JSON call object inside `<tool_call>` tags.

    Let me check.
    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>
    <tool_call>
    ...

One object per block, any number of blocks, text before, between and after them.
A block whose object is not a call (undeclared name, no name, not JSON) is content,
tags included. After a committed call, anything up to `</tool_call>` is markup (a
stray extra `}` is common); a new `<tool_call>` also ends it.
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._json_call import JsonCallsParser
from sglang_gw.parsers.tools._machine import State

__all__ = ["HermesToolParser"]



class HermesToolParser(JsonCallsParser):
    """Families with the same block under other tags set `open_tag` and `close_tag`."""

    open_tag: ClassVar[str] = "<tool_call>"
    close_tag: ClassVar[str] = "</tool_call>"
    # Plain (non-special) added tokens in Qwen's vocabulary, listed so a tokenizer that
    # marks them special keeps them in the decoded text.
    special_markers: ClassVar[tuple[str, ...]] = (open_tag, close_tag)
    call_starts: ClassVar[tuple[str, ...]] = (open_tag,)
    call_ends: ClassVar[tuple[str, ...]] = (close_tag,)
    text_markers: ClassVar[Markers] = Markers((open_tag,))
    _tail_markers: ClassVar[Markers] = Markers((open_tag, close_tag))

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "text_markers" not in cls.__dict__:
            cls.text_markers = Markers((cls.open_tag,))
        cls._tail_markers = Markers((cls.open_tag, cls.close_tag))
        cls.call_starts, cls.call_ends = (cls.open_tag,), (cls.close_tag,)
        if "special_markers" not in cls.__dict__:
            cls.special_markers = (cls.open_tag, cls.close_tag)

    def initial_state(self) -> State:
        return self._text

    def _text(self) -> bool:
        return self.text_until(self.text_markers) is not None and self._open_block()

    def _open_block(self) -> bool:
        return self.begin_unit(self.open_tag, self._block)

    def _block(self) -> bool:
        # A call's block closes as markup; anything else continues as text, so the rest
        # of an undeclared or broken block (its `</tool_call>` too) is content.
        return self.object_block(self._tail, self._text)  # no `{`: the tag was text

    def _tail(self) -> bool:
        _, marker = self.until(self._tail_markers)
        if marker is None:
            return False
        if marker == self.open_tag:
            return self._open_block()
        self.out.markup_end()
        return self.goto(self._text)
