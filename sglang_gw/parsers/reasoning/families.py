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
    "ApertusReasoningParser",
    "CohereReasoningParser",
    "DeepSeekR1ReasoningParser",
    "DeepSeekV31ReasoningParser",
    "DeepSeekV4ReasoningParser",
    "Ernie45ReasoningParser",
    "Gemma4ReasoningParser",
    "Glm45ReasoningParser",
    "HunyuanA13BReasoningParser",
    "HyV3ReasoningParser",
    "KimiK2ReasoningParser",
    "KimiK2ThinkingReasoningParser",
    "KimiK3ReasoningParser",
    "KimiReasoningParser",
    "MiniMaxAppendThinkReasoningParser",
    "MiniMaxM3ReasoningParser",
    "MiniMaxReasoningParser",
    "MistralReasoningParser",
    "Olmo3ReasoningParser",
    "NemotronV3ReasoningParser",
    "PassthroughReasoningParser",
    "Qwen3ReasoningParser",
    "Qwen3ThinkingReasoningParser",
    "SeedOssReasoningParser",
    "SolarOpen2ReasoningParser",
    "Step3ReasoningParser",
    "TeleChat4ReasoningParser",
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
    passing = True

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


class NemotronV3ReasoningParser(DeepSeekR1ReasoningParser):
    """NVIDIA Nemotron 3 (Nano, Super): the prompt ends `<think>\\n` (thinking, the template's
    default) or `<think></think>` (`enable_thinking=false`); the model never opens the block."""


class HyV3ReasoningParser(ReasoningParser):
    """Tencent Hy3: the prompt ends `<think>` (reasoning_effort low/high) or `<think></think>`
    (no_think, the template's default); with no prompt, content. The released tokenizer
    spells every marker with a suffix (`<think:opensource>`), the preview without: a prompt
    written with the suffixed tokens selects that spelling."""

    special_markers: ClassVar[tuple[str, ...]] = (
        "<think>", "</think>", "<think:opensource>", "</think:opensource>")

    def __new__(cls, *, prompt_text: str | None = None, enable_thinking: bool | None = None) -> HyV3ReasoningParser:
        if cls is HyV3ReasoningParser and prompt_text is not None and ":opensource" in prompt_text:
            cls = _HyV3SuffixedReasoningParser
        return super().__new__(cls)


class _HyV3SuffixedReasoningParser(HyV3ReasoningParser):
    start = "<think:opensource>"
    end = "</think:opensource>"
    special_markers = HyV3ReasoningParser.special_markers


class HunyuanA13BReasoningParser(ReasoningParser):
    """Hunyuan-A13B: `<think>\\n…\\n</think>\\n<answer>\\n…\\n</answer>`, written by the model
    (with thinking off it writes an empty block). The answer wrapper is dropped from content."""

    content_wrappers: ClassVar[tuple[str, ...]] = ("<answer>", "\n</answer>")
    special_markers: ClassVar[tuple[str, ...]] = ("<think>", "</think>", "<answer>", "</answer>", "\n</answer>")


class Gemma4ReasoningParser(ReasoningParser):
    """Gemma 4: `<|channel>thought\\n…<channel|>`, written by the model when the system turn
    holds `<|think|>` (`enable_thinking`); with thinking off the prompt ends with an empty
    `<|channel>thought\\n<channel|>`. The `thought` channel name is markup, not reasoning."""

    start = "<|channel>thought"
    end = "<channel|>"
    # The tokens are `<|channel>` and `<channel|>`; `thought` is plain text after the first.
    special_markers: ClassVar[tuple[str, ...]] = (start, end, "<|channel>")


class KimiK3ReasoningParser(ReasoningParser):
    """Kimi-K3 (XTML channels): `<|open|>think<|sep|>…<|close|>think<|sep|>` is reasoning;
    the prompt opens `think` (thinking) or `response`. A `tools` or `response` channel that
    opens before `think` closed ends reasoning too (a forced tool call may skip the close) and
    stays in the content; the `response`/`message` wrapper markers are dropped from content."""

    start = "<|open|>think<|sep|>"
    end = "<|close|>think<|sep|>"
    implicit_ends = ("<|open|>tools<|sep|>", "<|open|>response<|sep|>")
    content_wrappers = ("<|open|>response<|sep|>", "<|close|>response<|sep|>", "<|open|>message<|sep|>",
                        "<|close|>message<|sep|>")
    # The tokens are the three structural markers; the channel names are plain text.
    special_markers = ("<|open|>", "<|close|>", "<|sep|>", start, end, "<|open|>tools<|sep|>", *content_wrappers)


class ApertusReasoningParser(ReasoningParser):
    """Apertus: `<|inner_prefix|>…<|inner_suffix|>`, written by the model. Its template lets
    tool calls happen inside the block; a `<|tools_prefix|>` there ends reasoning and stays
    in the content, so the call is parsed (vLLM's parser would leave it in reasoning)."""

    start = "<|inner_prefix|>"
    end = "<|inner_suffix|>"
    implicit_ends = ("<|tools_prefix|>",)


class MiniMaxM3ReasoningParser(ReasoningParser):
    """MiniMax-M3: `<mm:think>…</mm:think>`. The prompt ends `<mm:think>` (thinking_mode
    enabled) or `</mm:think>` (disabled); adaptive (the default) leaves it to the model. Past
    turns without thinking are printed after a lone `</mm:think>`, which the model may copy at
    the start of its answer: dropped there."""

    start = "<mm:think>"
    end = "</mm:think>"
    drops_leading_end = True


class Ernie45ReasoningParser(ReasoningParser):
    """ERNIE-4.5 Thinking: `…\n</think>\n\n<response>\n…\n</response>` (or the answer bare
    after `</think>`); the thought needs no `<think>` of its own, so reasoning comes first
    (vLLM's `ernie45`). The `<response>` wrapper is dropped from content."""

    starts_in_reasoning = True
    opens_when_thinking = True
    content_wrappers: ClassVar[tuple[str, ...]] = ("<response>", "</response>")


class TeleChat4ReasoningParser(ReasoningParser):
    """TeleChat4: `<think>…</think>`; the template opens `<think>` in the prompt when
    `enable_thinking` is on and writes nothing otherwise (SGLang's `telechat4`)."""

    opens_when_thinking = True
