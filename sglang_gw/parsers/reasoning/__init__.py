"""Reasoning parsers: `REASONING_PARSERS.get(name)(prompt_text=..., enable_thinking=...)`
gives a per-choice parser with `feed(text) -> ReasoningDelta` and `finish()`.

- `base.py`: `ReasoningParser`, the think-block machine and the start-state rule.
- `families.py`: the think-tag families (class attributes only).
- `harmony.py`: gpt-oss channels.

Registered names and aliases are CLI values (`--reasoning-parser`). Plugins: entry point
group `sglang_gw.reasoning_parsers` (`name = "pkg.module:Class"`) or
`REASONING_PARSERS.register(name)` on a `ReasoningParser` subclass.
"""

from __future__ import annotations

from sglang_gw.parsers.reasoning.base import ReasoningParser, StartState
from sglang_gw.registry import Registry

__all__ = ["REASONING_PARSERS", "ReasoningParser", "StartState"]

_F = "sglang_gw.parsers.reasoning.families"

REASONING_PARSERS: Registry[ReasoningParser] = Registry(
    "reasoning parser",
    {
        "deepseek_r1": f"{_F}:DeepSeekR1ReasoningParser",
        "deepseek_v31": f"{_F}:DeepSeekV31ReasoningParser",
        "qwen3": f"{_F}:Qwen3ReasoningParser",
        "qwen3_thinking": f"{_F}:Qwen3ThinkingReasoningParser",
        "glm45": f"{_F}:Glm45ReasoningParser",
        "kimi": f"{_F}:KimiReasoningParser",
        "kimi_k2": f"{_F}:KimiK2ReasoningParser",
        "kimi_k2_thinking": f"{_F}:KimiK2ThinkingReasoningParser",
        "minimax": f"{_F}:MiniMaxReasoningParser",
        "minimax_append_think": f"{_F}:MiniMaxAppendThinkReasoningParser",
        "step3": f"{_F}:Step3ReasoningParser",
        "mistral": f"{_F}:MistralReasoningParser",
        "cohere": f"{_F}:CohereReasoningParser",
        "gpt_oss": "sglang_gw.parsers.reasoning.harmony:GptOssReasoningParser",
        "passthrough": f"{_F}:PassthroughReasoningParser",
        "seed_oss": f"{_F}:SeedOssReasoningParser",
    },
    # The spellings SGLang and vLLM use for the same formats, so their flags carry over.
    aliases={
        "deepseek-r1": "deepseek_r1",
        "deepseek-v3": "deepseek_v31",
        "deepseek_v3": "deepseek_v31",
        "deepseek-v31": "deepseek_v31",
        "qwen3-thinking": "qwen3_thinking",
        "glm4_moe": "glm45",
        "glm47": "glm45",
        "kimi-k2": "kimi_k2",
        "minimax_m2": "minimax",
        "minimax-append-think": "minimax_append_think",
        "magistral": "mistral",
        "gpt-oss": "gpt_oss",
        "harmony": "gpt_oss",
        "openai_gptoss": "gpt_oss",
    },
    entry_point_group="sglang_gw.reasoning_parsers",
)
