"""Step3 tool calls (`stepfun-ai/step3`)::

    <｜tool_calls_begin｜>
    <｜tool_call_begin｜>
    function<｜tool_sep｜><steptml:invoke name="get_weather"><steptml:parameter name="city">Paris</steptml:parameter></steptml:invoke><｜tool_call_end｜>
    <｜tool_calls_end｜>

(The bars are U+FF5C.) The template writes each value inline between its tags, so a
string value is kept exactly as written, whitespace included (an edit tool's `old_string`
must match byte for byte; vLLM keeps it too); typed values are read trimmed. The template
prints non-string values with Python's `str` (`True`, `{'a': 1}`), which `_arg_types`
also reads. An undeclared call is content from
`<｜tool_call_begin｜>` to `<｜tool_call_end｜>`. The template prints past calls with a
misspelled `<｜tool_call_begin>｜>`, which is read too.
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers.tools._xml_stream import NAME_ATTR, WS, Lit, XmlFormat, XmlToolParser

__all__ = ["Step3ToolParser"]

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
        # The template's history rendering misspells the marker; a model may copy it.
        call_open_alt=("<｜tool_call_begin>｜>",),
    )
    special_markers: ClassVar[tuple[str, ...]] = (
        "<｜tool_calls_begin｜>", "<｜tool_calls_end｜>", "<｜tool_call_begin｜>", "<｜tool_call_end｜>",
        "<｜tool_sep｜>")
