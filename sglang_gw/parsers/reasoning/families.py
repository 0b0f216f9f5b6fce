"""Think-tag families: each one a few class attributes over `ReasoningParser`.

What each template does at the generation prompt (read from the upstream templates) is
noted per class; `start_state` reads the rendered prompt, so these defaults only matter
when the pipeline has no prompt text.
"""

from __future__ import annotations

from typing import ClassVar

from sglang_gw.parsers.reasoning.base import ReasoningParser, StartState
from sglang_gw.parsers.types import ReasoningDelta

__all__ = [
    "CohereReasoningParser",
    "DeepSeekR1ReasoningParser",
    "DeepSeekV31ReasoningParser",
    "DeepSeekV4ReasoningParser",
    "Glm45ReasoningParser",
    "KimiK2ReasoningParser",
    "KimiK2ThinkingReasoningParser",
    "KimiReasoningParser",
    "MiniMaxAppendThinkReasoningParser",
    "MiniMaxReasoningParser",
    "MistralReasoningParser",
    "Olmo3ReasoningParser",
    "PassthroughReasoningParser",
    "Qwen3ReasoningParser",
    "Qwen3ThinkingReasoningParser",
    "SeedOssReasoningParser",
    "SolarOpen2ReasoningParser",
    "Step3ReasoningParser",
]


class DeepSeekR1ReasoningParser(ReasoningParser):
    """DeepSeek-R1 and its distills. R1-0528's template opens `<think>\\n` in the prompt; the
    first R1 left it to the model, which sometimes skipped it: either way, reasoning first."""

    starts_in_reasoning = True
    opens_when_thinking = True


class DeepSeekV31ReasoningParser(ReasoningParser):
    """DeepSeek V3.1 / V3.2: the prompt ends `<think>` (thinking) or `<think></think>`
    (the template's default, thinking off)."""

    opens_when_thinking = True


class DeepSeekV4ReasoningParser(DeepSeekV31ReasoningParser):
    """DeepSeek V4: the prompt ends `<think>` (thinking) or `</think>` (chat). At long
    context the model may open its DSML tool block without closing the thought: the block
    ends reasoning and goes to content for the tool parser (as vLLM's V4 parser does)."""

    implicit_ends = ("<｜DSML｜tool_calls>",)


class Qwen3ReasoningParser(ReasoningParser):
    """Hybrid Qwen3: the model writes `<think>` itself; `enable_thinking=false` puts
    `<think>\\n\\n</think>\\n\\n` in the prompt. Qwen3.5 opens `<think>\\n` in the prompt."""


class Qwen3ThinkingReasoningParser(ReasoningParser):
    """Qwen3-*-Thinking-2507 and QwQ: the prompt always ends `<think>\\n`."""

    starts_in_reasoning = True
    opens_when_thinking = True


class Glm45ReasoningParser(ReasoningParser):
    """GLM-4.5/4.6 (model writes `<think>`; off: prompt ends `<think></think>`) and GLM-4.7/5
    (prompt ends `<think>`, off: `</think>`)."""


class KimiReasoningParser(ReasoningParser):
    """Kimi k1.5 / Kimi-VL-Thinking: `◁think▷…◁/think▷`, written by the model."""

    start = "◁think▷"
    end = "◁/think▷"


class KimiK2ReasoningParser(ReasoningParser):
    """Kimi-K2-Thinking writes `<think>` itself; K2.5+ open it in the prompt (`<think></think>`
    when off). The model may open its tool-call section without closing the block: that
    section ends reasoning and goes to content for the kimi_k2 tool parser."""

    implicit_ends = ("<|tool_calls_section_begin|>",)


class KimiK2ThinkingReasoningParser(KimiK2ReasoningParser):
    """Kimi K2 with thinking assumed on when the prompt does not say."""

    starts_in_reasoning = True
    opens_when_thinking = True


class MiniMaxReasoningParser(ReasoningParser):
    """MiniMax-M2: the prompt ends `]~b]ai\\n<think>\\n`; MiniMax-M1 outputs `<think>` itself."""

    starts_in_reasoning = True
    opens_when_thinking = True


class MiniMaxAppendThinkReasoningParser(MiniMaxReasoningParser):
    """MiniMax-M2 with its thinking left inline: all output is content, and the opening the
    prompt wrote (`<think>\\n`) is put back in front, so clients can send the turn back
    verbatim (MiniMax's advice for interleaved thinking)."""

    def __init__(self, *, prompt_text: str | None = None, enable_thinking: bool | None = None) -> None:
        super().__init__(prompt_text=prompt_text, enable_thinking=enable_thinking)
        self._prefix = ""
        if self.start_state(prompt_text, enable_thinking) is StartState.REASONING:
            opened = prompt_text.rfind(self.start) if prompt_text is not None else -1
            self._prefix = prompt_text[opened:] if prompt_text is not None and opened >= 0 else self.start + "\n"

    def feed(self, text: str) -> ReasoningDelta:
        if not text:
            return ReasoningDelta()
        text, self._prefix = self._prefix + text, ""
        return ReasoningDelta(content=text)

    def finish(self) -> ReasoningDelta:
        return ReasoningDelta()


class Step3ReasoningParser(ReasoningParser):
    """StepFun Step3 / Step-3.5: the prompt ends `<think>\\n`."""

    starts_in_reasoning = True
    opens_when_thinking = True


class Olmo3ReasoningParser(ReasoningParser):
    """OLMo 3 Think: the prompt ends `<think>` and the model closes it (`<think>` and
    `</think>` are plain text in its vocabulary), so, as with R1, the output starts inside
    the thought unless the prompt says otherwise. OLMo 3 Instruct does not think: `auto`
    gives it no reasoning parser."""

    starts_in_reasoning = True
    opens_when_thinking = True


class MistralReasoningParser(ReasoningParser):
    """Magistral and Ministral-3 Reasoning: `[THINK]…[/THINK]` special tokens, written by
    the model (the system prompt asks for them)."""

    start = "[THINK]"
    end = "[/THINK]"


class CohereReasoningParser(ReasoningParser):
    """Command A Reasoning: the prompt ends `<|START_THINKING|>` (reasoning on, the default)
    or `<|START_THINKING|><|END_THINKING|>`. The answer comes wrapped in
    `<|START_RESPONSE|>…<|END_RESPONSE|>` (or `<|START_TEXT|>…<|END_TEXT|>`): the wrappers
    are dropped; `<|START_ACTION|>` tool markup stays for the cohere tool parser."""

    start = "<|START_THINKING|>"
    end = "<|END_THINKING|>"
    # Command R7B opens no block in the prompt and may answer with no thinking at all.
    opens_when_thinking = True
    content_wrappers: ClassVar[tuple[str, ...]] = (
        "<|START_RESPONSE|>", "<|END_RESPONSE|>", "<|START_TEXT|>", "<|END_TEXT|>",
    )


class PassthroughReasoningParser(ReasoningParser):
    """`passthrough`: no split at all. Every character is content, markers included, so
    a deployment can name a parser explicitly and still get the model's text untouched."""

    special_markers: ClassVar[tuple[str, ...]] = ()

    def feed(self, text: str) -> ReasoningDelta:
        return ReasoningDelta(content=text)

    def finish(self) -> ReasoningDelta:
        return ReasoningDelta()


class SeedOssReasoningParser(ReasoningParser):
    """Seed-OSS: `<seed:think>…</seed:think>`, written by the model (budget reflections
    inside stay reasoning); `thinking_budget=0` writes a whole block into the prompt."""

    start = "<seed:think>"
    end = "</seed:think>"


class SolarOpen2ReasoningParser(ReasoningParser):
    """Upstage Solar Open 2: `<|think:start|>…<|think:end|>` (special tokens). The prompt ends
    `<|think:start|>` (reasoning effort medium and up, the default) or closes the pair
    (low). A tool call the model opens inside its thought ends it, for the tool parser
    (as vLLM's parser does)."""

    start = "<|think:start|>"
    end = "<|think:end|>"
    starts_in_reasoning = True
    opens_when_thinking = True
    implicit_ends = ("<|tool_call:start|>",)
