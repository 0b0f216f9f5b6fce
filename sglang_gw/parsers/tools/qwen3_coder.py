"""Qwen3-Coder (and Qwen3.5/3.6 XML tool calls):

    <tool_call>
    <function=get_weather>
    <parameter=city>
    Paris
    </parameter>
    </function>
    </tool_call>

One function per `<tool_call>`; parallel calls are consecutive blocks. As the reference
parsers do, one newline after `<parameter=K>` and one before `</parameter>` belong to the
format. Values are typed by the declared schema (`_arg_types`). `<tool_call>` is an added
but not special token in the Qwen3 vocabulary, so it needs no special handling.

Two slips real models make are accepted, as vLLM and SGLang accept them: a
`<function=NAME>…</function>` with no `<tool_call>` around it is a call, and a parameter
left without `</parameter>` ends at a line that starts with `</function>`, `</tool_call>`
or the next `<parameter=K>` (K a parameter the tool declares and the call has not given
yet). Tags in the middle of a line stay the value's text, as code quoting the format needs.
"""

from __future__ import annotations

from sglang_gw.parsers.tools._xml_layouts import ONE_NEWLINE, function_eq_layout
from sglang_gw.parsers.tools._xml_stream import XmlToolParser

__all__ = ["Qwen3CoderToolParser"]


class Qwen3CoderToolParser(XmlToolParser):
    fmt = function_eq_layout("tool_call", ONE_NEWLINE, lenient=True)
