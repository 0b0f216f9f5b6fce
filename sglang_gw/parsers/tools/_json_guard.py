"""The guard that keeps every emitted `arguments` string valid JSON.

Parsers stream a call's arguments as the model wrote them, so a call cut short (by
`max_tokens`) or broken after its name was committed would end as a JSON prefix. Streamed
fragments cannot be taken back; what can be done is to end the string well: `completion`
gives the shortest suffix that makes a JSON prefix a complete value (close the string,
finish `tru`/`1e`, put `null` where a value was due, close the brackets). `ArgumentsGuard`
watches each call's fragments and, when the output ends, sends that suffix as the call's
last fragment, so the streamed and the whole response get the same, valid, arguments.
"""

from __future__ import annotations

import json
import logging

from sglang_gw.parsers.types import ToolCallDelta

__all__ = ["ArgumentsGuard", "completion"]

log = logging.getLogger(__name__)

_LITERALS = ("true", "false", "null")


def completion(prefix: str) -> str | None:
    """The suffix that makes `prefix` one valid JSON value ("" if it is one; `{}` for
    nothing at all), or None if no suffix can (text that is not JSON)."""
    if not prefix.strip():
        return "{}"
    if _valid(prefix):
        return ""
    suffix = _suffix(prefix)
    return suffix if suffix is not None and _valid(prefix + suffix) else None


def _valid(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_reject)  # NaN/Infinity are Python's, not JSON
    except ValueError:
        return False
    return True


def _reject(name: str) -> None:
    raise ValueError(name)


def _suffix(text: str) -> str | None:  # noqa: C901 - one pass of a small JSON automaton
    stack: list[str] = []  # "{" or "["
    want = "value"  # value | key | colon | comma | done
    in_str = is_key = esc = False
    uni = -1  # hex digits still due in a \\u escape
    token = ""  # a literal or number being read
    for ch in text:
        if in_str:
            if uni > 0:
                uni -= 1
            elif esc:
                esc, uni = False, (4 if ch == "u" else -1)
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
                want = "colon" if is_key else "comma"
            continue
        if token and (ch.isalnum() or ch in "+-."):
            token += ch
            continue
        if token:
            token, want = "", "comma"
        if ch in " \t\r\n":
            continue
        if want == "done":
            return None
        if ch == '"' and want in ("value", "key"):
            in_str, is_key = True, want == "key"
        elif ch in "{[" and want == "value":
            stack.append(ch)
            want = "key" if ch == "{" else "value"
        elif ch in "}]" and stack and stack[-1] == ("{" if ch == "}" else "[") and want in ("comma", "key", "value"):
            stack.pop()
            want = "comma" if stack else "done"
        elif ch == ":" and want == "colon":
            want = "value"
        elif ch == "," and want == "comma" and stack:
            want = "key" if stack[-1] == "{" else "value"
        elif want == "value" and (ch.isalpha() or ch.isdigit() or ch == "-"):
            token = ch
        else:
            return None
        if want == "comma" and not stack:
            want = "done"
    out = ""
    if in_str:
        out += ("0" * uni if uni > 0 else "\\" if esc else "") + '"'
        want = "colon" if is_key else "comma"
    elif token:
        word = next((w for w in _LITERALS if w.startswith(token)), None)
        out += word[len(token):] if word is not None else ("0" if token[-1] in "+-.eE" else "")
        want = "comma"
    if want == "colon":
        out += ":null"
    elif want == "value" and stack:
        out += "null"
    elif want == "key":
        out += '"":null' if text.rstrip().endswith(",") else ""
    return out + "".join("}" if c == "{" else "]" for c in reversed(stack))


class ArgumentsGuard:
    """Watches the calls of one choice; `close()` gives the fragments that end each call's
    arguments as valid JSON (a warning is logged for each repair)."""

    __slots__ = ("_args",)

    def __init__(self) -> None:
        self._args: dict[int, str] = {}

    def observe(self, calls: list[ToolCallDelta]) -> None:
        for call in calls:
            self._args[call.index] = self._args.get(call.index, "") + call.arguments

    def close(self) -> list[ToolCallDelta]:
        out = []
        for index, args in sorted(self._args.items()):
            suffix = completion(args)
            if suffix:
                log.warning("tool call %d: arguments %r were not complete JSON; ended with %r", index,
                            args[-80:], suffix)
                out.append(ToolCallDelta(index=index, arguments=suffix))
            elif suffix is None:
                log.warning("tool call %d: arguments %r are not JSON and cannot be completed", index, args[-80:])
        return out
