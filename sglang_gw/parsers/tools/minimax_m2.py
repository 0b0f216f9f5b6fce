"""MiniMax-M2 (M2, M2.1, M2.5) tool calls: several invokes in one block::

    <minimax:tool_call>
    <invoke name="get_weather">
    <parameter name="city">Paris</parameter>
    </invoke>
    </minimax:tool_call>

As the reference parser does, newlines at either end of a value belong to the format.
Values are typed by the declared schema (`_arg_types`). An undeclared invoke is content as
written (`<invoke …>…</invoke>`); the block markers never are.
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers.tools._json_args import Trim
from sglang_gw.parsers.tools._xml_layouts import element_layout
from sglang_gw.parsers.tools._xml_stream import XmlToolParser

__all__ = ["MinimaxM2ToolParser"]


class MinimaxM2ToolParser(XmlToolParser):
    fmt = element_layout("invoke", "parameter", block="minimax:tool_call",
                         trim=Trim(lead="\n", lead_max=-1, trail="\n", trail_max=-1))
    special_markers: ClassVar[tuple[str, ...]] = ("<minimax:tool_call>", "</minimax:tool_call>")
