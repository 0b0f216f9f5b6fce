"""Kimi K2 tool calls (K2-Instruct, K2-Instruct-0905, K2-Thinking).

    <|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0
    <|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|>...<|tool_calls_section_end|>

The head is the call id `functions.NAME:IDX`, where IDX counts calls over the whole
conversation (the template numbers them so). The call keeps the model's id when it
is well formed and not already used in this response, else `functions.NAME:INDEX`
with the call's index in the response.
"""

from __future__ import annotations

import re
from typing import ClassVar

from sglang_gw.parsers.tools._section import SectionParser
from sglang_gw.parsers.tools.base import CallEmitter

__all__ = ["KimiK2ToolParser"]

_HEAD = re.compile(r"\s*(?:functions\.)?(\S+?):(\d+)\s*")


class _KimiEmitter(CallEmitter):
    """Ids as the parser read them from the call's head (`model_id`), kept distinct."""

    __slots__ = ("_used", "model_id")

    def __init__(self) -> None:
        super().__init__()
        self.model_id = ""
        self._used: set[str] = set()

    def new_id(self, name: str, index: int) -> str:
        call_id, n = self.model_id, index
        while call_id in self._used or not call_id.startswith(f"functions.{name}:"):
            call_id, n = f"functions.{name}:{n}", n + 1  # ids must be distinct in a response
        self._used.add(call_id)
        return call_id


class KimiK2ToolParser(SectionParser):
    section_begin = "<|tool_calls_section_begin|>"
    section_end = "<|tool_calls_section_end|>"
    call_begin = "<|tool_call_begin|>"
    head_end = "<|tool_call_argument_begin|>"
    call_end = "<|tool_call_end|>"
    special_markers: ClassVar[tuple[str, ...]] = (section_begin, section_end, call_begin, head_end, call_end)

    emitter_type = _KimiEmitter
    emitter: _KimiEmitter

    def parse_head(self, head: str) -> str | None:
        match = _HEAD.fullmatch(head)
        if match is None:
            return None
        self.emitter.model_id = f"functions.{match[1]}:{match[2]}"
        return match[1]
