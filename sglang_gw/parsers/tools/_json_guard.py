"""The guard that keeps every emitted `arguments` string valid JSON.

Parsers stream a call's arguments as the model wrote them, so a call cut short (by
`max_tokens`) or broken after its name was committed would end as a JSON prefix, and a
model may write what JSON does not allow. Streamed fragments cannot be taken back; what
can be done is to pass on only what keeps the text a JSON prefix and to end it well.
`ArgumentsGuard.admit` reads each call's fragments as they pass: a control character
inside a string is escaped (`\\n`), and a fragment is cut at the first character no JSON
value can continue with (Python's `NaN`/`Infinity`, a bare word, a second value); the
rest of that call's arguments is dropped. When the output ends, `close` sends the shortest
suffix that completes the prefix (close the string, finish `tru`/`1e`, put `null` where a
value was due, close the brackets) as the call's last fragment, so the streamed and the
whole response get the same, valid, arguments. `completion` gives that suffix for a text.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re

from sglang_gw.parsers.types import ToolCallDelta

__all__ = ["ArgumentsGuard", "completion"]

log = logging.getLogger(__name__)

_LITERALS = ("true", "false", "null")
_NUMBER_PREFIX = re.compile(r"-?(0|[1-9][0-9]*)?(\.[0-9]*)?([eE][+-]?[0-9]*)?")
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_HEX = frozenset("0123456789abcdefABCDEF")
_PLAIN = re.compile(r'[^"\\\x00-\x1f]+')  # string characters that need no attention


def completion(prefix: str) -> str | None:
    """The suffix that makes `prefix` one valid JSON value ("" if it is one; `{}` for
    nothing at all), or None if no suffix can (text that is not JSON)."""
    state = _Prefix()
    if state.feed(prefix) != prefix:
        return None
    return state.completion()


def _valid(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_reject)  # NaN/Infinity are Python's, not JSON
    except ValueError:
        return False
    return True


def _reject(name: str) -> None:
    raise ValueError(name)


def _token_ok(token: str, *, complete: bool) -> bool:
    """A literal or number token so far (`complete`: and it ends here)."""
    if token[0] in "tfn":
        return token in _LITERALS if complete else any(w.startswith(token) for w in _LITERALS)
    return (_NUMBER if complete else _NUMBER_PREFIX).fullmatch(token) is not None


class _Prefix:
    """One JSON value read a piece at a time (a small automaton): what of each piece keeps
    the text a prefix of a JSON value, and the suffix that would complete it."""

    __slots__ = ("broken", "comma", "esc", "in_str", "is_key", "seen", "stack", "text", "token", "uni", "want")

    def __init__(self) -> None:
        self.stack: list[str] = []  # "{" or "["
        self.want = "value"  # value | key | colon | comma | done
        self.in_str = self.is_key = self.esc = self.comma = self.seen = self.broken = False
        self.uni = -1  # hex digits still due in a \\u escape
        self.token = ""  # a literal or number being read
        self.text = ""  # everything accepted so far

    def feed(self, text: str) -> str:
        """Read `text`; what of it keeps this a JSON prefix (control characters inside a
        string escaped). Shorter than `text` once it stops being JSON, "" after that."""
        if self.broken:
            return ""
        kept = []
        i, n = 0, len(text)
        while i < n:
            plain = self.in_str and not self.esc and self.uni <= 0
            if plain and (run := _PLAIN.match(text, i)) is not None:
                kept.append(run.group())  # most of a value's text: taken in one step
                i = run.end()
                continue
            ch = text[i]
            i += 1
            if plain and ch < " ":
                kept.append(json.dumps(ch)[1:-1])  # a raw newline or tab in a string: escaped
            elif self._step(ch):
                kept.append(ch)
            else:
                self.broken = True
                break
        out = "".join(kept)
        self.text += out
        return out

    def _step(self, ch: str) -> bool:  # noqa: C901, PLR0911, PLR0912 - one step of a small JSON automaton
        if self.in_str:
            return self._string_char(ch)
        if self.token:
            if ch.isascii() and (ch.isalnum() or ch in "+-."):
                if not _token_ok(self.token + ch, complete=False):
                    return False
                self.token += ch
                return True
            if not _token_ok(self.token, complete=True):
                return False
            self.token, self.want = "", "comma"
            self._value_done()
        if ch in " \t\r\n":
            return True
        self.seen = True
        if ch == '"' and self.want in ("value", "key"):
            self.in_str, self.is_key, self.comma = True, self.want == "key", False
        elif ch in "{[" and self.want == "value":
            self.stack.append(ch)
            self.want, self.comma = ("key" if ch == "{" else "value"), False
        elif ch in "}]" and self.stack and self.stack[-1] == ("{" if ch == "}" else "[") \
                and not self.comma and self.want in ("comma", "key", "value"):
            self.stack.pop()
            self.want = "comma"
            self._value_done()
        elif ch == ":" and self.want == "colon":
            self.want = "value"
        elif ch == "," and self.want == "comma" and self.stack:
            self.want, self.comma = ("key" if self.stack[-1] == "{" else "value"), True
        elif self.want == "value" and ch in "tfn-0123456789":
            self.token, self.comma = ch, False
        else:
            return False
        return True

    def _string_char(self, ch: str) -> bool:
        if self.uni > 0:
            if ch not in _HEX:
                return False
            self.uni -= 1
        elif self.esc:
            if ch not in '"\\/bfnrtu':
                return False
            self.esc, self.uni = False, (4 if ch == "u" else -1)
        elif ch == "\\":
            self.esc = True
        elif ch == '"':
            self.in_str = False
            self.want = "colon" if self.is_key else "comma"
            self._value_done()
        return True

    def _value_done(self) -> None:
        if self.want == "comma" and not self.stack:
            self.want = "done"

    def completion(self) -> str | None:
        """The shortest suffix that makes what was read one valid JSON value."""
        if not self.seen:
            return "{}"
        out, want = "", self.want
        if self.in_str:
            out += ("0" * self.uni if self.uni > 0 else "\\" if self.esc else "") + '"'
            want = "colon" if self.is_key else "comma"
        elif self.token:
            word = next((w for w in _LITERALS if w.startswith(self.token)), None)
            out += word[len(self.token):] if word is not None else ("0" if self.token[-1] in "+-.eE" else "")
            want = "comma"
        if want == "colon":
            out += ":null"
        elif want == "value" and self.stack:
            out += "null"
        elif want == "key" and self.comma:
            out += '"":null'
        out += "".join("}" if c == "{" else "]" for c in reversed(self.stack))
        return out if _valid(self.text + out) else None


class ArgumentsGuard:
    """Reads the calls of one choice as they pass: `admit` keeps each call's arguments a
    JSON prefix, `close` gives the fragments that end them as valid JSON (a warning is
    logged for each repair)."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, _Prefix] = {}

    def admit(self, calls: list[ToolCallDelta]) -> list[ToolCallDelta]:
        out = []
        for call in calls:
            state = self._calls.setdefault(call.index, _Prefix())
            was_broken = state.broken
            kept = state.feed(call.arguments) if call.arguments else ""
            if state.broken and not was_broken:
                log.warning("tool call %d: arguments stop being JSON at %r; the rest is dropped", call.index,
                            call.arguments[len(kept):len(kept) + 40])
            if kept != call.arguments:
                call = dataclasses.replace(call, arguments=kept)
            if kept or call.name is not None or call.id is not None:
                out.append(call)
        return out

    def close(self) -> list[ToolCallDelta]:
        out = []
        for index, state in sorted(self._calls.items()):
            suffix = state.completion()
            if suffix:
                log.warning("tool call %d: arguments %r were not complete JSON; ended with %r", index,
                            state.text[-80:], suffix)
                out.append(ToolCallDelta(index=index, arguments=suffix))
            elif suffix is None:  # cannot happen for admitted text; kept as a last resort log
                log.warning("tool call %d: arguments %r are not JSON and cannot be completed", index,
                            state.text[-80:])
        return out
