"""LFM2 / LFM2.5 (Liquid AI) tool calls: a pythonic call list between special tokens::

    <|tool_call_start|>[get_weather(city="Paris"), search(query="rain")]<|tool_call_end|>

The list is read exactly as `pythonic.py` reads Llama's (held until its `]`, then sent
whole, or as content if anything in it does not read); the two tokens are markup wherever
they stand, as Llama 4's `<|python_start|>`/`<|python_end|>` are. SGLang also accepts a JSON
list of `{"name", "arguments"}` objects between the tokens; that form is content here.
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools.pythonic import PythonicToolParser

__all__ = ["Lfm2ToolParser"]

_START, _END = "<|tool_call_start|>", "<|tool_call_end|>"


class Lfm2ToolParser(PythonicToolParser):
    special_markers: ClassVar[tuple[str, ...]] = (_START, _END)
    text_markers = Markers(("[", _START, _END))
