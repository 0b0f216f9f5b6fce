"""Pythonic tool calls (Llama 3.2 / 3.3 / 4 pythonic templates, some fine-tunes)::

    [get_weather(city="Paris", unit="c"), search(query="umbrella", limit=3)]

Llama 4 may wrap the list in `<|python_start|>` … `<|python_end|>` (dropped).

* A list is a call list only if it opens with `[name(` and `name` is a declared tool (any
  name when no tools are declared); otherwise `[` is text (so `[1, 2]` stays content).
* Calls stream one keyword argument at a time: a lexer follows strings and brackets, and
  each complete `key=value` is read with `ast` (`literal_eval`: `True`, `None`, tuples…;
  failing that JSON, so `true`/`null` work; failing that the value's source text as a
  string). Positional arguments have no name and are skipped.
* A later call in the list to an undeclared tool is content (its source text); the commas
  and brackets of the list never are.
* A call list is held until it closes, then sent whole: calls (and the source of
  undeclared ones) if every call in it reads, else the list's text as content, whole and
  in order. A call reads if each argument is Python (`ast`), so `[f(a=1), g(b=)]` or
  `[f(a=1) + 1]` is content, never a call with a garbage value. Calls therefore arrive
  when the list's `]` does, not argument by argument.
* Cut short, the list is sent as far as it came (if nothing in it was broken): the argument
  being written is read as if its string were closed; the object is left open.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._arg_types import jsonable, loads_strict
from sglang_gw.parsers.tools._json_args import ArgsWriter, dumps
from sglang_gw.parsers.tools._machine import MachineParser, Output, State, step_of
from sglang_gw.parsers.types import ToolDelta, ToolSpec

__all__ = ["PythonicToolParser"]

_START, _END = "<|python_start|>", "<|python_end|>"
_TEXT = Markers(("[", _START, _END))
_HEAD = re.compile(r"\s*([A-Za-z_][\w.]*)\s*\(")
_MAYBE_HEAD = re.compile(r"\s*(?:[A-Za-z_][\w.]*\s*)?")
_MAX_HEAD = 256
_KWARG = re.compile(r"\s*([A-Za-z_]\w*)\s*=(.*)", re.DOTALL)


class _Lexer:
    """Python-source bracket and string tracking, fed piece by piece."""

    __slots__ = ("depth", "quote", "escape")

    def __init__(self) -> None:
        self.depth = 0
        self.quote = ""
        self.escape = False

    def scan(self, buf: str, final: bool) -> tuple[int, str]:
        """Walk `buf`: `(i, event)` where event is "," (an argument ends at i), ")" (the
        call ends at i), "hold" (stop at i, a quote may be a triple one) or "" (all read)."""
        i, n = 0, len(buf)
        while i < n:
            c = buf[i]
            if self.quote:
                if not final and not self.escape and len(self.quote) == 3 and n - i < 3 \
                        and self.quote.startswith(buf[i:]):
                    return i, "hold"  # maybe the closing `"""`
                i = self._in_string(buf, i)
                continue
            if c in "\"'":
                if not final and n - i < 3 and buf[i:] == c * (n - i):
                    return i, "hold"  # `"` or `""` at the end: maybe `"""`
                self.quote = c * 3 if buf.startswith(c * 3, i) else c
                i += len(self.quote)
                continue
            if c in "([{":
                self.depth += 1
            elif c in ")]}":
                if self.depth == 0:
                    return i, ")"
                self.depth -= 1
            elif c == "," and self.depth == 0:
                return i, ","
            i += 1
        return n, ""

    def _in_string(self, buf: str, i: int) -> int:
        c = buf[i]
        if self.escape:
            self.escape = False
        elif c == "\\":
            self.escape = True
        elif buf.startswith(self.quote, i):
            i += len(self.quote) - 1
            self.quote = ""
        return i + 1


class PythonicToolParser(MachineParser):
    """A family writing the same calls in another list syntax sets the class attributes
    below (`olmo3.py`: a tag pair around calls one per line)."""

    special_markers: ClassVar[tuple[str, ...]] = (_START, _END)
    list_open: ClassVar[str] = "["
    list_close: ClassVar[str] = "]"
    # Markers that leave plain text: `list_open`, and others dropped where they stand.
    text_markers: ClassVar[Markers] = _TEXT
    content_text = True
    # Whether whitespace alone (a newline) separates calls, as a comma does.
    calls_by_whitespace: ClassVar[bool] = False

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self._lexer = _Lexer()
        self._segment: list[str] = []
        self._writer = ArgsWriter()
        self._text_out = self.out  # where content outside call lists goes
        self._list_raw: list[str] | None = None  # the held list's source, while one is open
        self._broken = False  # an argument in the held list does not read
        self._calls_before = 0  # calls numbered before the held list

    def feed(self, text: str) -> ToolDelta:
        if self._list_raw is not None:
            self._list_raw.append(text)
        return super().feed(text)

    def taken(self) -> ToolDelta:
        return self._text_out.take()  # never the held list's

    def flush(self) -> None:
        if self._list_raw is not None:  # cut off inside a list: as far as it came
            self._end_list(not self._broken, len(self.buf))
        super().flush()

    # -- holding a list until it closes ---------------------------------------------------

    def _begin_list(self) -> None:
        """`[` and a declared call opened a list (`buf` holds what follows the `[`)."""
        self._list_raw = [self.list_open, self.buf]
        self._broken = False
        self._calls_before = self.emitter.count
        self.out = Output(self.emitter)

    def _end_list(self, ok: bool, unread: int) -> None:
        """The list ended, `unread` characters before the end of the source fed so far:
        send its calls, or (`ok` false) its whole text as content."""
        source = "".join(self._list_raw or ())
        held, self.out, self._list_raw = self.out.take(), self._text_out, None
        if ok:
            self.out.replay(held)
            return
        self.emitter.count = self._calls_before  # the held calls were never sent
        self.out.content(source[:len(source) - unread])

    # -- text and the start of a list ---------------------------------------------------

    def initial_state(self) -> State:
        return self._text

    def _text(self) -> bool:
        marker = self.content_until(self.text_markers)
        if marker is None:
            return False
        self.buf = self.buf[len(marker):]
        if marker == self.list_open:
            self.state = step_of(self._probe)
        return True

    def _head(self, final: bool) -> tuple[str, str, int]:
        """("ok", name, length) | ("need", "", 0) | ("bad", "", 0) for `name(` at the start."""
        m = _HEAD.match(self.buf)
        if m and m.end() <= _MAX_HEAD:
            return "ok", m.group(1), m.end()
        if not final and not m and len(self.buf) <= _MAX_HEAD and _MAYBE_HEAD.fullmatch(self.buf):
            return "need", "", 0
        return "bad", "", 0

    def _probe(self) -> bool:
        final = self.eof
        status, name, n = self._head(final)
        if status == "need":
            return False
        if status == "bad" or not self.accepts(name):
            self.out.content(self.list_open)  # a list, not a call list: text again
            self.state, self.strip_next = step_of(self._text), False
            return True
        self._begin_list()
        self._open_call(name, n)
        return True

    def _open_call(self, name: str, n: int) -> None:
        self.buf = self.buf[n:]
        self._writer, self._lexer, self._segment = ArgsWriter(), _Lexer(), []
        self.out.start(name, self._writer.open())
        self.state = step_of(self._args)

    # -- inside a call --------------------------------------------------------------------

    def _args(self) -> bool:
        final = self.eof
        i, event = self._lexer.scan(self.buf, final)
        self._segment.append(self.buf[:i])
        if event in ("", "hold"):
            self.buf = self.buf[i:]
            if final:
                self._emit_argument(self._cut_segment(), cut=True)
            return False
        self.buf = self.buf[i + 1:]
        self._emit_argument("".join(self._segment), cut=False)
        self._segment = []
        if event == ")":
            self.out.args(self._writer.close())
            self.state = step_of(self._after)
        return True

    def _cut_segment(self) -> str:
        """The argument cut short, its open string closed so it can still be read."""
        text = "".join(self._segment) + self.buf
        return text + self._lexer.quote if self._lexer.quote and not self._lexer.escape else text

    def _emit_argument(self, source: str, *, cut: bool) -> None:
        try:
            parsed = _keyword(source, cut=cut)
        except _Unreadable:
            self._broken = True
            return
        if parsed is not None:
            value = parsed[1]
            self.out.args(self._writer.key(parsed[0]) + (value.text if isinstance(value, _Verbatim) else dumps(value)))

    def _skip(self) -> bool:
        """An undeclared call inside a list: its source is content."""
        final = self.eof
        while True:
            i, event = self._lexer.scan(self.buf, final)
            if event != ",":
                break
            self.out.content(self.buf[:i + 1])
            self.buf = self.buf[i + 1:]
        end = i + 1 if event == ")" else (len(self.buf) if final else i)
        self.out.content(self.buf[:end])
        self.buf = self.buf[end:]
        if event == ")":
            self.state = step_of(self._after)
            return True
        return False

    # -- between calls ------------------------------------------------------------------

    def _after(self) -> bool:
        final = self.eof
        rest = self.buf.lstrip()
        if not rest and not final:
            self.buf = ""
            return False
        close = self.list_close
        if not rest or rest.startswith(close) or close.startswith(rest):  # closed, or cut off here
            if not rest.startswith(close) and not final:
                self.buf = rest  # maybe the closing marker
                return False
            self.buf, ok = rest[len(close):] if rest.startswith(close) else "", not self._broken
            self._end_list(ok, len(self.buf))
            self.state, self.strip_next = step_of(self._text), ok  # a list sent as content keeps what follows
            return True
        if rest[:1] == ",":
            self.buf, self.state = rest[1:], step_of(self._next)
            return True
        if self.calls_by_whitespace:
            self.buf, self.state = rest, step_of(self._next)
            return True
        return self._broken_list()

    def _broken_list(self) -> bool:
        """Something that is no call sits in the list: the list so far is content."""
        self._end_list(False, len(self.buf))
        self.state, self.strip_next = step_of(self._text), False
        return True

    def _next(self) -> bool:
        final = self.eof
        status, name, n = self._head(final)
        if status == "need":
            return False
        if status == "ok" and self.accepts(name):
            self._open_call(name, n)
        elif status == "ok":
            self.out.content(self.buf[:n].lstrip())
            self.buf, self._lexer, self.state = self.buf[n:], _Lexer(), step_of(self._skip)
        elif final and _MAYBE_HEAD.fullmatch(self.buf):  # cut off after a comma
            self._end_list(not self._broken, len(self.buf))
            self.state, self.strip_next = step_of(self._text), True
        else:
            return self._broken_list()
        return True


class _Unreadable(Exception):
    """An argument that is not Python: its call list is content."""


def _keyword(source: str, *, cut: bool) -> tuple[str, Any] | None:
    """`key=value` as (key, JSON value); None for a positional argument. Not Python:
    `_Unreadable`, unless `cut` (the output ended inside it: read `key=text` leniently)."""
    if not source.strip():
        return None
    try:
        call = ast.parse(f"_({source})", mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        if not cut:
            raise _Unreadable from None
        m = _KWARG.fullmatch(source)
        return (m.group(1), m.group(2).strip()) if m else None
    if not isinstance(call, ast.Call) or len(call.keywords) != 1 or call.args:
        return None
    keyword = call.keywords[0]
    if keyword.arg is None:  # `**mapping`
        return None
    raw = source.split("=", 1)[1].strip()
    return keyword.arg, _literal(keyword.value, raw)


class _Verbatim:
    """A value whose source is valid JSON text that Python cannot round-trip (`1e999` is a
    JSON number; `json.dumps(float("inf"))` would write `Infinity`, which is not JSON)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _literal(node: ast.expr, raw: str) -> Any:
    try:
        return jsonable(ast.literal_eval(node))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    try:
        value = loads_strict(raw)
    except ValueError:
        return raw
    try:
        return jsonable(value)
    except TypeError:
        return _Verbatim(raw)
