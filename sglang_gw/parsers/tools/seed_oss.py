"""Seed-OSS (ByteDance-Seed/Seed-OSS-36B) tool calls: Qwen3-Coder's XML under Seed's tags::

    <seed:tool_call>
    <function=get_weather>
    <parameter=city>Paris</parameter>
    </function>
    </seed:tool_call>

One function per block. The template writes a value right after `<parameter=K>` and
`</parameter>` right after it; one newline at either end (as the model may write) belongs
to the format, as in `qwen3_coder`. Values are typed by the declared schema.
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers.tools._xml_layouts import ONE_NEWLINE, function_eq_layout
from sglang_gw.parsers.tools._xml_stream import XmlToolParser

__all__ = ["SeedOssToolParser"]


class SeedOssToolParser(XmlToolParser):
    fmt = function_eq_layout("seed:tool_call", ONE_NEWLINE)
    special_markers: ClassVar[tuple[str, ...]] = ("<seed:tool_call>", "</seed:tool_call>")
