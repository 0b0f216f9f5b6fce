"""IBM Granite 3.2 thinking: plain-text section headers instead of tags.

With `thinking` on, the model writes `Here is my thought process:` … `Here is my response:`
… (quantized checkpoints sometimes write `Here's` in either header, which vLLM's `granite`
parser accepts, and so does this one). Output that does not open with the first header is
all content. The headers are ordinary text, so no token is kept for the decoder.
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.reasoning.base import MAX_LEADING_WS, Out, ReasoningParser

__all__ = ["GraniteReasoningParser"]

_THOUGHT, _THOUGHT_ALT = "Here is my thought process:", "Here's my thought process:"
_RESPONSE, _RESPONSE_ALT = "Here is my response:", "Here's my response:"


class GraniteReasoningParser(ReasoningParser):
    start = _THOUGHT
    end = _RESPONSE
    special_markers: ClassVar[tuple[str, ...]] = ()

    def _opening(self, buf: str, final: bool, out: Out) -> str | None:
        """Read the other spelling of the opening header as the first one."""
        body = buf.lstrip()
        if len(buf) - len(body) <= MAX_LEADING_WS:
            if body.startswith(_THOUGHT_ALT):
                buf = buf[:len(buf) - len(body)] + _THOUGHT + body[len(_THOUGHT_ALT):]
            elif not final and _THOUGHT_ALT.startswith(body) and not _THOUGHT.startswith(body):
                self._held = buf
                return None
        return super()._opening(buf, final, out)


# Either spelling of the response header ends the thought.
GraniteReasoningParser._end_markers = Markers((_RESPONSE, _RESPONSE_ALT))
