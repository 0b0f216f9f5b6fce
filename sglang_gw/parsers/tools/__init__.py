"""Tool-call parsers: `TOOL_PARSERS.get(name)(tools)` gives a per-choice parser.

Plugins: entry point group `sglang_gw.tool_parsers` (`name = "pkg.module:Class"`).
"""

from __future__ import annotations

from sglang_gw.parsers.tools.base import ToolParser
from sglang_gw.registry import Registry

__all__ = ["TOOL_PARSERS", "ToolParser"]

_P = "sglang_gw.parsers.tools"

TOOL_PARSERS: Registry[ToolParser] = Registry(
    "tool-call parser",
    {
        "json": f"{_P}.json_tools:JsonToolParser",
        "hermes": f"{_P}.hermes:HermesToolParser",
        "llama3": f"{_P}.llama3:Llama3ToolParser",
        "mistral": f"{_P}.mistral:MistralToolParser",
        "deepseek_v3": f"{_P}.deepseek:DeepSeekV3ToolParser",
        "deepseek_v31": f"{_P}.deepseek:DeepSeekV31ToolParser",
        "deepseek_v32": f"{_P}.deepseek:DeepSeekV32ToolParser",
        "kimi_k2": f"{_P}.kimi_k2:KimiK2ToolParser",
        "qwen3_coder": f"{_P}.qwen3_coder:Qwen3CoderToolParser",
        "pythonic": f"{_P}.pythonic:PythonicToolParser",
        "glm45": f"{_P}.glm:Glm45ToolParser",
        "glm47": f"{_P}.glm:Glm47ToolParser",
        "step3": f"{_P}.step3:Step3ToolParser",
        "minimax_m2": f"{_P}.minimax_m2:MinimaxM2ToolParser",
        "gpt_oss": f"{_P}.gpt_oss:GptOssToolParser",
        "cohere": f"{_P}.cohere:CohereToolParser",
        "passthrough": f"{_P}.passthrough:PassthroughToolParser",
        "longcat": f"{_P}.json_families:LongCatToolParser",
        "internlm": f"{_P}.json_families:InternLmToolParser",
        "granite": f"{_P}.json_families:GraniteToolParser",
        "hunyuan_a13b": f"{_P}.json_families:HunyuanToolParser",
        "phi4_mini_json": f"{_P}.json_families:Phi4MiniToolParser",
        "xlam": f"{_P}.json_families:XlamToolParser",
        "seed_oss": f"{_P}.seed_oss:SeedOssToolParser",
    },
    aliases={"qwen25": "hermes", "qwen": "hermes", "llama": "llama3", "glm4_moe": "glm45", "harmony": "gpt_oss",
             "deepseekv3": "deepseek_v3", "deepseekv31": "deepseek_v31", "deepseekv32": "deepseek_v32",
             # New families that write an existing format (issue 25, item 3).
             "jamba": "hunyuan_a13b", "granite4": "hermes", "ernie45": "hermes"},
    entry_point_group="sglang_gw.tool_parsers",
)
