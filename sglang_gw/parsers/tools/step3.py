"""Step3 tool calls (`stepfun-ai/step3`)::

    <｜tool_calls_begin｜>
    <｜tool_call_begin｜>
    function<｜tool_sep｜><steptml:invoke name="get_weather"><steptml:parameter name="city">Paris</steptml:parameter></steptml:invoke><｜tool_call_end｜>
    <｜tool_calls_end｜>

(The bars are U+FF5C.) As the reference parser does, whitespace at either end of a value
belongs to the format. The template prints non-string values with Python's `str`
(`True`, `{'a': 1}`), which `_arg_types` also reads. An undeclared call is content from
`<｜tool_call_begin｜>` to `<｜tool_call_end｜>`. The template prints past calls with a
misspelled `<｜tool_call_begin>｜>`, which is read too.
"""

from __future__ import annotations

import string
from typing import ClassVar

from sglang_gw.parsers.tools._json_args import Trim
from sglang_gw.parsers.tools._xml_stream import NAME_ATTR, WS, Lit, XmlFormat, XmlToolParser

__all__ = ["Step3ToolParser"]

_WHITESPACE = string.whitespace


class Step3ToolParser(XmlToolParser):
    fmt = XmlFormat(
        block_open="<｜tool_calls_begin｜>",
        block_close="<｜tool_calls_end｜>",
        call_open="<｜tool_call_begin｜>",
        call_close="<｜tool_call_end｜>",
        header=(WS, Lit("function"), WS, Lit("<｜tool_sep｜>"), WS, Lit("<steptml:invoke"), *NAME_ATTR),
        param_open="<steptml:parameter",
        key=NAME_ATTR,
        value_close="</steptml:parameter>",
        body_close="</steptml:invoke>",
        tail=("<｜tool_call_end｜>",),
        trim=Trim(lead=_WHITESPACE, lead_max=-1, trail=_WHITESPACE, trail_max=-1),
        # The template's history rendering misspells the marker; a model may copy it.
        call_open_alt=("<｜tool_call_begin>｜>",),
    )
    special_markers: ClassVar[tuple[str, ...]] = (
        "<｜tool_calls_begin｜>", "<｜tool_calls_end｜>", "<｜tool_call_begin｜>", "<｜tool_call_end｜>",
        "<｜tool_sep｜>")
