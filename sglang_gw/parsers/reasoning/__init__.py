"""Reasoning parsers: `REASONING_PARSERS.get(name)(prompt_text=..., enable_thinking=...)`
gives a per-choice parser with `feed(text) -> ReasoningDelta` and `finish()`.

- `base.py`: `ReasoningParser`, the think-block machine and the start-state rule.
- `families.py`: the think-tag families (class attributes only).
- `harmony.py`: gpt-oss channels.
- `granite.py`: Granite 3.2's text headers; `inkling.py`: Inkling's typed TML messages;
  `muse.py`: Muse Glimmer's recipient-addressed messages; `k2_horizon.py`: K2 Horizon's
  think tags, one spelling per effort.

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
        "deepseek_v4": f"{_F}:DeepSeekV4ReasoningParser",
        "olmo3": f"{_F}:Olmo3ReasoningParser",
        "solar_open2": f"{_F}:SolarOpen2ReasoningParser",
        "nemotron_v3": f"{_F}:NemotronV3ReasoningParser",
        "hy_v3": f"{_F}:HyV3ReasoningParser",
        "gemma4": f"{_F}:Gemma4ReasoningParser",
        "minimax_m3": f"{_F}:MiniMaxM3ReasoningParser",
        "kimi_k3": f"{_F}:KimiK3ReasoningParser",
        "apertus": f"{_F}:ApertusReasoningParser",
        "hunyuan_a13b": f"{_F}:HunyuanA13BReasoningParser",
        "ernie45": f"{_F}:Ernie45ReasoningParser",
        "telechat4": f"{_F}:TeleChat4ReasoningParser",
        "granite": "sglang_gw.parsers.reasoning.granite:GraniteReasoningParser",
        "inkling": "sglang_gw.parsers.reasoning.inkling:InklingReasoningParser",
        "muse": "sglang_gw.parsers.reasoning.muse:MuseReasoningParser",
        "k2_horizon": "sglang_gw.parsers.reasoning.k2_horizon:K2HorizonReasoningParser",
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
        # smg's names (crates/reasoning_parser/src/factory.rs: parsers, then model patterns).
        "base": "qwen3",  # a plain <think>…</think> block the model opens itself
        "cohere_cmd": "cohere",
        "kimi_k25": "kimi_k2",  # <think>, not forced open (smg: always_in_reasoning=false)
        "kimi_thinking": "kimi_k2_thinking",
        "deepseek-v3.1": "deepseek_v31",
        "deepseek-v3-1": "deepseek_v31",
        "qwen-thinking": "qwen3_thinking",
        "qwen": "qwen3",
        "glm-5": "glm45",
        "kimi-k2-thinking": "kimi_k2_thinking",
        "kimi-k2.5": "kimi_k2",
        "minimax-m2": "minimax",
        "mm-m2": "minimax",
        "command-r": "cohere",
        "command-a": "cohere",
        "c4ai-command": "cohere",
        # SGLang's (srt/parser/reasoning_parser.py DetectorMap) and vLLM's (vllm/reasoning).
        "mimo": "qwen3",  # both peers parse MiMo with their Qwen3 <think> detector
        "interns1": "qwen3",  # SGLang: Qwen3Detector
        "step3p5": "step3",  # SGLang: the DeepSeek-R1 detector, as for step3
        "cohere_command3": "cohere",
        "cohere_command4": "cohere",
        "holo2": "deepseek_v31",  # vLLM: <think> only when the prompt turned thinking on
        "minimax_m2_append_think": "minimax_append_think",
        "deepseek-v4": "deepseek_v4",
        # GigaChat 3.5: the prompt opens `<think>` when the `reasoning` kwarg is on (vLLM, SGLang).
        "gigachat35": "deepseek_v31",
        # New families (issue 25, item 3): peers' spellings of the rows above.
        "nemotron_3": "nemotron_v3", "nano_v3": "nemotron_v3", "nano-v3": "nemotron_v3",
        "nemotron-nano": "nemotron_v3", "nemotron-super": "nemotron_v3",
        "hunyuan": "hy_v3", "minimax-m3": "minimax_m3", "kimi-k3": "kimi_k3",
        "apertus2509": "apertus",
        # Poolside Laguna: `<think>` opened by the prompt only when thinking is asked for
        # (vLLM: R1 with `thinking`, else none; SGLang: Qwen3's detector, opt-in).
        "poolside_v1": "deepseek_v31",
        "muse_glimmer": "muse",  # vLLM's name (vllm/reasoning/muse_glimmer_reasoning_parser.py)
    },
    entry_point_group="sglang_gw.reasoning_parsers",
)
