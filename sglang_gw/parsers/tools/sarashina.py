"""SoftBank Sarashina tool calls: a Python-literal list of call dicts (smg's `sarashina`)::

    <|tool_calls|>[{'name': 'get_weather', 'arguments': {'city': 'Tokyo'}}]

`<|tool_calls|>` is a special token, so a decoder that skips special tokens leaves the
bare list; both forms are read.

* The marker anywhere, or a list opening `[{` at the very start of the output (blanks
  aside), starts a call list; a bracket anywhere else is text. The marker is markup,
  dropped whatever follows it.
* The list (or a single dict after the marker) is held until its brackets balance, then
  read with `ast.literal_eval` (`True`, `None`, single quotes…): every item must be a dict
  with a string `name` and a dict `arguments` (absent: `{}`). An item naming an undeclared
  tool is content, its source text; a list in which no item is a call, or that does not
  read, is content as written.
* Cut off inside the list: the items finished before the cut are read the same way (the
  list as if it closed there); the unfinished one is content.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any, ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._arg_types import jsonable
from sglang_gw.parsers.tools._json_args import dumps
from sglang_gw.parsers.tools._machine import MachineParser, State
from sglang_gw.parsers.tools.pythonic import _Lexer
from sglang_gw.parsers.types import ToolSpec

__all__ = ["SarashinaToolParser"]

_MARKER = "<|tool_calls|>"
_TEXT = Markers((_MARKER,))
# A call read from the list: name, arguments and its source text (content if undeclared).
_Item = tuple[str, dict[str, Any], str]


class SarashinaToolParser(MachineParser):
    text_markers = _TEXT
    special_markers: ClassVar[tuple[str, ...]] = (_MARKER,)

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self._lexer = _Lexer()
        self._source: list[str] = []  # the held list's text, from its opening bracket
        self._length = 0  # of that text
        self._item_end = 0  # in a list: where its last finished item ends (its comma)

    def initial_state(self) -> State:
        return self._opening

    def _opening(self) -> bool:
        """At the start of the output: a bare `[{` list is a call list (blanks before it are markup)."""
        body = self.buf.lstrip()
        after = body[1:].lstrip() if body[:1] == "[" else None
        if not self.eof and (not body or after == ""):
            return False  # blanks, or `[` and blanks: undecided
        if after is not None and after[:1] == "{":
            self.buf = body
            return self.goto(self._open_list)
        return self.goto(self._text)

    def _text(self) -> bool:
        if self.text_until(self.text_markers) is None:
            return False
        return self.goto(self._after_marker)

    def _after_marker(self) -> bool:
        self.skip_ws()
        if not self.more():
            return False
        if self.buf[self.pos] not in "[{":
            self.out.markup_end()  # the marker alone is markup; what follows is text
            return self.goto(self._text)
        self.buf, self.pos = self.buf[self.pos:], 0
        return self.goto(self._open_list)

    def _open_list(self) -> bool:
        self._lexer, self._source, self._length, self._item_end = _Lexer(), [self.buf[0]], 1, 0
        self.buf = self.buf[1:]
        return self.goto(self._in_list)

    def _in_list(self) -> bool:
        """Hold up to the bracket that closes the list, noting where top-level items end."""
        i, event = self._lexer.scan(self.buf, self.eof)
        n = i + (event in (",", ")"))
        self._source.append(self.buf[:n])
        self._length += n
        self.buf = self.buf[n:]
        if event == ",":
            if self._source[0] == "[":
                self._item_end = self._length - 1
            return True
        if event == ")":
            source = "".join(self._source)
            self._emit(_read(source), source)
            self.out.markup_end()
            return self.goto(self._text)
        if self.eof:
            self._cut_off()
        return False

    def _cut_off(self) -> None:
        """The output ended inside the list: its finished items are read, the rest is content."""
        source = "".join(self._source) + self.buf
        self.buf = ""
        if not self._item_end:
            self.out.content(source)
            return
        done = source[:self._item_end]
        self._emit(_read(done + "]"), done)
        self.out.content(source[self._item_end + 1:].lstrip())  # the comma is the list's

    def _emit(self, items: list[_Item] | None, source: str) -> None:
        """The list's calls, or (no item a declared call) its text as content."""
        if items is None or not any(self.accepts(name) for name, _, _ in items):
            self.out.content(source)
            return
        for name, arguments, text in items:
            if self.accepts(name):
                self.out.start(name, dumps(arguments))
            else:
                self.out.content(text)


def _read(source: str) -> list[_Item] | None:
    """The calls in a list (or one dict) of call dicts; None if any item is no call."""
    try:
        node = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    items: list[_Item] = []
    for element in node.elts if isinstance(node, ast.List) else [node]:
        call = _call(element)
        if call is None:
            return None
        items.append((*call, ast.get_source_segment(source, element) or ""))
    return items


def _call(element: ast.expr) -> tuple[str, dict[str, Any]] | None:
    try:
        value = jsonable(ast.literal_eval(element))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    name, arguments = value.get("name"), value.get("arguments", {})
    if not isinstance(name, str) or not name or not isinstance(arguments, dict):
        return None
    return name, arguments
