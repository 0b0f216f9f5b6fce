"""Nemotron Nano v2 (`nemotron_json`, vLLM's name) tool calls: a JSON array in a tag pair::

    <TOOLCALL>[{"name": "get_weather", "arguments": {"city": "Paris"}}, …]</TOOLCALL>

The `_marked_json.py` format with Nemotron's tags (its template writes them so). Nemotron 3
writes Qwen3-Coder's XML instead (`qwen3_coder`).
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers.tools._marked_json import MarkedJsonParser

__all__ = ["NemotronJsonToolParser"]


class NemotronJsonToolParser(MarkedJsonParser):
    open = "<TOOLCALL>"
    close = "</TOOLCALL>"
    special_markers: ClassVar[tuple[str, ...]] = ("<TOOLCALL>", "</TOOLCALL>")
