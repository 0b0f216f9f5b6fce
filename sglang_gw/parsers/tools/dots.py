"""dots (rednote-hilab) tool calls: MiniMax-M2-style invokes in a `dots_function_call` block::

    <dots_function_call>
    <invoke name="search">
    <parameter name="query">weather in Shanghai</parameter>
    </invoke>
    </dots_function_call>

Names may be quoted or bare (`name=search`), as both peers accept. Values are trimmed (the
peers strip them) and typed by the declared schema (`_arg_types`). Both peers also take a
JSON call object as a block's body; here such a block is content (see docs/parsers.md).
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers.tools._json_args import Trim
from sglang_gw.parsers.tools._xml_stream import WS, Lit, Name, XmlFormat, XmlToolParser

__all__ = ["DotsToolParser"]

_NAME = (WS, Lit("name"), WS, Lit("="), WS, Name(">", unquote=True), Lit(">"))
_BLANK = " \t\r\n"


class DotsToolParser(XmlToolParser):
    fmt = XmlFormat(
        block_open="<dots_function_call>",
        block_close="</dots_function_call>",
        call_open="<invoke",
        call_close="</invoke>",
        header=_NAME,
        param_open="<parameter",
        key=_NAME,
        value_close="</parameter>",
        body_close="</invoke>",
        trim=Trim(lead=_BLANK, lead_max=-1, trail=_BLANK, trail_max=-1),
    )
    special_markers: ClassVar[tuple[str, ...]] = ("<dots_function_call>", "</dots_function_call>")
