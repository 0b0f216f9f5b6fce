"""Pieces every streaming tool parser here shares: marker search that knows what to hold
back, and an output collector that shapes `ToolDelta`s.

A parser keeps only unconsumed text in its buffer. `find_marker` returns either the
earliest complete marker or the point from which the tail might still grow into one, so
a feed costs time in proportion to the new text, not to the output so far.
"""

from __future__ import annotations

from collections.abc import Callable

from sglang_gw.parsers.tools.base import CallEmitter, ToolParser
from sglang_gw.parsers.types import ToolCallDelta, ToolDelta

__all__ = ["Collector", "StepParser"]


class Collector:
    """Gathers one feed's content and call deltas: one delta per call per feed, its
    argument fragments joined."""

    __slots__ = ("_emitter", "_content", "_calls", "_head", "_args")

    def __init__(self, emitter: CallEmitter) -> None:
        self._emitter = emitter
        self._content: list[str] = []
        self._calls: list[ToolCallDelta] = []
        self._head: ToolCallDelta | None = None  # the open call's delta being built
        self._args: list[str] = []

    def content(self, text: str) -> None:
        if text:
            self._content.append(text)

    def start(self, name: str, arguments: str = "") -> None:
        self._flush()
        self._head = self._emitter.start(name)
        self._args.append(arguments)

    def args(self, fragment: str) -> None:
        if fragment:
            if self._head is None:
                self._head = self._emitter.arguments("")
            self._args.append(fragment)

    def take(self) -> ToolDelta:
        self._flush()
        delta = ToolDelta("".join(self._content), tuple(self._calls))
        self._content, self._calls = [], []
        return delta

    def _flush(self) -> None:
        head = self._head
        if head is not None:
            self._calls.append(ToolCallDelta(head.index, head.id, head.name, "".join(self._args)))
        self._head, self._args = None, []


class StepParser(ToolParser):
    """A tool parser run as a table of steps. Subclasses set `_state` and `_steps` (state →
    step); a step reads `_buf`, writes to `_out`, and returns True to run again (the
    `final` flag says the output has ended). `_at_end` closes what the end leaves open."""

    _steps: dict[object, Callable[[bool], bool]]
    _state: object
    _buf: str
    _out: Collector

    def feed(self, text: str) -> ToolDelta:
        self._buf += text
        while self._steps[self._state](False):
            pass
        return self._out.take()

    def finish(self) -> ToolDelta:
        while self._steps[self._state](True):
            pass
        self._at_end()
        self._buf = ""
        return self._out.take()

    def _at_end(self) -> None:
        """Called once after the last step; nothing to close by default."""

    def _accepts(self, name: str) -> bool:
        """A call to `name` is a call: any name when no tools were declared."""
        return not self.tools or name in self.tools
