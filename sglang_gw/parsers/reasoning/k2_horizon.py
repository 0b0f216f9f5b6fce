"""K2 Horizon (K2-V3): IFM think tags, one spelling per reasoning effort (SGLang's
`k2_horizon`): `<ifm|think>…</ifm|think>` (high), `<ifm|think_fast>…</ifm|think_fast>`
(medium), `<ifm|think_faster>…</ifm|think_faster>` (low).

The template opens the block, so the output starts in reasoning unless the prompt closed
it; the output may also open it itself, in any spelling (dropped). Any spelling's end tag
ends the thought. A `<ifm|tool_calls>` group inside the block is held (`watch_calls`): if
the block closes after it, it was reasoning; if the output ends first and the held text is
whole calls, they are content for the `k2_horizon` tool parser. A block with no end tag is
reasoning, as in every family (SGLang gives it as content).
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.reasoning.base import MAX_LEADING_WS, Out, ReasoningParser, StartState

__all__ = ["K2HorizonReasoningParser"]

_EFFORTS = ("think", "think_fast", "think_faster")
STARTS = tuple(f"<ifm|{e}>" for e in _EFFORTS)
ENDS = tuple(f"</ifm|{e}>" for e in _EFFORTS)


class K2HorizonReasoningParser(ReasoningParser):
    start = STARTS[0]
    end = ENDS[0]
    starts_in_reasoning = True
    special_markers: ClassVar[tuple[str, ...]] = (*STARTS, *ENDS)

    @classmethod
    def start_state(cls, prompt_text: str | None, enable_thinking: bool | None) -> StartState:
        """As the base rule, with every spelling of the tags."""
        tail = prompt_text.rstrip() if prompt_text is not None else ""
        if tail.endswith(STARTS):
            return StartState.REASONING
        if tail.endswith(ENDS):
            return StartState.AFTER_BLOCK
        return super().start_state(None, enable_thinking)

    def _opening(self, buf: str, final: bool, out: Out) -> str | None:
        """Read another spelling of the opening tag as the first one."""
        body = buf.lstrip()
        if len(buf) - len(body) <= MAX_LEADING_WS:
            other = next((s for s in STARTS[1:] if body.startswith(s)), None)
            if other is not None:
                buf = buf[:len(buf) - len(body)] + self.start + body[len(other):]
            elif not final and any(s.startswith(body) for s in STARTS[1:]) and not self.start.startswith(body):
                self._held = buf
                return None
        return super()._opening(buf, final, out)


# Every spelling's end tag ends the thought.
K2HorizonReasoningParser._end_markers = Markers(ENDS)
