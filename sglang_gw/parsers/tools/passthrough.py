"""`passthrough`: a tool-call parser that parses nothing.

Every character is content, byte for byte, and no call is ever reported. It exists so a
deployment can name a parser explicitly (smg's `passthrough`) while leaving the model's
text untouched, e.g. when the client parses tool markup itself.
"""

from __future__ import annotations

from sglang_gw.parsers.tools.base import ToolParser
from sglang_gw.parsers.types import ToolDelta

__all__ = ["PassthroughToolParser"]


class PassthroughToolParser(ToolParser):
    def passes(self, text: str) -> bool:
        return True

    def feed(self, text: str) -> ToolDelta:
        return ToolDelta(content=text)

    def finish(self) -> ToolDelta:
        return ToolDelta()
