"""The XML layouts several families share, as builders of their `XmlFormat` row.

- `element_layout`: MiniMax-M2's `<invoke name="NAME"><parameter name="KEY">value</parameter>
  </invoke>` in a wrapper block; dots writes it under another wrapper, MiniCPM 5 under
  other tag names and without one.
- `function_eq_layout`: Qwen3-Coder's `<function=NAME><parameter=KEY>value</parameter>
  </function>`, one function per wrapper (MiMo writes it too, Seed-OSS under its own wrapper).
"""

from __future__ import annotations

from sglang_gw.parsers.tools._json_args import Trim
from sglang_gw.parsers.tools._xml_stream import NAME_ATTR, WS, Item, Lit, Name, XmlFormat

__all__ = ["LOOSE_NAME_ATTR", "ONE_NEWLINE", "element_layout", "function_eq_layout"]

# `name=search` or `name="search"`: both peers accept either where dots and MiniCPM 5 write one.
LOOSE_NAME_ATTR: tuple[Item, ...] = (WS, Lit("name"), WS, Lit("="), WS, Name(">", unquote=True), Lit(">"))

# One newline at either end of a value belongs to the format (the model writes the value
# on its own line).
ONE_NEWLINE = Trim(lead="\n", lead_max=1, trail="\n", trail_max=1)
_VERBATIM = Trim()  # the value is all the text between its tags

_FUNCTION_NAME: tuple[Item, ...] = (Name(">"), Lit(">"))


def element_layout(call: str, param: str, name: tuple[Item, ...] = NAME_ATTR, *, block: str | None = None,
                   trim: Trim = _VERBATIM) -> XmlFormat:
    """Calls as `<call name=…>` elements holding `<param name=…>value</param>` elements,
    several to a `<block>` wrapper if the family has one."""
    return XmlFormat(
        block_open=f"<{block}>" if block else None,
        block_close=f"</{block}>" if block else None,
        call_open=f"<{call}",
        call_close=f"</{call}>",
        header=name,
        param_open=f"<{param}",
        key=name,
        value_close=f"</{param}>",
        body_close=f"</{call}>",
        trim=trim,
    )


def function_eq_layout(wrapper: str, trim: Trim = _VERBATIM, *, lenient: bool = False) -> XmlFormat:
    """`<wrapper><function=NAME><parameter=KEY>value</parameter></function></wrapper>`, one
    function to a wrapper. `lenient` takes Qwen3-Coder's slips: a `<function=NAME>` with no
    wrapper, and a value left without `</parameter>`."""
    return XmlFormat(
        call_open=f"<{wrapper}>",
        call_close=f"</{wrapper}>",
        header=(WS, Lit("<function="), *_FUNCTION_NAME),
        param_open="<parameter=",
        key=_FUNCTION_NAME,
        value_close="</parameter>",
        body_close="</function>",
        tail=(f"</{wrapper}>",),
        trim=trim,
        bare_open="<function=" if lenient else None,
        bare_header=_FUNCTION_NAME if lenient else (),
        implicit_close=lenient,
    )
