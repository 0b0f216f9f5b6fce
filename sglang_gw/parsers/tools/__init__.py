"""Tool-call parsers: `TOOL_PARSERS.get(name)(tools)` gives a per-choice parser.

Plugins: entry point group `sglang_gw.tool_parsers` (`name = "pkg.module:Class"`).
"""

from __future__ import annotations

from sglang_gw.parsers.tools.base import ToolParser
from sglang_gw.registry import Registry

__all__ = ["TOOL_PARSERS", "ToolParser"]

TOOL_PARSERS: Registry[ToolParser] = Registry(
    "tool-call parser",
    {
        "json": ".json_tools:JsonToolParser",
        "hermes": ".hermes:HermesToolParser",
        "llama3": ".llama3:Llama3ToolParser",
        "mistral": ".mistral:MistralToolParser",
        "deepseek_v3": ".deepseek:DeepSeekV3ToolParser",
        "deepseek_v31": ".deepseek:DeepSeekV31ToolParser",
        "deepseek_v32": ".deepseek:DeepSeekV32ToolParser",
        "kimi_k2": ".kimi_k2:KimiK2ToolParser",
        "qwen3_coder": ".qwen3_coder:Qwen3CoderToolParser",
        "pythonic": ".pythonic:PythonicToolParser",
        "glm45": ".glm:Glm45ToolParser",
        "glm47": ".glm:Glm47ToolParser",
        "step3": ".step3:Step3ToolParser",
        "minimax_m2": ".minimax_m2:MinimaxM2ToolParser",
        "gpt_oss": ".gpt_oss:GptOssToolParser",
        "cohere": ".cohere:CohereToolParser",
        "passthrough": ".passthrough:PassthroughToolParser",
        "longcat": ".json_families:LongCatToolParser",
        "internlm": ".json_families:InternLmToolParser",
        "granite": ".json_families:GraniteToolParser",
        "hunyuan_a13b": ".json_families:HunyuanToolParser",
        "phi4_mini_json": ".json_families:Phi4MiniToolParser",
        "xlam": ".json_families:XlamToolParser",
        "seed_oss": ".seed_oss:SeedOssToolParser",
        "mimo": ".mimo:MiMoToolParser",
        "gigachat3": ".gigachat:GigaChat3ToolParser",
        "gigachat35": ".gigachat:GigaChat35ToolParser",
        "olmo3": ".olmo3:Olmo3ToolParser",
        "granite-20b-fc": ".json_families:Granite20bFcToolParser",
        "solar_open2": ".solar_open:SolarOpen2ToolParser",
        "dots": ".dots:DotsToolParser",
        "minicpm5": ".minicpm5:MiniCPM5ToolParser",
        "trinity": ".json_families:TrinityToolParser",
        "hy_v3": ".hunyuan:HyV3ToolParser",
        "gemma4": ".gemma4:Gemma4ToolParser",
        "functiongemma": ".gemma4:FunctionGemmaToolParser",
        "minimax_m3": ".minimax_m3:MinimaxM3ToolParser",
        "kimi_k3": ".kimi_k3:KimiK3ToolParser",
        "apertus": ".apertus:ApertusToolParser",
        "lfm2": ".lfm2:Lfm2ToolParser",
        "nemotron_json": ".nemotron_json:NemotronJsonToolParser",
        "inkling": ".inkling:InklingToolParser",
        "sarashina": ".sarashina:SarashinaToolParser",
        "k2_horizon": ".k2_horizon:K2HorizonToolParser",
        "muse": ".muse:MuseToolParser",
    },
    package=__name__,
    aliases={
        "qwen25": "hermes", "qwen": "hermes", "llama": "llama3", "glm4_moe": "glm45", "harmony": "gpt_oss",
        "deepseekv3": "deepseek_v3", "deepseekv31": "deepseek_v31", "deepseekv32": "deepseek_v32",
        # smg's names (crates/tool_parser/src/factory.rs).
        "qwen_xml": "qwen3_coder",
        "qwen_coder": "qwen3_coder",
        "deepseek": "deepseek_v3",
        "deepseek31": "deepseek_v31",
        "deepseek32": "deepseek_v32",
        "glm45_moe": "glm45",
        "glm47_moe": "glm47",
        "kimik2": "kimi_k2",
        # SGLang's (srt/function_call/function_call_parser.py ToolCallParserEnum).
        "glm": "glm45",
        "gpt-oss": "gpt_oss",
        "minimax-m2": "minimax_m2",
        "cohere_command4": "cohere",
        "step3p5": "qwen3_coder",  # SGLang parses Step-3.5 with its Qwen3-Coder detector
        # vLLM's (vllm/tool_parsers/__init__.py).
        "openai": "gpt_oss",
        "llama3_json": "llama3",
        "llama4_json": "llama3",  # vLLM: the same class as llama3_json
        "llama4_pythonic": "pythonic",
        "qwen3_xml": "qwen3_coder",
        "cohere_command3": "cohere",  # <|START_ACTION|>[…]<|END_ACTION|> as Command-A
        # New families that write an existing format (issue 25, item 3).
        "jamba": "hunyuan_a13b", "granite4": "hermes", "ernie45": "hermes", "interns1": "internlm",
        # DeepSeek V4: V3.2's DSML under a `tool_calls` wrapper, which `deepseek_v32` reads too.
        "deepseek_v4": "deepseek_v32", "deepseekv4": "deepseek_v32", "deepseek-v4": "deepseek_v32",
        "hunyuan": "hy_v3",  # SGLang: its Hunyuan detector reads the Hy3 format
        "minimax-m3": "minimax_m3",
        "apertus2509": "apertus",
        "ling3": "glm47",  # SGLang: the GLM-4.5 format in either layout; vLLM: GLM-4.7's
        # GLM's <tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value></tool_call>, typed by
        # the schema: SGLang's Spark25Detector (no newlines) and Poolside (vLLM, SGLang: newlines).
        "spark25": "glm47",
        "poolside_v1": "glm45",
        "muse_glimmer": "muse",  # vLLM's name (vllm/tool_parsers/muse_glimmer_tool_parser.py)
    },
    entry_point_group="sglang_gw.tool_parsers",
)
