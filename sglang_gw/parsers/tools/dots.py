"""dots (rednote-hilab) tool calls: MiniMax-M2-style invokes in a `dots_function_call` block::

    <dots_function_call>
    <invoke name="search">
    <parameter name="query">weather in Shanghai</parameter>
    </invoke>
    </dots_function_call>

Names may be quoted or bare (`name=search`), as both peers accept. Values are trimmed (the
peers strip them) and typed by the declared schema (`_arg_types`). A block whose body is a
JSON call object (`{"name": …, "arguments": …}`), the peers' fallback form, is read as
every JSON call object here (`_json_call`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sglang_gw.parsers.tools._json_args import Trim
from sglang_gw.parsers.tools._json_call import CallObject, Status
from sglang_gw.parsers.tools._xml_layouts import LOOSE_NAME_ATTR, element_layout
from sglang_gw.parsers.tools._xml_stream import XmlToolParser
from sglang_gw.parsers.types import ToolSpec

__all__ = ["DotsToolParser"]

_BLANK = " \t\r\n"


class DotsToolParser(XmlToolParser):
    fmt = element_layout("invoke", "parameter", LOOSE_NAME_ATTR, block="dots_function_call",
                         trim=Trim(lead=_BLANK, lead_max=-1, trail=_BLANK, trail_max=-1))
    special_markers: ClassVar[tuple[str, ...]] = ("<dots_function_call>", "</dots_function_call>")

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        super().__init__(tools)
        self._obj: CallObject | None = None

    def _opened(self, marker: str) -> None:
        super()._opened(marker)
        self.goto(self._block_start)

    def _block_start(self) -> bool:
        """Right after the block opens: a `{` makes its body one JSON call object."""
        rest = self.buf.lstrip(_BLANK)
        if not rest and not self.eof:
            return False
        if rest.startswith("{"):
            self.buf = rest[1:]
            self._obj = CallObject(self.out, self.tools, "")
            return self.goto(self._json_body)
        return self.goto(self._block)

    def _json_body(self) -> bool:
        obj = self._obj
        assert obj is not None
        end = obj.step(self.buf, 0)
        self.buf = self.buf[end:]
        if obj.status is Status.RUNNING:
            return False
        self._obj, self.strip_next = None, True
        return self.goto(self._block)

    def flush(self) -> None:
        if self._obj is not None:  # cut off inside the object: undecided, it is content
            self._obj.finish()
            self._obj = None
        super().flush()
