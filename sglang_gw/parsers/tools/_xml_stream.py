"""The streaming engine behind every XML-style tool-call format.

A family is one `XmlFormat` row: the markers around a call and its parameters, small
patterns for the call header (up to the tool name) and a parameter key, and how much
whitespace around a value belongs to the format. The engine is a per-choice state
machine on `MachineParser` (each state below is the method of that name, `_text` ...):

    TEXT ──open──▶ [BLOCK ──call_open──▶] HEADER ──name──▶ BODY ──param_open──▶ KEY ──▶ VALUE
      ▲                                      │ undeclared        ▲  └──body_close──▶ TAIL ──▶ TEXT/BLOCK
      └──────────────── RAW ◀────────────────┘                   └──── value_close ──┘

* Content outside calls streams through; only a tail that may still become a marker is
  held. Whitespace right after a call (or block) ends is the format's, not content.
* A call is held from its opening marker until its name is known: a declared name opens
  the call (id and name once, then `{`); an undeclared name makes the whole call, up to
  its closing marker, content as written (RAW); text that does not fit the header at all
  releases the marker as content and is read as text again.
* String values stream as they arrive (escaped, trimmed as the format trims them); typed
  values (see `_arg_types`) wait for their closing marker.
* Lenient forms (per format): a call may open with `bare_open` instead of its wrapper
  (it then ends at body_close), and a value left open is closed by a line that starts
  with the call's end or the next parameter's tag (naming one the call may still take).
* `finish()` closes a value cut short but not the object: a truncated call keeps
  arguments that are not valid JSON, which tells the client it was cut.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._arg_types import convert, param_types, streams_as_string
from sglang_gw.parsers.tools._json_args import ArgsWriter, StringValue, Trim, dumps
from sglang_gw.parsers.tools._machine import MachineParser, State, step_of
from sglang_gw.parsers.types import ToolSpec

__all__ = ["NAME_ATTR", "WS", "Item", "Lit", "Name", "XmlFormat", "XmlToolParser", "match"]

MAX_HEADER = 1024  # a header or key longer than this is not one
MAX_NAME = 256
_NOT_IN_NAME = ("<", ">", "\n")


@dataclass(slots=True, frozen=True)
class Lit:
    text: str


@dataclass(slots=True, frozen=True)
class Name:
    """A name running up to (not including) the first of `stops`; stripped (and, with
    `unquote`, rid of one pair of quotes around it: `name=search` or `name="search"`)."""

    stops: str
    unquote: bool = False


class _Ws:
    __slots__ = ()


WS = _Ws()  # any run of whitespace, possibly empty
Item = Lit | Name | _Ws

# `name="NAME">`, the attribute form of MiniMax-M2's and Step3's call and parameter tags.
NAME_ATTR: tuple[Item, ...] = (WS, Lit("name="), WS, Lit('"'), Name('"'), Lit('"'), WS, Lit(">"))

NEED, OK, BAD = "need", "ok", "bad"


def match(buf: str, pattern: Sequence[Item], final: bool) -> tuple[str, str, int]:
    """Match `pattern` at the start of `buf`: `(OK, name, length)`, `(NEED, "", 0)` when
    `buf` is a prefix of a match, or `(BAD, "", 0)`. With `final`, running out of text
    after the name counts as a match (the output was cut there). The verdict depends only
    on the text, never on how it was split: a longer text never turns BAD into a match."""
    pos, name = 0, ""
    for item in pattern:
        if isinstance(item, _Ws):
            while pos < len(buf) and buf[pos].isspace():
                pos += 1
            if pos > MAX_HEADER:
                return BAD, "", 0
        elif isinstance(item, Lit):
            piece = buf[pos:pos + len(item.text)]
            if piece == item.text:
                pos += len(piece)
            elif len(piece) < len(item.text) and item.text.startswith(piece):
                return (OK, name, len(buf)) if final and name else (NEED, "", 0)
            else:
                return BAD, "", 0
        else:
            stop = _first_of(buf, item.stops, pos)
            end = stop if stop != -1 else len(buf)
            if end - pos > MAX_NAME:  # measured raw, so every split agrees
                return BAD, "", 0
            if stop == -1 and not final:
                return NEED, "", 0
            name = buf[pos:end].strip()
            if item.unquote and len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
                name = name[1:-1].strip()
            if not _good_name(name):
                return BAD, "", 0
            if stop == -1:
                return OK, name, len(buf)
            pos = stop
    return OK, name, pos


def _good_name(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME and not any(c in name for c in _NOT_IN_NAME)


def _first_of(buf: str, chars: str, start: int) -> int:
    found = [i for i in (buf.find(c, start) for c in chars) if i != -1]
    return min(found) if found else -1


@dataclass(slots=True, frozen=True)
class XmlFormat:
    """One XML-style wire format (see the module docstring for the states)."""

    call_open: str            # starts one call
    call_close: str           # ends one call (how far an undeclared call's text runs)
    header: tuple[Item, ...]  # after call_open, up to and including the tool name
    param_open: str
    key: tuple[Item, ...]     # after param_open, up to where the value starts
    value_close: str
    body_close: str           # ends the parameter list
    tail: tuple[str, ...] = ()  # markers expected after body_close (skipped if present)
    block_open: str | None = None   # a wrapper holding several calls
    block_close: str | None = None
    trim: Trim = Trim()
    call_open_alt: tuple[str, ...] = ()  # other spellings of call_open seen in the wild
    # A call written without call_open (Qwen3-Coder's `<function=NAME>` with no `<tool_call>`):
    # the marker it starts with and the header after it. Its raw text runs to body_close.
    bare_open: str | None = None
    bare_header: tuple[Item, ...] = ()
    # A value may be left open: a line that starts with body_close, call_close or param_open
    # (naming a parameter the call may still take) ends it as value_close would.
    implicit_close: bool = False
    # For formats whose models drop a closing marker: markers that also end a value (left
    # for the body to read), and whether a new call's opening marker ends the open call.
    value_ends: tuple[str, ...] = ()
    call_open_ends_call: bool = False

    def call_opens(self) -> list[str]:
        return [self.call_open, *self.call_open_alt]

    def openers(self) -> list[str]:
        """What leaves plain text: the block's marker, or a call's (wrapped or bare)."""
        if self.block_open:
            return [self.block_open]
        return [*self.call_opens(), *([self.bare_open] if self.bare_open else [])]

    def implicit_closers(self) -> list[str]:
        """With `implicit_close`: the line starts that end a value left open."""
        if not self.implicit_close:
            return []
        return ["\n" + m for m in (self.body_close, self.call_close, self.param_open)]

    def value_closers(self) -> list[str]:
        return [self.value_close, *self.value_ends, *self.implicit_closers()]


class XmlToolParser(MachineParser):
    """Base of the XML-style parsers; a subclass sets `fmt` (and `special_markers`).

    Without declared tools every name is accepted and every value is a string."""

    fmt: ClassVar[XmlFormat]
    content_text = True
    # The marker sets each state looks for, built once per format (`__init_subclass__`).
    text_markers: ClassVar[Markers]
    _block_markers: ClassVar[Markers]
    _raw_markers: ClassVar[Markers]
    _bare_raw_markers: ClassVar[Markers]
    _body_markers: ClassVar[Markers]
    _value_markers: ClassVar[Markers]
    _implicit: ClassVar[frozenset[str]]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "fmt" in cls.__dict__:
            fmt = cls.fmt
            block_close = [fmt.block_close] if fmt.block_close else []
            cls.text_markers = Markers(fmt.openers())
            cls._block_markers = Markers(fmt.call_opens() + block_close)
            call_ends = fmt.call_opens() if fmt.call_open_ends_call else []
            cls._raw_markers = Markers((fmt.call_close, *call_ends))
            cls._bare_raw_markers = Markers((fmt.body_close,))
            cls._body_markers = Markers([fmt.param_open, fmt.body_close, fmt.call_close, *block_close, *call_ends])
            cls._value_markers = Markers(fmt.value_closers())
            cls._implicit = frozenset(fmt.implicit_closers())
            cls.call_starts = tuple(fmt.openers())
            cls.call_ends = ((fmt.block_close,) if fmt.block_close else
                             (fmt.call_close, *((fmt.body_close,) if fmt.bare_open else ())))

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self._spec: ToolSpec | None = None
        self._writer = ArgsWriter()
        self._types: frozenset[str] | None = None
        self._string: StringValue | None = None
        self._typed: list[str] = []
        self._tail: list[str] = []
        self._in_block = False
        self._opener = self.fmt.call_open  # the call marker as written (for RAW content)
        self._bare = False  # the call opened with `bare_open`
        self._given: set[str] = set()  # the current call's parameter names so far

    def initial_state(self) -> State:
        return self._text

    # -- text outside calls -------------------------------------------------------------

    def _text(self) -> bool:
        return self._plain(self.text_markers, self._opened)

    def _block(self) -> bool:
        return self._plain(self._block_markers, self._block_marker)

    def _plain(self, markers: Markers, on_marker: Callable[[str], None]) -> bool:
        """Text up to the first of `markers` is content (after a call, minus leading
        whitespace); the marker goes to `on_marker`."""
        marker = self.content_until(markers)
        if marker is None:
            return False
        self.buf = self.buf[len(marker):]
        on_marker(marker)
        return True

    def _opened(self, marker: str) -> None:
        if self.fmt.block_open is not None:
            self.state, self._in_block, self.strip_next = step_of(self._block), True, True
        else:
            self.state, self._opener, self._bare = step_of(self._header), marker, marker == self.fmt.bare_open

    def _block_marker(self, marker: str) -> None:
        if marker != self.fmt.block_close:
            self.state, self._opener, self._bare = step_of(self._header), marker, False
        else:
            self.state, self._in_block, self.strip_next = step_of(self._text), False, True

    # -- a call's header ----------------------------------------------------------------

    def _header(self) -> bool:
        final = self.eof
        status, name, n = match(self.buf, self.fmt.bare_header if self._bare else self.fmt.header, final)
        if status == NEED:
            if not final:
                return False
            status = BAD
        if status == BAD:
            # Not a call at all: the marker was text; read on as text.
            self.out.content(self._opener)
            self.state, self.strip_next = step_of(self._block if self._in_block else self._text), False
            return True
        raw, self.buf = self.buf[:n], self.buf[n:]
        if not self.accepts(name):
            self.out.content(self._opener + raw)
            self.state = step_of(self._raw)
            return True
        self._spec, self._writer, self._given = self.tools.get(name), ArgsWriter(), set()
        self.out.start(name, self._writer.open())
        self.state = step_of(self._body)
        return True

    def _raw(self) -> bool:
        final = self.eof
        at, marker = (self._bare_raw_markers if self._bare else self._raw_markers).split(self.buf)
        # The call's own end is its text; a new call's opening (call_open_ends_call) is not.
        own_end = self.fmt.body_close if self._bare else self.fmt.call_close
        end = at + len(marker) if marker == own_end else (at if marker or not final else len(self.buf))
        self.out.content(self.buf[:end])
        self.buf = self.buf[end:]
        if marker is None:
            return False
        self.state, self.strip_next = step_of(self._block if self._in_block else self._text), self._in_block
        return True

    # -- a call's parameters ------------------------------------------------------------

    def _body(self) -> bool:
        final = self.eof
        fmt = self.fmt
        at, marker = self._body_markers.split(self.buf)
        if marker is None:  # stray text inside a call is the format's, not content
            self.buf = "" if final else self.buf[at:]
            return False
        if fmt.call_open_ends_call and marker in fmt.call_opens():  # the close was dropped
            self.buf = self.buf[at:]
            self.out.args(self._writer.close())
            self._after_call()
            return True
        self.buf = self.buf[at + len(marker):]
        if marker == fmt.param_open:
            self.state = step_of(self._key)
            return True
        self.out.args(self._writer.close())
        if marker == fmt.body_close:
            self._tail, self.state = list(fmt.tail), step_of(self._tail_step)
        elif marker == fmt.call_close:
            self._after_call()
        else:
            self.state, self._in_block, self.strip_next = step_of(self._text), False, True
        return True

    def _key(self) -> bool:
        final = self.eof
        status, name, n = (BAD, "", 0) if final else match(self.buf, self.fmt.key, False)
        if status == NEED:
            return False
        self.state = step_of(self._body)
        if status != OK:
            return not final  # a broken parameter is skipped (cut short: dropped)
        self.buf = self.buf[n:]
        self._given.add(name)
        self.out.args(self._writer.key(name))
        self._types = param_types(self._spec, name)
        if streams_as_string(self._types):
            self._string = StringValue(self.fmt.trim, nullable=bool(self._types and "null" in self._types))
        else:
            self._string, self._typed = None, []
        self.state = step_of(self._value)
        return True

    def _value(self) -> bool:
        final = self.eof
        at, marker = self._value_markers.split(self.buf)
        if marker in self._implicit:
            return self._implicit_end(at, marker, final)
        self._value_text(self.buf[:at])
        if marker is None and not final:
            self.buf = self.buf[at:]
            return False
        # The value's own close is consumed; another marker ending it is the body's to read.
        self.buf = self.buf[at + (len(marker) if marker == self.fmt.value_close else 0):] if marker else ""
        self.out.args(self._end_value())
        self.state = step_of(self._body)
        return marker is not None

    def _implicit_end(self, at: int, marker: str, final: bool) -> bool:
        """A closer other than value_close, on its own line: the call's end closes the value
        (the marker is left for `_body`); so does `\n<parameter=NAME>` if NAME is one the call
        may still take, else it is the value's own text. Markup in the middle of a line is
        always the value's (code that quotes the format)."""
        if marker.endswith(self.fmt.param_open):
            starts = self._starts_param(at + len(marker), final)
            if starts is None:  # the name is not complete yet
                self._value_text(self.buf[:at])
                self.buf = self.buf[at:]
                return False
            if not starts:
                self._value_text(self.buf[:at + len(marker)])
                self.buf = self.buf[at + len(marker):]
                return True
        at += 1  # the newline is the value's, trimmed as the one before value_close is
        self._value_text(self.buf[:at])
        self.buf = self.buf[at:]
        self.out.args(self._end_value())
        self.state = step_of(self._body)
        return True

    def _starts_param(self, start: int, final: bool) -> bool | None:
        """Does the key at `start` name a parameter not given yet, declared if the tool
        declares any? None while the key may still go on."""
        status, name, _ = match(self.buf[start:], self.fmt.key, final)
        if status == NEED:
            return None
        if status == BAD or name in self._given:
            return False
        props = self._spec.parameters.get("properties") if self._spec is not None else None
        return not isinstance(props, Mapping) or not props or name in props

    def _value_text(self, piece: str) -> None:
        if self._string is not None:
            self.out.args(self._string.feed(piece))
        else:
            self._typed.append(piece)

    def _end_value(self) -> str:
        if self._string is not None:
            return self._string.end()
        raw = self.fmt.trim.apply("".join(self._typed))
        return dumps(convert(raw, self._types))

    def _tail_step(self) -> bool:
        final = self.eof
        while self._tail:
            rest = self.buf.lstrip()
            marker = self._tail[0]
            if rest.startswith(marker):
                self.buf = rest[len(marker):]
                self._tail.pop(0)
            elif marker.startswith(rest) and not final:
                return False
            else:
                break
        self._tail = []
        self._after_call()
        return True

    def _after_call(self) -> None:
        self.state, self.strip_next = step_of(self._block if self._in_block else self._text), True
