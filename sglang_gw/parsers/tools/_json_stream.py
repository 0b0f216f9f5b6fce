"""Incremental JSON scanning: where one JSON value ends, found without re-parsing.

`JsonScanner` follows the JSON grammar (RFC 8259) over text that arrives piece by
piece, with a stack of open containers and the string/escape state. It never builds
the value: a parser streams the raw text it was given and asks the scanner only two
things — has the value ended (`done`), or has a character arrived that cannot belong
to it (`failed`, with the scan stopped *at* that character). The verdicts depend only
on the characters, never on how they were split, which is what keeps streamed and
whole-text parses identical.

Runs of string characters, whitespace and number characters are skipped with one
regex match each, so long argument strings cost little Python per character.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["JsonScanner", "skip_ws"]

_WS = re.compile(r"[ \t\n\r]*")
_STRING_RUN = re.compile(r'[^"\\\x00-\x1f]*')
_NUMBER_RUN = re.compile(r"[-+.eE0-9]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPES = frozenset('"\\/bfnrtu')
_LITERALS = ("true", "false", "null")

# Scanner states (small ints index the step table).
_VALUE, _VALUE_OR_CLOSE, _KEY, _KEY_OR_CLOSE, _COLON, _AFTER = range(6)
_STRING, _ESCAPE, _UNICODE, _NUMBER_TOKEN, _LITERAL = range(6, 11)
_DONE, _FAILED = 11, 12


def _run_end(run: re.Pattern[str], text: str, pos: int) -> int:
    """Where a run of `run`'s characters starting at `pos` ends (its pattern is `[...]*`)."""
    found = run.match(text, pos)
    return found.end() if found else pos


def skip_ws(text: str, pos: int) -> int:
    """The index of the first non-JSON-whitespace character at or after `pos`."""
    return _run_end(_WS, text, pos)


class JsonScanner:
    """Scans one JSON value. `scan(text, pos)` consumes from `pos` and returns where it
    stopped: the end of `text`, just past the value's last character (`done`), or at
    the first character that cannot continue the value (`failed`; not consumed).

    A top-level number only ends at the next character (or `close()` at end of output);
    containers, strings and literals end on their own last character.
    """

    __slots__ = ("_hex", "_is_key", "_stack", "_state", "_token")

    def __init__(self) -> None:
        self._state = _VALUE
        self._stack: list[str] = []  # the closers of open containers
        self._is_key = False
        self._token = ""  # the number or literal being read
        self._hex = 0

    @property
    def done(self) -> bool:
        return self._state == _DONE

    @property
    def failed(self) -> bool:
        return self._state == _FAILED

    def scan(self, text: str, pos: int = 0) -> int:
        end = len(text)
        steps = _STEPS
        while pos < end and self._state < _DONE:
            if self._state <= _AFTER:  # between tokens: whitespace first
                pos = _run_end(_WS, text, pos)
                if pos == end:
                    break
            pos = steps[self._state](self, text, pos)
        return pos

    def close(self) -> bool:
        """End of output: a pending top-level number is complete if well formed."""
        if self._state == _NUMBER_TOKEN and not self._stack:
            self._state = _DONE if _NUMBER.fullmatch(self._token) else _FAILED
        return self.done

    # -- grammar steps: each consumes one token (or a run) and returns the new position;
    # the steps between tokens (`_VALUE` to `_AFTER`) start at a non-whitespace character

    def _fail(self, pos: int) -> int:
        self._state = _FAILED
        return pos

    def _end_value(self) -> None:
        self._state = _AFTER if self._stack else _DONE

    def _value(self, text: str, pos: int) -> int:
        c = text[pos]
        if c == "{":
            self._stack.append("}")
            self._state = _KEY_OR_CLOSE
        elif c == "[":
            self._stack.append("]")
            self._state = _VALUE_OR_CLOSE
        elif c == '"':
            self._is_key = False
            self._state = _STRING
        elif c in "-0123456789":
            self._token = ""
            self._state = _NUMBER_TOKEN
            return pos  # the number step reads it
        elif c in "tfn":
            self._token = ""
            self._state = _LITERAL
            return pos
        else:
            return self._fail(pos)
        return pos + 1

    def _value_or_close(self, text: str, pos: int) -> int:
        return self._close_or(text, pos, "]", _VALUE)

    def _key_or_close(self, text: str, pos: int) -> int:
        return self._close_or(text, pos, "}", _KEY)

    def _close_or(self, text: str, pos: int, closer: str, state: int) -> int:
        """Right after `[` or `{`: its `closer` (the container is empty), else on to `state`."""
        if text[pos] == closer:
            return self._close(pos)
        self._state = state
        return pos

    def _key(self, text: str, pos: int) -> int:
        self._is_key = True  # the string this opens is a key
        return self._expect(text, pos, '"', _STRING)

    def _colon(self, text: str, pos: int) -> int:
        return self._expect(text, pos, ":", _VALUE)

    def _expect(self, text: str, pos: int, char: str, state: int) -> int:
        """`char` and nothing else: consumed, on to `state`."""
        if text[pos] != char:
            return self._fail(pos)
        self._state = state
        return pos + 1

    def _after(self, text: str, pos: int) -> int:
        c = text[pos]
        if c == ",":
            self._state = _KEY if self._stack[-1] == "}" else _VALUE
            return pos + 1
        if c == self._stack[-1]:
            return self._close(pos)
        return self._fail(pos)

    def _close(self, pos: int) -> int:
        self._stack.pop()
        self._end_value()
        return pos + 1

    def _string(self, text: str, pos: int) -> int:
        pos = _run_end(_STRING_RUN, text, pos)
        if pos == len(text):
            return pos
        c = text[pos]
        if c == '"':
            if self._is_key:
                self._state = _COLON
            else:
                self._end_value()
        elif c == "\\":
            self._state = _ESCAPE
        else:  # a raw control character
            return self._fail(pos)
        return pos + 1

    def _escape(self, text: str, pos: int) -> int:
        c = text[pos]
        if c not in _ESCAPES:
            return self._fail(pos)
        if c == "u":
            self._hex = 0
            self._state = _UNICODE
        else:
            self._state = _STRING
        return pos + 1

    def _unicode(self, text: str, pos: int) -> int:
        if text[pos] not in _HEX:
            return self._fail(pos)
        self._hex += 1
        if self._hex == 4:
            self._state = _STRING
        return pos + 1

    def _number(self, text: str, pos: int) -> int:
        end = _run_end(_NUMBER_RUN, text, pos)
        self._token += text[pos:end]
        if end == len(text):
            return end  # the number may go on in the next piece
        if not _NUMBER.fullmatch(self._token):
            return self._fail(end)
        self._end_value()
        return end

    def _literal(self, text: str, pos: int) -> int:
        token = self._token + text[pos]
        if not any(lit.startswith(token) for lit in _LITERALS):
            return self._fail(pos)
        self._token = token
        if token in _LITERALS:
            self._end_value()
        return pos + 1


_STEPS: tuple[Callable[[JsonScanner, str, int], int], ...] = (
    JsonScanner._value, JsonScanner._value_or_close, JsonScanner._key, JsonScanner._key_or_close,
    JsonScanner._colon, JsonScanner._after, JsonScanner._string, JsonScanner._escape,
    JsonScanner._unicode, JsonScanner._number, JsonScanner._literal,
)
