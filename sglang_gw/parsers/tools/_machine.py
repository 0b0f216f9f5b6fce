"""The one framework every tool parser here is built on.

`MachineParser` keeps the unconsumed text in one buffer and hands it to the current
state (a method returning True to run again, False for more input; `eof` says the
output has ended) until a state needs more input. A state consumes by moving
`pos` (the helpers `until`, `through`, `expect`, `scan`, `skip_ws`, `peek` do) or by
re-slicing `buf` from the front, leaving `pos` at 0; `feed` drops what was consumed
either way. States consume only what they can decide on, so what stays held is a
possible marker prefix (`parsers/_scan.py` finds markers and says how much to hold), an
undecided call head, or nothing: the cost of a feed does not grow with the output.

`Output` collects one feed's result (one delta per call per feed) and owns the
whitespace rule of `text`: whitespace that touches call markup (just before a call
block, between calls, right after one) is part of the markup — the chat templates put
newlines there — so trailing whitespace of content is held until the next non-blank
text (then released) or call markup (then dropped). Formats that place their own
whitespace (the XML family, pythonic, cohere, gpt-oss) use `content`, which passes
text as is.

The parser keeps its state as the function under the method (`step_of`) and calls it
with itself, and so does every state or callback kept for later: a bound method kept on
the parser would point back at it, making each parser a reference cycle that only the
cyclic garbage collector frees (tests/parsers/test_no_cycles.py).

Rules every parser built here follows (docs/parsers.md):
- A call is committed once its name is complete and declared (any name when the
  request declared no tools); from then on its arguments stream as the model's raw
  JSON text, and `finish()` leaves a cut-off call with what was received.
- A call unit (the text from the call's own opening marker, or its `{`, to its end)
  that is not committed — undeclared name, malformed head or JSON before the name,
  output cut before the name was complete — is content, verbatim. Section markers
  (`<|tool_calls_section_begin|>`, `[TOOL_CALLS][`, `<|python_tag|>`, ...) and the
  separators between units are markup once a unit is a call; a block that holds no
  call at all is content, whole (`_section.py` holds a special-token section until its
  first call commits; `pythonic.py` holds a list until it closes).
- Malformed JSON after the commit ends the call with the argument text received up
  to the bad character; the rest of its markup, up to the call's end marker, is
  dropped (formats without end markers: what follows is text again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._json_stream import JsonScanner, skip_ws
from sglang_gw.parsers.tools.base import CallEmitter, ToolParser
from sglang_gw.parsers.types import ToolCallDelta, ToolDelta, ToolSpec

__all__ = ["MAX_HEAD", "MachineParser", "Output", "State", "Step", "accepted", "step_of"]

# A state as its callers name it: a method of the parser (`self._text`).
State = Callable[[], bool]
# A state as the parser keeps it: the function under that method, called with the parser.
Step = Callable[[Any], bool]


def step_of(state: Callable[..., bool]) -> Callable[..., bool]:
    """What to keep of a state, or of another method of the parser kept for later (see the
    module docstring)."""
    return state.__func__  # type: ignore[attr-defined]


def accepted(tools: Mapping[str, ToolSpec], name: str) -> bool:
    """A unit naming `name` is a call: a declared tool, or any name if none was declared."""
    return not tools or name in tools

# A call head (name, id, attributes) longer than this is not markup: give it to content
# rather than hold an unbounded amount of text waiting for a marker.
MAX_HEAD = 256

_BLANK = " \t\r\n"


class Output:
    """One feed's content and call deltas, with the whitespace rule around markup."""

    __slots__ = ("_calls", "_content", "_emitter", "_strip", "_ws")

    def __init__(self, emitter: CallEmitter) -> None:
        self._emitter = emitter
        self._content: list[str] = []
        self._calls: list[ToolCallDelta] = []
        self._ws = ""  # trailing whitespace of content, held
        self._strip = False  # right after markup: leading whitespace is markup too

    def text(self, s: str) -> None:
        if self._strip:
            s = s.lstrip(_BLANK)
            if not s:
                return
            self._strip = False
        body = s.rstrip(_BLANK)
        if not body:
            self._ws += s
            return
        self._content.append(self._ws)
        self._content.append(body)
        self._ws = s[len(body):]

    def plain(self, s: str) -> ToolDelta:
        """`text(s)`, then `take()`: a feed that is all text (`MachineParser.feed`'s shortcut)."""
        if s and s[-1] not in _BLANK and not (self._ws or self._strip or self._content or self._calls):
            return ToolDelta(s)  # nothing held or gathered, nothing to hold: the text as it came
        self.text(s)
        return self.take()

    def content(self, s: str) -> None:
        """Content as is, for formats that decide their own whitespace (no rule applied)."""
        if s:
            if self._ws:
                self._content.append(self._ws)
                self._ws = ""
            self._content.append(s)

    def markup(self) -> None:
        """Call markup starts: the whitespace held before it belongs to it."""
        self._ws = ""

    def markup_end(self) -> None:
        self._strip = True

    def start(self, name: str, arguments: str = "") -> None:
        self._calls.append(self._emitter.start(name, arguments))

    def args(self, fragment: str) -> None:
        if fragment:
            self._calls.append(self._emitter.arguments(fragment))

    def close(self) -> None:
        """End of output: held whitespace not followed by markup is content after all."""
        self._content.append(self._ws)
        self._ws = ""

    def replay(self, delta: ToolDelta) -> None:
        """Add what another `Output` gathered (a block that was held until it was whole)."""
        self.content(delta.content)
        self._calls.extend(delta.calls)

    def take(self) -> ToolDelta:
        calls: list[ToolCallDelta] = []
        for call in self._calls:  # one delta per call per feed: merge argument fragments
            if calls and call.id is None and calls[-1].index == call.index:
                last = calls[-1]
                calls[-1] = ToolCallDelta(last.index, last.id, last.name, last.arguments + call.arguments)
            else:
                calls.append(call)
        result = ToolDelta("".join(self._content), tuple(calls))
        self._content.clear()
        self._calls.clear()
        return result


class MachineParser(ToolParser):
    """A tool parser as a state machine over one buffer (see the module docstring)."""

    # For the shortcut in `feed`: the markers the family's `_text` state looks for, if all
    # that state does with the text before one is `text_until` or `text_then_unit` over
    # them (or `content_until`, with `content_text`); None: no shortcut.
    text_markers: ClassVar[Markers | None] = None
    content_text: ClassVar[bool] = False
    # `passes` answers for `feed` and `taken` as written here; a family that changes
    # either (pythonic) gets the base's False.
    _own_feed: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._own_feed = cls.feed is MachineParser.feed and cls.taken is MachineParser.taken

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self.out = Output(self.emitter)
        self.buf = ""
        self.pos = 0
        self.eof = False
        # The raw text of the call unit being read while it may still turn out not to
        # be a call; `flush` gives it to content if the output ends there.
        self.held: list[str] | None = None
        self.head = ""  # a call head (name, id, attributes) as read so far, for `read_head`
        # For `content_until`: drop the leading whitespace of the next content (after a call).
        self.strip_next = False
        self.state: Step = step_of(self.initial_state())
        self._args_then: Step = self.state
        self._args_scanner = JsonScanner()
        self._args_as_content = False
        self._args_sent = False

    def initial_state(self) -> State:
        raise NotImplementedError

    def accepts(self, name: str) -> bool:
        return accepted(self.tools, name)

    def passes(self, text: str) -> bool:
        """Where `feed`'s text shortcut (below) returns `text` alone and holds nothing: what
        `Output.plain` returns as it came (`content_piece` then `take`, for `content_text`).
        One function, `Output`'s fields read in place: it runs for most pieces of a stream."""
        markers = self.text_markers
        if markers is None or not self._own_feed or self.state is not type(self)._text or self.pos != len(self.buf):
            return False
        out = self.out
        if out._ws or out._content or out._calls:
            return False
        if self.content_text:
            return not self.strip_next and markers.absent_from(text)
        return not out._strip and text[-1:] not in _BLANK and markers.absent_from(text)

    def feed(self, text: str) -> ToolDelta:
        markers = self.text_markers
        if (markers is not None and self.state is type(self)._text and self.pos == len(self.buf)
                and markers.absent_from(text)):
            # In the text state with nothing held, a piece in which no marker can start is
            # all text, as `_text` would find (most tokens of a stream): what `_text` does
            # with it, without the machine's loop and marker search.
            if not self.content_text:
                return self.out.plain(text)
            self.content_piece(text)
            return self.taken()
        self.buf = self.buf[self.pos:] + text
        self.pos = 0
        while self.state(self):
            pass
        return self.taken()

    def finish(self) -> ToolDelta:
        self.eof = True
        while self.state(self):
            pass
        self.flush()
        self.out.close()
        return self.taken()

    def taken(self) -> ToolDelta:
        """What a feed returns: `out`'s gathered content and calls (a parser that gathers
        a held block in another `Output` returns this one's instead; it reads its text with
        `content_until`, as `feed`'s text shortcut returns `out`'s directly)."""
        return self.out.take()

    def flush(self) -> None:
        """End of output inside a state: an undecided call unit is content."""
        self.release_held()

    # -- helpers for states

    def goto(self, state: State) -> bool:
        self.state = step_of(state)
        return True

    def in_state(self, state: State) -> bool:
        return self.state is step_of(state)

    def more(self) -> bool:
        return self.pos < len(self.buf)

    def skip_ws(self) -> str:
        end = skip_ws(self.buf, self.pos)
        skipped = self.buf[self.pos:end]
        self.pos = end
        return skipped

    def peek(self, *, hold: bool = False, skip: str = "", take: str = "") -> str | None:
        """Skip whitespace and any of `skip` (separators that are markup here), holding
        them with `hold` (part of an undecided unit), and look at the next character,
        consuming it if it is one of `take`; None until one comes."""
        start = self.pos
        self.skip_ws()
        while self.more() and self.buf[self.pos] in skip:
            self.pos += 1
            self.skip_ws()
        if hold:
            self.hold(self.buf[start:self.pos])
        if not self.more():
            return None
        c = self.buf[self.pos]
        if c in take:
            self.pos += 1
        return c

    def until(self, markers: Markers) -> tuple[str, str | None]:
        """Consume up to and including the first marker: (text before it, marker). With
        no marker in sight, consume what cannot begin one: (that text, None)."""
        hit = markers.find(self.buf, self.pos)
        if hit is not None:
            at, marker = hit
            text = self.buf[self.pos:at]
            self.pos = at + len(marker)
            return text, marker
        end = len(self.buf) if self.eof else markers.safe_end(self.buf, self.pos)
        text = self.buf[self.pos:end]
        self.pos = end
        return text, None

    def text_until(self, markers: Markers, *, markup: bool = True) -> str | None:
        """Text up to the first marker is content (under `Output`'s whitespace rule); the
        marker, consumed, opens markup. None: no marker yet. With `markup=False` the
        whitespace before the marker stays held: it is markup only if a call follows (the
        caller says so with `out.markup()`), else content."""
        text, marker = self.until(markers)
        self.out.text(text)
        if marker is not None and markup:
            self.out.markup()
        return marker

    def through(self, markers: Markers, end: str, emit: Callable[[str], None] | None = None) -> bool:
        """Read on to the first of `markers`: `end` is consumed, any other is left unread (it
        opens what comes next). The text before it, and `end`, go to `emit` (a unit that is
        content), or are dropped as markup without one. False: no marker yet."""
        text, marker = self.until(markers)
        if emit is not None:
            emit(text)
        if marker is None:
            return False
        if marker != end:
            self.pos -= len(marker)
        elif emit is not None:
            emit(marker)
        return True

    def content_until(self, markers: Markers) -> str | None:
        """For formats that place their own whitespace: `buf` up to the first marker is
        content as is (less its leading whitespace if `strip_next`); the marker is left
        at the front of `buf` for the caller. None: no marker yet."""
        buf = self.buf.lstrip() if self.strip_next else self.buf
        at, marker = markers.split(buf)
        end = at if marker is not None or not self.eof else len(buf)
        if end:
            self.out.content(buf[:end])
            self.strip_next = False
        self.buf = buf[end:]
        return marker

    def content_piece(self, text: str) -> None:
        """What `content_until` does with `text` in an empty buffer, when no marker can
        start in it and the output goes on."""
        if self.strip_next:
            text = text.lstrip()
            if not text:
                return
        self.out.content(text)
        self.strip_next = False

    def text_then_unit(self, markers: Markers, state: State) -> bool:
        """The text state of most formats: text up to the first of `markers` is content (the
        whitespace before the marker is markup only if a call follows); the marker opens
        an undecided unit, read on in `state`."""
        marker = self.text_until(markers, markup=False)
        return marker is not None and self.begin_unit(marker, state)

    def begin_unit(self, marker: str, state: State) -> bool:
        """A call unit opened with `marker`, undecided yet: hold it, and read on in `state`
        (`head` starts empty, for `read_head`)."""
        self.hold(marker)
        self.head = ""
        return self.goto(state)

    def read_head(self, markers: Markers, head_end: str) -> bool | None:
        """Read (and hold) a call head into `head` up to `head_end`: True once complete,
        None while it may go on, False if it is not a head (too long, or another of
        `markers` came first; that marker is left unread)."""
        text, marker = self.until(markers)
        self.hold(text)
        self.head += text
        if len(self.head) > MAX_HEAD:
            return False
        if marker is None:
            return None
        if marker != head_end:
            self.pos -= len(marker)
            return False
        self.hold(marker)
        return True

    def open_call(self, name: str | None) -> bool:
        """The held unit names `name`: a call if declared (its markup is dropped); False
        (still held) if it is no call."""
        if name is None or not self.accepts(name):
            return False
        self.held = None
        self.out.start(name)
        return True

    def read_json_args(self, then: State, *, as_content: bool = False) -> bool:
        """Stream the JSON value that follows as the open call's arguments, raw (or as
        content, for a call that turned out not to be one); a value that ends without a
        character of it gives `{}`. `then` runs when the value ends or breaks."""
        self._args_then, self._args_as_content = step_of(then), as_content
        return self.goto(self._json_args_start)

    def _json_args_start(self) -> bool:
        c = self.peek()
        if c is None:
            return False
        self._args_scanner = JsonScanner()
        self._args_sent = False
        return self.goto(self._json_args)

    def _json_args(self) -> bool:
        piece = self.scan(self._args_scanner)
        if self._args_as_content:
            self.out.text(piece)
        else:
            self.out.args(piece)
            self._args_sent = self._args_sent or bool(piece)
        if not (self._args_scanner.done or self._args_scanner.failed):
            return False
        if not self._args_as_content and not self._args_sent:
            self.out.args("{}")  # the call closed without arguments
        return self._args_then(self)

    def expect(self, literal: str) -> bool | None:
        """Consume `literal` if the text goes on with it; None while it still may."""
        ahead = self.buf[self.pos:self.pos + len(literal)]
        if ahead == literal:
            self.pos += len(literal)
            return True
        return None if literal.startswith(ahead) and not self.eof else False

    def scan(self, scanner: JsonScanner) -> str:
        """Feed the buffer to `scanner`; the raw text it consumed."""
        end = scanner.scan(self.buf, self.pos)
        if end == len(self.buf) and self.eof:
            scanner.close()
        text = self.buf[self.pos:end]
        self.pos = end
        return text

    def hold(self, text: str) -> None:
        if self.held is None:
            self.held = []
        self.held.append(text)

    def release_held(self) -> None:
        """The unit read so far was not a call: its raw text is content."""
        if self.held is not None:
            self.out.text("".join(self.held))
            self.held = None
