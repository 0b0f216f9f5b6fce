"""Muse Glimmer: messages addressed by recipient instead of a think block (SGLang's `muse`).

    to=self<|message|>Need the weather.<|eom|><|start|>assistant to=get_weather<|message|>…<|eom|>
    <|start|>assistant to=user<|message|>It is sunny.<|eot|>

Per message (framing in `_muse.py`):
- to `self`: the body is reasoning;
- to `user`, or to no one: the body is content;
- to anyone else (a tool): the message passes into content verbatim, header and
  terminator included, for the `muse` tool parser;
- text that is no message, and a header that never reaches `<|message|>` within
  `HEADER_CAP` characters, are content as written.
A body ends only at its terminator: a quoted `<|start|>…` inside it is its text. Framing is
dropped, except that with the tool parser behind (`watch_calls`) the answer keeps its
header and terminator, so that parser still knows it reads an answer (a quoted tool
message in it stays text) and drops them itself. Nothing is trimmed (the format has no
whitespace conventions). A prompt that ends with ` to=self<|message|>` opened the thought:
the output starts in reasoning.
"""

from __future__ import annotations

from collections.abc import Callable

from sglang_gw.parsers._muse import EOM, EOT, HEADER_CAP, MESSAGE, START, bare_header, recipient
from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.reasoning.base import OwnMachineParser, StartState
from sglang_gw.parsers.types import ReasoningDelta

__all__ = ["MuseReasoningParser"]

_BODY_END = Markers((EOM, EOT))
_HEADER_END = Markers((MESSAGE, START, EOM, EOT))
_OPENING, _BETWEEN, _HEADER, _REASONING, _CONTENT, _TOOL = range(6)


class MuseReasoningParser(OwnMachineParser):
    """`to=self` bodies are reasoning, `to=user` bodies content, tool messages pass through."""

    start = "to=self" + MESSAGE
    end = EOM
    special_markers = (START, MESSAGE, EOM, EOT)

    def __init__(self, *, prompt_text: str | None = None, enable_thinking: bool | None = None) -> None:
        # `enable_thinking` means nothing here: the model addresses each message itself.
        self._state = _REASONING if self.start_state(prompt_text, None) is StartState.REASONING else _OPENING
        self._held = ""
        self._framed = False  # the answer keeps its framing (a tool parser follows)

    def watch_calls(self, starts: tuple[str, ...], whole_calls: Callable[[str], bool]) -> None:
        """The `muse` tool parser follows: pass the answer's framing on to it."""
        self._framed = True

    def _parse(self, buf: str, *, final: bool) -> ReasoningDelta:
        out: tuple[list[str], list[str]] = ([], [])
        self._held = ""
        rest: str | None = buf
        while rest is not None:
            rest = self._step(rest, final, out)
        return ReasoningDelta("".join(out[0]), "".join(out[1]))

    def _step(self, buf: str, final: bool, out: tuple[list[str], list[str]]) -> str | None:
        """Run the current state on `buf`: what is left to read, or None (the rest is held)."""
        if self._state in (_OPENING, _BETWEEN):
            return self._between(buf, final, out[1])
        if self._state == _HEADER:
            return self._header(buf, final, out[1])
        hit = _BODY_END.find(buf)
        cut = hit[0] if hit is not None else (len(buf) if final else _BODY_END.safe_end(buf))
        (out[0] if self._state == _REASONING else out[1]).append(buf[:cut])
        if hit is None:
            self._held = buf[cut:]
            return None
        if self._state == _TOOL or (self._state == _CONTENT and self._framed):
            out[1].append(hit[1])
        self._state = _BETWEEN
        return buf[cut + len(hit[1]):]

    def _between(self, buf: str, final: bool, content: list[str]) -> str | None:
        body = buf.lstrip()
        if body.startswith(START):
            self._state = _HEADER
            return body
        if not final and (not body or START.startswith(body)):
            self._held = buf
            return None
        if self._state == _OPENING:
            verdict, n = bare_header(buf, final)
            if verdict is None:
                self._held = buf
                return None
            if verdict:
                return self._open(buf[:n], buf[n:], content)
        self._state = _CONTENT
        return buf

    def _header(self, buf: str, final: bool, content: list[str]) -> str | None:
        """`buf` starts with `<|start|>`: the header runs to `<|message|>`."""
        hit = _HEADER_END.find(buf[:HEADER_CAP + len(MESSAGE)], len(START))
        if hit is not None and hit[1] == MESSAGE:
            end = hit[0] + len(MESSAGE)
            return self._open(buf[:end], buf[end:], content)
        if hit is None and not final and len(buf) < HEADER_CAP + len(MESSAGE):
            self._held = buf
            return None
        # Not a header: `<|start|>` and what follows are text, up to the next marker.
        self._state = _CONTENT
        content.append(START)
        return buf[len(START):]

    def _open(self, header: str, rest: str, content: list[str]) -> str:
        to = recipient(header)
        if to == "self":
            self._state = _REASONING
        elif to == "user":
            self._state = _CONTENT
            if self._framed:
                content.append(header)
        else:
            self._state = _TOOL
            content.append(header)
        return rest
