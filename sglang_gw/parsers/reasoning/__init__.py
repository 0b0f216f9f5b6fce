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

REASONING_PARSERS: Registry[ReasoningParser] = Registry(
    "reasoning parser",
    {
        "deepseek_r1": ".families:DeepSeekR1ReasoningParser",
        "deepseek_v31": ".families:DeepSeekV31ReasoningParser",
        "qwen3": ".families:Qwen3ReasoningParser",
        "qwen3_thinking": ".families:Qwen3ThinkingReasoningParser",
        "glm45": ".families:Glm45ReasoningParser",
        "kimi": ".families:KimiReasoningParser",
        "kimi_k2": ".families:KimiK2ReasoningParser",
        "kimi_k2_thinking": ".families:KimiK2ThinkingReasoningParser",
        "minimax": ".families:MiniMaxReasoningParser",
        "minimax_append_think": ".families:MiniMaxAppendThinkReasoningParser",
        "step3": ".families:Step3ReasoningParser",
        "mistral": ".families:MistralReasoningParser",
        "cohere": ".families:CohereReasoningParser",
        "gpt_oss": ".harmony:GptOssReasoningParser",
        "passthrough": ".families:PassthroughReasoningParser",
        "seed_oss": ".families:SeedOssReasoningParser",
        "deepseek_v4": ".families:DeepSeekV4ReasoningParser",
        "olmo3": ".families:Olmo3ReasoningParser",
        "solar_open2": ".families:SolarOpen2ReasoningParser",
        "nemotron_v3": ".families:NemotronV3ReasoningParser",
        "hy_v3": ".families:HyV3ReasoningParser",
        "gemma4": ".families:Gemma4ReasoningParser",
        "minimax_m3": ".families:MiniMaxM3ReasoningParser",
        "kimi_k3": ".families:KimiK3ReasoningParser",
        "apertus": ".families:ApertusReasoningParser",
        "hunyuan_a13b": ".families:HunyuanA13BReasoningParser",
        "ernie45": ".families:Ernie45ReasoningParser",
        "telechat4": ".families:TeleChat4ReasoningParser",
        "granite": ".granite:GraniteReasoningParser",
        "inkling": ".inkling:InklingReasoningParser",
        "muse": ".muse:MuseReasoningParser",
        "k2_horizon": ".k2_horizon:K2HorizonReasoningParser",
    },
    package=__name__,
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
