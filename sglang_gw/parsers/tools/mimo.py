"""Xiaomi MiMo (MiMo-V2-Flash, MiMo-V2.5) tool calls: Qwen3-Coder's XML, values verbatim::

    <tool_call>
    <function=get_weather>
    <parameter=city>Paris</parameter>
    </function>
    </tool_call>

The template writes a value right after `<parameter=K>` and tells the model that "the value
enclosed between parameter tags is preserved exactly as-is, including newlines and spaces",
so unlike `qwen3_coder` no newline around a value belongs to the format (both peers keep
the value's text whole). Values are typed by the declared schema (`_arg_types`).
"""

from __future__ import annotations

from sglang_gw.parsers.tools._xml_layouts import function_eq_layout
from sglang_gw.parsers.tools._xml_stream import XmlToolParser

__all__ = ["MiMoToolParser"]


class MiMoToolParser(XmlToolParser):
    fmt = function_eq_layout("tool_call")
