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

from sglang_gw.parsers.tools._json_args import Trim
from sglang_gw.parsers.tools._xml_stream import WS, Lit, Name, XmlFormat, XmlToolParser

__all__ = ["SeedOssToolParser"]


class SeedOssToolParser(XmlToolParser):
    fmt = XmlFormat(
        call_open="<seed:tool_call>",
        call_close="</seed:tool_call>",
        header=(WS, Lit("<function="), Name(">"), Lit(">")),
        param_open="<parameter=",
        key=(Name(">"), Lit(">")),
        value_close="</parameter>",
        body_close="</function>",
        tail=("</seed:tool_call>",),
        trim=Trim(lead="\n", lead_max=1, trail="\n", trail_max=1),
    )
    special_markers: ClassVar[tuple[str, ...]] = ("<seed:tool_call>", "</seed:tool_call>")
