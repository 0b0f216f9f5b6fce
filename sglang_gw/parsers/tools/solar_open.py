"""Upstage Solar Open 2 tool calls: one call per sentinel pair, one argument per line::

    <|tool_call:start|>get_weather
    <|tool_arg:start|>city<|tool_arg:value|>Paris<|tool_arg:end|>
    <|tool_arg:start|>days<|tool_arg:value|>3<|tool_arg:end|>
    <|tool_call:end|>

The name is the rest of the start sentinel's line. The template writes string values as
they are and other values as JSON; values are typed by the declared schema (`_arg_types`)
and not trimmed. Consecutive calls are separated by a newline. A value also ends at the
next sentinel, and a call at the next `<|tool_call:start|>`, when the model dropped its
own end sentinel.
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers.tools._xml_stream import Lit, Name, XmlFormat, XmlToolParser

__all__ = ["SolarOpen2ToolParser"]

_MARKERS = ("<|tool_call:start|>", "<|tool_call:end|>", "<|tool_arg:start|>", "<|tool_arg:value|>",
            "<|tool_arg:end|>")


class SolarOpen2ToolParser(XmlToolParser):
    fmt = XmlFormat(
        call_open="<|tool_call:start|>",
        call_close="<|tool_call:end|>",
        header=(Name("\n<"), Lit("\n")),
        param_open="<|tool_arg:start|>",
        key=(Name("<"), Lit("<|tool_arg:value|>")),
        value_close="<|tool_arg:end|>",
        body_close="<|tool_call:end|>",
        # As vLLM's parser does: a dropped `<|tool_arg:end|>` or `<|tool_call:end|>` must not
        # swallow the arguments and calls after it.
        value_ends=("<|tool_arg:start|>", "<|tool_call:end|>", "<|tool_call:start|>"),
        call_open_ends_call=True,
    )
    special_markers: ClassVar[tuple[str, ...]] = _MARKERS
