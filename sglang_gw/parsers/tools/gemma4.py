"""Gemma 4 and FunctionGemma tool calls: `call:NAME{…}` between special tokens::

    Gemma 4       <|tool_call>call:get_weather{city:<|"|>Paris<|"|>,days:3}<tool_call|>
    FunctionGemma <start_function_call>call:get_weather{city:<escape>Paris<escape>}<end_function_call>

Parallel calls follow each other with nothing between them. The arguments are Gemma's own
notation (`_gemma_args.py`), streamed as JSON: string values as they arrive, other values
when they end; a quoted top-level value whose declared type is not a string (FunctionGemma
quotes numbers: `count:<escape>42<escape>`) is typed by the schema when it closes. A call
whose head is not `call:NAME{` or names an undeclared tool is content through its closing
token. After a call's `}` (or where its notation broke), text up to the
closing token is markup.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._arg_types import param_types
from sglang_gw.parsers.tools._gemma_args import GemmaArgs
from sglang_gw.parsers.tools._machine import MachineParser, State
from sglang_gw.parsers.types import ToolSpec

__all__ = ["FunctionGemmaToolParser", "Gemma4ToolParser"]

_HEAD = re.compile(r"\s*call:([\w.\-]+)\s*")


def _compile(cls: type[Gemma4ToolParser]) -> None:
    cls._open = Markers((cls.call_open,))
    cls._head = Markers(("{", cls.call_open, cls.call_close))
    cls._ends = Markers((cls.call_close, cls.call_open))


class Gemma4ToolParser(MachineParser):
    call_open: ClassVar[str] = "<|tool_call>"
    call_close: ClassVar[str] = "<tool_call|>"
    quote: ClassVar[str] = '<|"|>'
    special_markers: ClassVar[tuple[str, ...]] = (call_open, call_close, quote)

    _open: ClassVar[Markers]
    _head: ClassVar[Markers]
    _ends: ClassVar[Markers]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        _compile(cls)

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self._args = GemmaArgs(self.quote, self.call_close)

    def initial_state(self) -> State:
        return self._text

    def _text(self) -> bool:
        return self.text_then_unit(self._open, self._read_head)

    def _read_head(self) -> bool:
        done = self.read_head(self._head, "{")
        if done is None:
            return False
        match = _HEAD.fullmatch(self.head) if done else None
        name = match[1] if match else None
        if name is None or not self.accepts(name):
            self.release_held()
            return self.goto(self._unit_as_content)
        self.out.markup()
        self.open_call(name)
        self.out.args("{")
        self._args = GemmaArgs(self.quote, self.call_close, functools.partial(param_types, self.tools.get(name)))
        return self.goto(self._arguments)

    def _unit_as_content(self) -> bool:
        """A unit that is no call: content through its closing token (a new unit is read
        as such)."""
        return self.through(self._ends, self.call_close, self.out.text) and self.goto(self._text)

    def _arguments(self) -> bool:
        piece, self.pos = self._args.scan(self.buf, self.pos, self.eof)
        self.out.args(piece)
        if not (self._args.done or self._args.failed):
            return False
        return self.goto(self._unit_tail)

    def _unit_tail(self) -> bool:
        """After the arguments: markup up to the closing token (a new call may start)."""
        if not self.through(self._ends, self.call_close):
            return False
        self.out.markup_end()
        return self.goto(self._text)


class FunctionGemmaToolParser(Gemma4ToolParser):
    call_open = "<start_function_call>"
    call_close = "<end_function_call>"
    quote = "<escape>"
    special_markers = (call_open, call_close, quote)


_compile(Gemma4ToolParser)
