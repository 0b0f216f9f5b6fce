"""OLMo 3 tool calls: pythonic calls, one per line, inside a tag pair::

    <function_calls>get_weather(city="Paris", unit="c")
    search(query="umbrella", limit=3)</function_calls>

The template prints each argument as `key=` and the value's JSON (`tojson`), so `true`,
`false` and `null` appear as such; `pythonic.py` reads them (and Python's own literals).
Everything else is as in `pythonic`: a call list is held until `</function_calls>` and
sent whole, or given to content whole if a call in it does not read; text before
`<function_calls>` that holds no call is content.
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools.pythonic import PythonicToolParser

__all__ = ["Olmo3ToolParser"]

_OPEN = "<function_calls>"


class Olmo3ToolParser(PythonicToolParser):
    # Plain text in the OLMo 3 vocabulary: no token to keep.
    special_markers: ClassVar[tuple[str, ...]] = ()
    list_open = _OPEN
    list_close = "</function_calls>"
    text_markers = Markers((_OPEN,))
    calls_by_whitespace = True
