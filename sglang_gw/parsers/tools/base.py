"""The tool-call parser contract and small shared pieces.

A parser is built per choice with the request's declared tools. `feed(text)` returns what
is final now: content outside calls and `ToolCallDelta`s; `finish()` flushes what is held
(a call cut short is still reported, its arguments as far as they came). Markup never
reaches the client; a call to an undeclared tool is not a call (its text is content).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import ClassVar

from sglang_gw.ids import secret_alnum
from sglang_gw.parsers.types import ToolCallDelta, ToolDelta, ToolSpec

__all__ = ["CallEmitter", "ToolParser", "random_call_id"]


def random_call_id() -> str:
    return "call_" + secret_alnum(24)


class CallEmitter:
    """Numbers calls in order and shapes their deltas: id+name once, then argument text.

    It makes the ids too (`new_id`), with no reference back to its parser: a parser holds
    its emitter, and an emitter holding one of the parser's methods would make every parser
    a reference cycle, freed only by the cyclic garbage collector.
    """

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def new_id(self, name: str, index: int) -> str:
        """`call_` + 24 random alphanumerics; families with their own id shapes override."""
        return random_call_id()

    def start(self, name: str, arguments: str = "") -> ToolCallDelta:
        index = self.count
        self.count += 1
        return ToolCallDelta(index=index, id=self.new_id(name, index), name=name, arguments=arguments)

    def arguments(self, fragment: str) -> ToolCallDelta:
        return ToolCallDelta(index=self.count - 1, arguments=fragment)


class ToolParser:
    """Base of every tool-call parser (subclasses implement `feed` and `finish`)."""

    # Special-token texts the parser must see: the decoder keeps exactly these in the text.
    special_markers: ClassVar[tuple[str, ...]] = ()
    # Markers that open and close a call block, for families whose calls can cut a
    # reasoning block short (`whole_calls`; the reasoning parser holds from a start).
    call_starts: ClassVar[tuple[str, ...]] = ()
    call_ends: ClassVar[tuple[str, ...]] = ()
    # Families with their own call-id shapes set a `CallEmitter` subclass.
    emitter_type: ClassVar[type[CallEmitter]] = CallEmitter

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        self.tools = {t.name: t for t in tools}
        self.emitter = self.emitter_type()

    @property
    def has_calls(self) -> bool:
        return self.emitter.count > 0

    @classmethod
    def whole_calls(cls, text: str, tools: Sequence[ToolSpec]) -> bool:
        """Is `text` one or more complete calls and nothing else but whitespace? A trial
        parse: every unit a declared call, arguments valid JSON, the last block closed."""
        if not cls.call_ends or not text.rstrip().endswith(cls.call_ends):
            return False
        trial = cls(tools)
        deltas = (trial.feed(text), trial.finish())
        if any(d.content.strip() for d in deltas):
            return False
        args: dict[int, str] = {}
        for call in (c for d in deltas for c in d.calls):
            args[call.index] = args.get(call.index, "") + call.arguments
        try:
            return bool(args) and all(isinstance(json.loads(a), dict) for a in args.values())
        except ValueError:
            return False

    def passes(self, text: str) -> bool:
        """Would `feed(text)` return `text` as content and nothing else, and change nothing?
        True lets the output processor skip `feed` (most pieces of a stream with tools carry
        no call), so it must be exact: False whenever unsure."""
        return False

    def feed(self, text: str) -> ToolDelta:
        raise NotImplementedError

    def finish(self) -> ToolDelta:
        raise NotImplementedError
