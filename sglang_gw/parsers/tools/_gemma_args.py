"""Gemma's argument syntax turned into JSON text as it streams.

Gemma 4 and FunctionGemma print a call's arguments in their own notation, not JSON::

    {city:<|"|>Paris<|"|>,days:3,hourly:true,where:{lat:48.8,lon:2.3},tags:[<|"|>a<|"|>]}

Keys are bare (or quoted like strings), strings sit between two quote markers (`<|"|>`;
FunctionGemma's `<escape>`) with no escapes inside, everything else is a bare word: `true`,
`false`, `null`, a number, or (leniently) any other word, kept as a string. `GemmaArgs`
reads that text from a buffer position and writes the same value as JSON (`json.dumps`
spacing), string characters as they arrive, a bare word once it ends. Text that breaks the
syntax ends the value: what is open is closed (a key without its value gets `null`) and
`failed` is set, so the JSON written is always one valid value, or a prefix of one while
the output is still arriving.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._arg_types import Types, convert, streams_as_string
from sglang_gw.parsers.tools._json_args import dumps, escape

__all__ = ["GemmaArgs", "bare_json"]

MAX_WORD = 256  # a key or bare word longer than this is not one
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_WORD_END = re.compile(r"[,}\]]")
_BLANK = " \t\r\n"

KEY, VALUE, STRING, AFTER = "key", "value", "string", "after"


def bare_json(word: str) -> str:
    """A bare word as JSON: the literals and numbers as written, anything else a string."""
    word = word.strip()
    if word in ("true", "false", "null"):
        return word
    if word.lower() in ("none", "nil", "null"):
        return "null"
    return word if _NUMBER.fullmatch(word) else dumps(word)


class GemmaArgs:
    """One call's arguments, from just after its opening `{` (already written as JSON)."""

    __slots__ = ("_counts", "_held", "_member", "_mode", "_quote", "_stack", "_stop", "_strings", "_types", "_wait",
                 "done", "failed")

    def __init__(self, quote: str, stop: str, types: Callable[[str], Types | None] = lambda key: None) -> None:
        self._quote = quote
        # The declared types of a top-level parameter: a quoted value whose schema is not a
        # string (`count:<escape>42<escape>`, as FunctionGemma writes) is typed, not streamed.
        self._types = types
        self._member = ""  # the top-level key whose value is being read
        self._held: list[str] | None = None  # a quoted value being typed: its text so far
        self._stop = stop  # the call's closing marker: never part of a value
        self._strings = Markers((quote, stop))
        self._stack = ["{"]
        self._counts = [0]  # members written per open container
        self._mode = KEY
        self._wait = False  # a mode consumed what it could and needs more text
        self.done = False
        self.failed = False

    def scan(self, buf: str, pos: int, final: bool) -> tuple[str, int]:
        """Read from `pos`; returns (JSON text, the position reading stopped at)."""
        out: list[str] = []
        while not (self.done or self.failed):
            step = getattr(self, "_" + self._mode)(buf, pos, final, out)
            if step is None:
                break
            pos = step
            if self._wait:
                self._wait = False
                break
        return "".join(out), pos

    # -- modes: each returns the new position, or None when it needs more text

    def _key(self, buf: str, pos: int, final: bool, out: list[str]) -> int | None:
        pos = _skip(buf, pos)
        if pos == len(buf):
            return None
        if buf[pos] == "}":
            return self._close("}", pos, out)
        quoted = buf.startswith(self._quote, pos)
        if not quoted and self._quote.startswith(buf[pos:]) and not final:
            return None
        stop = buf.find(self._stop, pos)
        limit = min(len(buf) if stop == -1 else stop, pos + MAX_WORD + 2 * len(self._quote))
        key_end = buf.find(self._quote, pos + len(self._quote), limit) if quoted else buf.find(":", pos, limit)
        if key_end == -1:
            return self._fail(out, pos) if final or stop != -1 or len(buf) - pos > MAX_WORD else None
        key = buf[pos + len(self._quote):key_end] if quoted else buf[pos:key_end].strip()
        after = _skip(buf, key_end + len(self._quote) if quoted else key_end)
        if after == len(buf) and not final:
            return None
        if not key or any(c in key for c in "{}[],\n") or buf[after:after + 1] != ":":
            return self._fail(out, pos)
        out.append(self._separator() + dumps(key) + ": ")
        self._member = key
        self._mode = VALUE
        return after + 1

    def _value(self, buf: str, pos: int, final: bool, out: list[str]) -> int | None:
        pos = _skip(buf, pos)
        if pos == len(buf):
            return self._fail(out, pos) if final else None
        in_array = self._stack[-1] == "["
        if in_array and buf[pos] == "]" and self._counts[-1] == 0:
            return self._close("]", pos, out)  # an empty array
        rest = buf[pos:pos + len(self._stop)]
        if not final and rest != self._quote and (self._quote.startswith(rest) or self._stop.startswith(rest)):
            return None
        if buf.startswith(self._stop, pos):
            return self._fail(out, pos)
        sep = self._separator() if in_array else ""
        if buf.startswith(self._quote, pos):
            types = self._types(self._member) if len(self._stack) == 1 else None
            self._held = [] if types is not None and not streams_as_string(types) else None
            out.append(sep + ('"' if self._held is None else ""))
            self._mode = STRING
            return pos + len(self._quote)
        if buf[pos] in "{[":
            out.append(sep + buf[pos])
            self._stack.append(buf[pos])
            self._counts.append(0)
            self._mode = KEY if buf[pos] == "{" else VALUE
            return pos + 1
        return self._word(buf, pos, final, out, sep)

    def _word(self, buf: str, pos: int, final: bool, out: list[str], sep: str) -> int | None:
        limit = pos + MAX_WORD + 1
        found = _WORD_END.search(buf, pos, limit)
        ends = [i for i in (found.start() if found else -1, buf.find(self._stop, pos, limit)) if i != -1]
        if final:
            ends.append(len(buf))
        if not ends:
            return self._fail(out, pos) if len(buf) - pos > MAX_WORD else None
        end = min(ends)
        if not buf[pos:end].strip():
            return self._fail(out, pos)
        out.append(sep + bare_json(buf[pos:end]))
        self._value_done()
        return end

    def _string(self, buf: str, pos: int, final: bool, out: list[str]) -> int | None:
        at, marker = self._strings.split(buf, pos)
        end = len(buf) if final and marker is None else at
        if self._held is not None:
            self._held.append(buf[pos:end])
        else:
            out.append(escape(buf[pos:end]))
        if marker is None and not final:
            self._wait = True
            return at
        if self._held is not None:  # closed (or cut off): the typed value
            out.append(dumps(convert("".join(self._held), self._types(self._member))))
            self._held = None
        else:
            out.append('"')  # closed, or cut off: a string is closed, the containers are not
        self._value_done()
        if marker == self._stop:  # the call ended inside a string
            return self._fail(out, at)
        return end if marker is None else at + len(marker)

    def _after(self, buf: str, pos: int, final: bool, out: list[str]) -> int | None:
        pos = _skip(buf, pos)
        if pos == len(buf):
            return None
        ch = buf[pos]
        if ch == ",":
            self._mode = KEY if self._stack[-1] == "{" else VALUE
            return pos + 1
        if ch in "}]":
            return self._close(ch, pos, out)
        if self._stack[-1] == "{" and ch not in "{[:":
            self._mode = KEY  # a missing comma between members (vLLM reads it so)
            return pos
        return self._fail(out, pos)

    # -- helpers

    def _separator(self) -> str:
        return ", " if self._counts[-1] else ""

    def _value_done(self) -> None:
        self._counts[-1] += 1
        self._mode = AFTER

    def _close(self, ch: str, pos: int, out: list[str]) -> int:
        if self._stack[-1] != ("{" if ch == "}" else "["):
            return self._fail(out, pos)
        self._stack.pop()
        self._counts.pop()
        out.append(ch)
        if self._stack:
            self._value_done()
        else:
            self.done = True
        return pos + 1

    def _fail(self, out: list[str], pos: int) -> int:
        """The syntax broke at `pos`: end the JSON well (a key's missing value is null)."""
        if self._mode == VALUE and self._stack[-1] == "{":
            out.append("null")
        out.append("".join("}" if c == "{" else "]" for c in reversed(self._stack)))
        self._stack.clear()
        self.failed = True
        return pos


def _skip(buf: str, pos: int) -> int:
    while pos < len(buf) and buf[pos] in _BLANK:
        pos += 1
    return pos
