"""gpt-oss (OpenAI harmony): messages with channels instead of a think block.

The prompt ends `<|start|>assistant`; the output is one or more messages

    [<|start|>assistant][ to=RECIPIENT]<|channel|>CHANNEL[ to=RECIPIENT][ <|constrain|>json]<|message|>BODY<|end|>

ended by `<|end|>`, `<|call|>` (a tool call, stops generation) or `<|return|>` (the last
final message), or cut short by the next `<|start|>`/`<|channel|>`. Per message:
- a `functions.*` recipient is a tool call: the message passes through **verbatim** into
  content (header from its first character, `<|message|>`, body, terminator if present)
  for the gpt_oss tool parser to read;
- any other recipient (built-in tools: `browser.*`, `python`) and the `analysis` channel
  are reasoning (the body only);
- `final`, `commentary` without a recipient (preambles) and unknown channels are content.
Text outside any message (a model that does not speak harmony) is content as is. No
whitespace is trimmed: harmony has no whitespace conventions around its markers.
A header must reach `<|message|>` within `HEADER_CAP` characters, else it is content.
"""

from __future__ import annotations

import re

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.reasoning.base import Out, ReasoningParser, StartState, Step

__all__ = ["HEADER_CAP", "GptOssReasoningParser"]

START, CHANNEL, MESSAGE = "<|start|>", "<|channel|>", "<|message|>"
END, CALL, RETURN, CONSTRAIN = "<|end|>", "<|call|>", "<|return|>", "<|constrain|>"
HEADER_CAP = 256

_OPENERS = Markers((START, CHANNEL))
_BODY_ENDS = Markers((END, CALL, RETURN, START, CHANNEL))
# What ends a header: its `<|message|>`, or a terminator or new `<|start|>` before it.
_HEADER_ENDS = Markers((MESSAGE, END, CALL, RETURN, START))
_TERMINATORS = (END, CALL, RETURN)
# Right after the prompt's `<|start|>assistant` the recipient may come first.
_ROLE_RECIPIENT = (" to=", "to=")
_RECIPIENT = re.compile(r"to=([^\s<]+)")
_CHANNEL_NAME = re.compile(re.escape(CHANNEL) + r"\s*([^\s<]+)")

_REASONING, _CONTENT, _TOOL = range(3)


def classify(header: str) -> int:
    """What a message's body is, from its header text (everything before `<|message|>`)."""
    recipient = _RECIPIENT.search(header)
    if recipient is not None:
        return _TOOL if recipient.group(1).startswith("functions.") else _REASONING
    channel = _CHANNEL_NAME.search(header)
    return _REASONING if channel is not None and channel.group(1) == "analysis" else _CONTENT


def _open_header(prompt_text: str | None) -> str | None:
    """The header of a message the prompt left open, if it ends with `<|message|>`."""
    if prompt_text is None or not prompt_text.endswith(MESSAGE):
        return None
    begin = prompt_text.rfind(START)
    return prompt_text[begin + len(START) if begin >= 0 else 0:-len(MESSAGE)]


class GptOssReasoningParser(ReasoningParser):
    """Harmony channels: `analysis` is reasoning, `final` is content, tool calls pass through."""

    start = CHANNEL + "analysis" + MESSAGE
    end = END
    special_markers = (START, CHANNEL, MESSAGE, END, CALL, RETURN, CONSTRAIN)

    def __init__(self, *, prompt_text: str | None = None, enable_thinking: bool | None = None) -> None:
        # `enable_thinking` means nothing to harmony (reasoning_effort only shortens it).
        self._held = ""
        self._at_start = True
        self._state: Step = type(self)._between
        self._kind = _CONTENT
        header = _open_header(prompt_text)
        if header is not None:
            # The prompt pre-opened a message (e.g. `<|channel|>final<|message|>`); a call
            # opened there has its header in the prompt, so its body is plain content.
            kind = classify(header)
            self._state, self._kind, self._at_start = type(self)._body, _CONTENT if kind == _TOOL else kind, False

    @classmethod
    def start_state(cls, prompt_text: str | None, enable_thinking: bool | None) -> StartState:
        header = _open_header(prompt_text)
        if header is not None and classify(header) == _REASONING:
            return StartState.REASONING
        return StartState.CONTENT

    def _between(self, buf: str, final: bool, out: Out) -> str | None:
        if self._at_start:
            if buf.startswith(_ROLE_RECIPIENT):
                self._at_start, self._state = False, type(self)._header
                return buf
            if not final and any(r.startswith(buf) for r in _ROLE_RECIPIENT):
                self._held = buf
                return None
            self._at_start = False
        text, hit = self._until(buf, _OPENERS, final)
        out.content.append(text)
        if hit is None:
            return None
        self._state = type(self)._header
        return buf[hit[0]:]

    def _header(self, buf: str, final: bool, out: Out) -> str | None:
        # The header's own opener may be `<|start|>`: look for its end after it.
        hit = _HEADER_ENDS.find(buf[:HEADER_CAP + len(MESSAGE)], 1)
        if hit is not None and hit[1] != MESSAGE:
            return self._headless(buf, *hit)
        if hit is not None:
            i = hit[0]
            self._kind = classify(buf[:i])
            self._state = type(self)._body
            if self._kind == _TOOL:
                out.content.append(buf[:i + len(MESSAGE)])
            return buf[i + len(MESSAGE):]
        if len(buf) >= HEADER_CAP + len(MESSAGE):
            # Not a header after all: its first HEADER_CAP characters are plain content.
            out.content.append(buf[:HEADER_CAP])
            self._state = type(self)._between
            return buf[HEADER_CAP:]
        if not final:
            self._held = buf
        elif "to=" in buf:
            out.content.append(buf)  # a call cut off in its header: the tool parser decides
        return None

    def _headless(self, buf: str, i: int, marker: str) -> str:
        """A header that ends (a terminator) or is abandoned (a new `<|start|>`) before any
        `<|message|>`: a message with no body, e.g. a stray `<|channel|>commentary<|end|>`
        between calls. It is all markup: dropped (the tool parser drops such a call header
        too), and the next message is read on its own."""
        self._state = type(self)._between
        return buf[i:] if marker == START else buf[i + len(marker):]

    def _body(self, buf: str, final: bool, out: Out) -> str | None:
        text, hit = self._until(buf, _BODY_ENDS, final)
        self._emit(text, out)
        if hit is None:
            return None
        i, marker = hit
        self._state = type(self)._between
        if marker not in _TERMINATORS:
            return buf[i:]  # the next message began without an end marker
        if self._kind == _TOOL:
            out.content.append(marker)
        return buf[i + len(marker):]

    def _emit(self, text: str, out: Out) -> None:
        if text:
            (out.reasoning if self._kind == _REASONING else out.content).append(text)
