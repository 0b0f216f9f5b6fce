"""Inkling (TML): typed messages instead of a think block (smg's and SGLang's `inkling`).

The output is a sequence of messages, each a header and one typed body::

    <|message_model|><|content_thinking|>check sources<|end_message|>
    <|message_model|><|content_text|>Here is the answer.<|end_message|>
    <|message_model|>search<|content_invoke_tool_json|>{"name": "search", "args": {…}}<|end_message|>
    <|content_model_end_sampling|>

* `<|content_thinking|>` bodies are reasoning, `<|content_text|>` bodies content; text
  outside any body is content as written.
* A tool frame (`<|content_invoke_tool_json|>` or the text-mode `<|content_invoke_tool_text|>`
  up to its `<|end_message|>` or `<|content_model_end_sampling|>`) passes through into
  content verbatim, for the `inkling` tool parser (smg suppresses a text-mode frame; here,
  as in the tool parser, nothing the model wrote is lost).
* The header after `<|message_model|>` (an author or tool name) is markup once its
  content-type token comes; one that never comes (cut off, or longer than any header) is
  content as written. Inside an open body, `<|message_model|>` is the body's text (a
  header can only follow an end token), as SGLang reads it.
* The other control tokens (`<|end_message|>`, `<|endoftext|>`, `<|message_user|>`, …) are
  markup, dropped. No whitespace is trimmed: TML has no whitespace conventions.
* A prompt that ends with `<|content_thinking|>` opened the thought: the output starts in
  reasoning.
"""

from __future__ import annotations

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.reasoning.base import OwnMachineParser, StartState
from sglang_gw.parsers.types import ReasoningDelta

__all__ = ["InklingReasoningParser"]

THINKING, TEXT, END = "<|content_thinking|>", "<|content_text|>", "<|end_message|>"
TOOL_JSON, TOOL_TEXT = "<|content_invoke_tool_json|>", "<|content_invoke_tool_text|>"
END_SAMPLING, MODEL = "<|content_model_end_sampling|>", "<|message_model|>"
HEADER_CAP = 256
# The TMLv0 control tokens (smg keeps the same list in sync with the tokenizer).
CONTROL = (
    "<|endoftext|>", "<|message_user|>", MODEL, "<|message_system|>", "<|message_tool|>", TEXT,
    "<|content_image|>", END_SAMPLING, THINKING, "<|content_audio_input|>", "<|content_tool_error|>",
    "<|content_xml|>", TOOL_JSON, TOOL_TEXT, END, "<|audio_end|>",
)
_CONTROL = Markers(CONTROL)
_ENDS = (END, END_SAMPLING)
_FRAME_END = Markers(_ENDS)

_NONE, _HEADER, _REASONING, _CONTENT, _TOOL = range(5)
_BODIES = {THINKING: _REASONING, TEXT: _CONTENT}


class InklingReasoningParser(OwnMachineParser):
    """TML typed blocks: thinking bodies are reasoning, text bodies and tool frames content."""

    start = THINKING
    end = END
    special_markers = CONTROL

    def __init__(self, *, prompt_text: str | None = None, enable_thinking: bool | None = None) -> None:
        # `enable_thinking` means nothing here: the model types each body itself.
        self._kind = _REASONING if self.start_state(prompt_text, None) is StartState.REASONING else _NONE
        self._held = ""
        self._header = ""  # the header read so far (held: it may turn out to be content)

    def _parse(self, buf: str, *, final: bool) -> ReasoningDelta:
        reasoning: list[str] = []
        content: list[str] = []
        self._held = ""
        while True:
            markers = _FRAME_END if self._kind == _TOOL else _CONTROL
            hit = markers.find(buf)
            cut = hit[0] if hit is not None else (len(buf) if final else markers.safe_end(buf))
            self._text(buf[:cut], reasoning, content)
            if hit is None:
                self._held = buf[cut:]
                break
            buf = buf[cut + len(hit[1]):]
            self._control(hit[1], reasoning, content)
        if final and self._kind == _HEADER:  # cut off in a header: it was text
            content.append(MODEL + self._header)
            self._kind, self._header = _NONE, ""
        return ReasoningDelta("".join(reasoning), "".join(content))

    def _text(self, text: str, reasoning: list[str], content: list[str]) -> None:
        if not text:
            return
        if self._kind == _REASONING:
            reasoning.append(text)
        elif self._kind != _HEADER:
            content.append(text)
        elif len(self._header) + len(text) <= HEADER_CAP:
            self._header += text
        else:  # longer than any header: `<|message_model|>` was text after all
            content.append(MODEL + self._header + text)
            self._kind, self._header = _NONE, ""

    def _control(self, token: str, reasoning: list[str], content: list[str]) -> None:
        """A complete control token in the current state."""
        if self._kind == _TOOL:  # only an end token is looked for in a frame
            content.append(token)
            self._kind = _NONE
            return
        if token == MODEL and self._kind in (_REASONING, _CONTENT):
            self._text(token, reasoning, content)  # the body's own text
            return
        self._header = ""
        if token == MODEL:
            self._kind = _HEADER
        elif token in (TOOL_JSON, TOOL_TEXT):
            content.append(token)
            self._kind = _TOOL
        elif token in _BODIES:
            self._kind = _BODIES[token]
        elif token in _ENDS:
            self._kind = _NONE
