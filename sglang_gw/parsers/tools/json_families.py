"""Families whose calls are JSON objects in a wrapper; each is a few class attributes.

Block per call, as Hermes (`hermes.py`) but under the family's own tags:

    LongCat-Flash   <longcat_tool_call>\\n{"name": …, "arguments": …}\\n</longcat_tool_call>
    InternLM 2.5 /  <|action_start|><|plugin|>\\n{"name": …, "parameters": …}\\n<|action_end|>
    Intern-S1
    Trinity         <tool_call>\\n{"name": …, "arguments": …}\\n</tool_call>, think tags dropped

One marker, then an array (or one object), `_marked_json.py`:

    Granite 3.x     <|tool_call|>[{"name": …, "arguments": …}, …]
    Hunyuan-A13B    <tool_calls>[{"name": …, "arguments": …}, …]</tool_calls>
    Jamba 1.5       <tool_calls>[{"name": …, "arguments": …}, …]</tool_calls>
    Phi-4-mini      functools[{"name": …, "arguments": …}, …]
    Granite 20B FC  <function_call> {"name": …, "arguments": …}, the marker before each call

xLAM writes the bare array (`[{"name": …, "arguments": …}]`), the `json` parser's format.
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers._scan import Markers
from sglang_gw.parsers.tools._marked_json import MarkedJsonParser
from sglang_gw.parsers.tools.hermes import HermesToolParser
from sglang_gw.parsers.tools.json_tools import JsonToolParser

__all__ = [
    "Granite20bFcToolParser",
    "GraniteToolParser",
    "HunyuanToolParser",
    "InternLmToolParser",
    "LongCatToolParser",
    "Phi4MiniToolParser",
    "TrinityToolParser",
    "XlamToolParser",
]


class LongCatToolParser(HermesToolParser):
    open_tag = "<longcat_tool_call>"
    close_tag = "</longcat_tool_call>"


_THINK_TAGS = ("<think>", "</think>")


class TrinityToolParser(HermesToolParser):
    """Arcee Trinity: Hermes blocks, with `<think>`/`</think>` dropped from the text (as
    SGLang's Trinity detector does): the models may write a call inside their thought,
    and a reasoning parser that ends the thought at the call leaves its `</think>` behind."""

    text_markers = Markers(("<tool_call>", *_THINK_TAGS))

    def _text(self) -> bool:
        marker = self.text_until(self.text_markers)
        if marker is None:
            return False
        return True if marker in _THINK_TAGS else self._open_block()


class InternLmToolParser(HermesToolParser):
    # Two special tokens open a call; the template writes them back to back.
    open_tag = "<|action_start|><|plugin|>"
    close_tag = "<|action_end|>"
    special_markers: ClassVar[tuple[str, ...]] = ("<|action_start|>", "<|plugin|>", "<|action_end|>")


class GraniteToolParser(MarkedJsonParser):
    open = "<|tool_call|>"
    special_markers: ClassVar[tuple[str, ...]] = ("<|tool_call|>",)


class HunyuanToolParser(MarkedJsonParser):
    """Hunyuan-A13B, and Jamba 1.5 (the same wrapper)."""

    open = "<tool_calls>"
    close = "</tool_calls>"
    special_markers: ClassVar[tuple[str, ...]] = ("<tool_calls>", "</tool_calls>")


class Phi4MiniToolParser(MarkedJsonParser):
    # A plain word, not a token: "functools" in prose is content unless `[` or `{` follows.
    open = "functools"


class XlamToolParser(JsonToolParser):
    """xLAM-2: the output is the JSON array of calls (or text, when it answers)."""


class Granite20bFcToolParser(MarkedJsonParser):
    """granite-20b-functioncalling: each call is `<function_call> {…}` (plain text in its
    vocabulary); text before the first marker is content."""

    open = "<function_call>"
