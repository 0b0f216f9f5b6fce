"""`auto`: choose the reasoning and tool-call parsers from what a model folder tells us.

1. The model id (served name or path), matched against `MODEL_RULES`: case-insensitive,
   per path component from the last one backwards, so `deepseek-ai/DeepSeek-R1`,
   `/models/Qwen3-8B-AWQ/` and `…/models--Qwen--Qwen3-8B/snapshots/<hash>` all work. The
   first rule matching the nearest component wins, so specific rows come first.
2. Failing that, the tokenizer's added tokens (special or not: Qwen's `<think>` is not
   special) and markers in the chat template, which identify the wire format even for
   fine-tunes with unknown names.
3. Failing that, the architecture in the folder's config.json (`ARCHITECTURE_RULES`), only
   for architectures that one family alone uses.
4. None when none is sure; the pipeline then leaves the text alone.

`choose_*` also say why (a `Choice`), for the start-up log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = ["ARCHITECTURE_RULES", "MODEL_RULES", "Choice", "ModelRule", "choose_reasoning_parser", "choose_tool_parser",
           "detect_reasoning_parser", "detect_tool_parser"]


@dataclass(slots=True, frozen=True)
class ModelRule:
    """Model ids matching `pattern` use these parsers (None: the model has no such output)."""

    pattern: re.Pattern[str]
    reasoning: str | None
    tools: str | None


def _rules(table: str) -> tuple[ModelRule, ...]:
    """The rows of `table`: a pattern, then the reasoning and tool parser (`-`: none),
    separated by whitespace (a pattern writes a space as `\\s`); `#` starts a comment line."""
    rules = []
    for line in table.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, reasoning, tools = line.split()
            rules.append(ModelRule(re.compile(pattern, re.IGNORECASE), _parser(reasoning), _parser(tools)))
    return tuple(rules)


def _parser(cell: str) -> str | None:
    return None if cell == "-" else cell


MODEL_RULES: tuple[ModelRule, ...] = _rules(r"""
# pattern                                             reasoning         tools
# Families with their own JSON wrappers (issue 25). First: "Llama-xLAM-2" is no Llama
# format, and no older row names these families.
xlam                                                  -                 xlam
# Granite 3.2 thinks in "Here is my thought process:" headers.
granite-?3\.2                                         granite           granite
granite-?3                                            -                 granite
granite-?4                                            -                 granite4
internlm|intern-s1                                    -                 internlm
hunyuan-a13b                                          hunyuan_a13b      hunyuan_a13b
ernie-?4\.5.*thinking                                 ernie45           ernie45
ernie-?4\.5                                           -                 ernie45
telechat-?4                                           telechat4         -
laguna|poolside                                       poolside_v1       poolside_v1
inkling                                               inkling           inkling
sarashina                                             -                 sarashina
(?<!kimi-)k2[-_]?(horizon|v3)                         k2_horizon        k2_horizon
muse-?glimmer                                         muse              muse
longcat-flash                                         -                 longcat
jamba-?2|jamba-reasoning                              -                 hermes
jamba                                                 -                 jamba
phi-?4-mini                                           -                 phi4_mini_json
seed-oss                                              seed_oss          seed_oss
mimo-v2                                               qwen3             mimo
gigachat-?3\.5                                        gigachat35        gigachat35
gigachat-?3                                           -                 gigachat3
olmo-?3.*think                                        olmo3             olmo3
olmo-?3                                               -                 olmo3
granite-20b-functioncalling                           -                 granite-20b-fc
solar-open-?2                                         solar_open2       solar_open2
minicpm-?5                                            qwen3             minicpm5
trinity-large-thinking                                qwen3             qwen3_coder
trinity-(mini|nano|large)                             qwen3             trinity
# Before the MiniMax-M2 row (m[2-9]) and clear of "translategemma-4b" and the like.
minimax-m3                                            minimax_m3        minimax_m3
functiongemma                                         -                 functiongemma
(?<![a-z])gemma-?4(?![0-9])                           gemma4            gemma4
(?<![a-z])hy-?3(?![0-9])                              hy_v3             hy_v3
nemotron-3-(nano|super|ultra)                         nemotron_v3       qwen3_coder
nemotron-nano-.*v2                                    nemotron_v3       nemotron_json
kimi-k3                                               kimi_k3           kimi_k3
apertus                                               apertus           apertus
lfm-?2                                                -                 lfm2
# DeepSeek. Distills keep R1's reasoning but were never taught its tool format.
deepseek-r1-distill                                   deepseek_r1       -
deepseek-r1|r1-1776|mai-ds-r1                         deepseek_r1       deepseek_v3
deepseek-v4                                           deepseek_v4       deepseek_v4
deepseek-v3[._-]?2                                    deepseek_v31      deepseek_v32
deepseek-v3[._-]?1                                    deepseek_v31      deepseek_v31
deepseek-v3                                           -                 deepseek_v3
# Qwen. 2507 split the hybrid into -Instruct (no thinking) and -Thinking.
qwen3-coder                                           -                 qwen3_coder
qwen3\.\d                                             qwen3             qwen3_coder
qwen3-.*thinking                                      qwen3_thinking    hermes
qwen3-.*instruct                                      -                 hermes
qwen3                                                 qwen3             hermes
qwq                                                   qwen3_thinking    hermes
qwen2\.5|qwen2-                                       -                 hermes
# Nous Hermes before Llama: "Hermes-3-Llama-3.1-8B" speaks hermes.
hermes-?[234]                                         -                 hermes
llama-?4                                              -                 pythonic
llama-?3([._-]\d)?(\b|-)                              -                 llama3
# Mistral: Magistral and the Ministral-3 reasoning models think in [THINK].
magistral|ministral-3-.*reasoning                     mistral           mistral
mistral|ministral|devstral|codestral|mixtral|pixtral  -                 mistral
# GLM: 4.7 and 5 write arguments without newlines (glm47 tool format).
glm-?4\.[56]                                          glm45             glm45
glm-?4\.7|glm-?5                                      glm45             glm47
glm-z1|glm-4\.1v-.*thinking                           glm45             -
# Kimi.
kimi-k2-thinking                                      kimi_k2_thinking  kimi_k2
kimi-k2\.\d                                           kimi_k2           kimi_k2
kimi-k2                                               -                 kimi_k2
kimi-vl-.*thinking|kimi-k1\.5                         kimi              -
# MiniMax, StepFun, OpenAI, Cohere.
minimax-m[2-9]                                        minimax           minimax_m2
minimax-m1                                            minimax           -
step-?3\.\d                                           step3             qwen3_coder
step-?3-?vl                                           step3             hermes
step-?3                                               step3             step3
gpt-oss                                               gpt_oss           gpt_oss
command-a-reasoning                                   cohere            cohere
command-a|command-r7b                                 -                 cohere
""")


# Architectures (config.json) one family alone uses → (reasoning, tools). Shared ones
# (DeepseekV3ForCausalLM: V3, R1 and Kimi-K2; LlamaForCausalLM: every fine-tune) are absent.
ARCHITECTURE_RULES: dict[str, tuple[str | None, str | None]] = {
    "GptOssForCausalLM": ("gpt_oss", "gpt_oss"),
    "Glm4MoeForCausalLM": ("glm45", "glm45"),
    "MiniMaxM2ForCausalLM": ("minimax", "minimax_m2"),
    "Step3VLForConditionalGeneration": ("step3", "step3"),
    "Qwen3ForCausalLM": ("qwen3", "hermes"),
    "Qwen3MoeForCausalLM": ("qwen3", "hermes"),
    "DeepseekV4ForCausalLM": ("deepseek_v4", "deepseek_v4"),
    "MiMoV2FlashForCausalLM": ("qwen3", "mimo"),
    "Olmo3ForCausalLM": (None, "olmo3"),  # Instruct and Think share it: no reasoning guess
    "Gemma4ForConditionalGeneration": ("gemma4", "gemma4"),
    "Gemma4ForCausalLM": ("gemma4", "gemma4"),
    "MuseGlimmerForConditionalGeneration": ("muse", "muse"),
}


@dataclass(slots=True, frozen=True)
class Choice:
    """The parser `auto` chose (None: none) and why, in words for the start-up log."""

    name: str | None
    reason: str


def choose_reasoning_parser(model_id: str, special_tokens: Collection[str], template: str | None,
                            architectures: Collection[str] = ()) -> Choice:
    return _choose(0, _reasoning_by_markers, model_id, special_tokens, template, architectures)


def choose_tool_parser(model_id: str, special_tokens: Collection[str], template: str | None,
                       architectures: Collection[str] = ()) -> Choice:
    return _choose(1, _tools_by_markers, model_id, special_tokens, template, architectures)


def _choose(kind: int, by_markers: Callable[[set[str], str | None], str | None], model_id: str,
            special_tokens: Collection[str], template: str | None, architectures: Collection[str]) -> Choice:
    """The model id first, then tokens and template markers, then the architecture; `kind`
    picks the reasoning (0) or tool (1) parser of a row."""
    rule = _by_id(model_id)
    if rule is not None:
        return Choice(rule.tools if kind else rule.reasoning, f"model id {model_id!r} matches /{rule.pattern.pattern}/")
    found = by_markers(set(special_tokens), template)
    if found is not None:
        return Choice(found, "tokenizer tokens and chat-template markers")
    return _by_architecture(architectures, kind)


def _by_architecture(architectures: Collection[str], column: int) -> Choice:
    for arch in architectures:
        if arch in ARCHITECTURE_RULES:
            return Choice(ARCHITECTURE_RULES[arch][column], f"architecture {arch}")
    return Choice(None, "no model id rule, tokenizer marker or architecture matched")


def _components(model_id: str) -> list[str]:
    parts = [p for p in PurePosixPath(model_id.replace("\\", "/")).parts if p not in ("/", ".", "..")]
    return parts[::-1]


def _by_id(model_id: str) -> ModelRule | None:
    for part in _components(model_id):
        for rule in MODEL_RULES:
            if rule.pattern.search(part):
                return rule
    return None


def detect_reasoning_parser(model_id: str, special_tokens: Collection[str], template: str | None) -> str | None:
    """The reasoning parser for `auto`, or None (no reasoning, or not sure)."""
    return choose_reasoning_parser(model_id, special_tokens, template).name


def detect_tool_parser(model_id: str, special_tokens: Collection[str], template: str | None) -> str | None:
    """The tool-call parser for `auto`, or None (no tool format, or not sure)."""
    return choose_tool_parser(model_id, special_tokens, template).name


# Special tokens that name a family on their own, checked first and in this order.
_REASONING_TOKENS = (("<|channel|>", "gpt_oss"), ("◁think▷", "kimi"), ("<seed:think>", "seed_oss"),
                     ("<|think:start|>", "solar_open2"),
                     ("<|channel>", "gemma4"), ("<mm:think>", "minimax_m3"), ("<think:opensource>", "hy_v3"),
                     ("<|open|>", "kimi_k3"), ("<|inner_prefix|>", "apertus"))
_TOOL_TOKENS = (("<|channel|>", "gpt_oss"), ("<|tool_calls_section_begin|>", "kimi_k2"),
                ("<|action_start|>", "internlm"), ("<|tool_call|>", "granite"), ("<|tool_call:start|>", "solar_open2"),
                ("<|tool_call>", "gemma4"), ("<start_function_call>", "functiongemma"),
                ("<tool_sep>", "hy_v3"), ("<tool_sep:opensource>", "hy_v3"), ("<|open|>", "kimi_k3"),
                ("<|tools_prefix|>", "apertus"), ("<|tool_call_start|>", "lfm2"),
                ("<TOOLCALL>", "nemotron_json"))


def _by_token(tokens: set[str], rows: tuple[tuple[str, str], ...]) -> str | None:
    return next((name for token, name in rows if token in tokens), None)


def _reasoning_by_markers(tokens: set[str], template: str | None) -> str | None:
    text = template or ""
    found = _by_token(tokens, _REASONING_TOKENS)
    if found is not None:
        return found
    if "[THINK]" in tokens and (template is None or "[THINK]" in text):
        return "mistral"
    if "<|START_THINKING|>" in tokens:
        return "cohere"
    if "<|think:start|>" in text:
        return "solar_open2"
    in_template = any(m in text for m in ("<think>", "</think>", "thinking_start_token"))
    if "<think>" not in tokens and not in_template:
        return None
    if template is not None and not in_template:
        return None  # the vocabulary has the tag, this model's template never uses it
    return _think_family(text)


def _think_family(template: str) -> str:
    """Which `<think>` family, from the template's own turn markers."""
    if "｜DSML｜" in template and "function_calls" not in template:
        return "deepseek_v4"  # V4's DSML block is `tool_calls`
    if "<functions>" in template and "<function_calls>" in template:
        return "olmo3"
    if "<｜Assistant｜>" in template:
        return "deepseek_v31" if "thinking_start_token" in template or "<think></think>" in template else "deepseek_r1"
    if "<|im_assistant|>" in template:
        return "kimi_k2"
    if "]~b]ai" in template:
        return "minimax"
    if "<|BOT|>" in template:
        return "step3"
    if "<|assistant|>" in template:
        return "glm45"
    if "<|im_start|>assistant\\n<think>\\n'" in template and "enable_thinking" not in template:
        return "qwen3_thinking"
    return "qwen3"  # the model writes `<think>` itself, if at all: the safe default


def _tools_by_markers(tokens: set[str], template: str | None) -> str | None:
    text = template or ""
    for where, rows in _TOOL_MARKERS:
        for marker, family in rows:
            if (where != "template" and marker in tokens) or (where != "token" and marker in text):
                return family if isinstance(family, str) else family(template)
    return None


def _dsml_family(template: str | None) -> str:
    return "deepseek_v4" if "function_calls" not in (template or "") else "deepseek_v32"  # V4's block is `tool_calls`


def _deepseek_sections_family(template: str | None) -> str:
    return "deepseek_v31" if template is not None and "```json" not in template else "deepseek_v3"


def _tool_call_family(template: str | None) -> str:
    """`<tool_call>` formats: GLM's arg_key pairs, Qwen3-Coder's XML, or Hermes JSON."""
    template = template or ""
    if "<arg_key>" in template:
        return "glm47" if "</arg_key><arg_value>" in template else "glm45"
    if "<function=" in template:
        # MiMo tells the model its values are kept exactly as written (no newline trimming).
        return "mimo" if "preserved exactly as-is" in template else "qwen3_coder"
    return "hermes"


# In this order: runs of markers with where they count (a special token, the chat
# template, or either) and the family each names (or how the template tells which).
_Family = str | Callable[[str | None], str]
_TOOL_MARKERS: tuple[tuple[str, tuple[tuple[str, _Family], ...]], ...] = (
    ("token", _TOOL_TOKENS),
    ("template", (("｜DSML｜", _dsml_family), ("｜GCML｜", "gigachat35"))),
    ("either", (("<|function_call|>", "gigachat3"),)),
    ("template", (("'function call'", "gigachat3"), ("<function_calls>", "olmo3"),
                  ("<|tool_call:start|>", "solar_open2"), ("<dots_function_call>", "dots"),
                  ('<function name="function-name"><param name=', "minicpm5"))),
    ("either", (("<｜tool▁calls▁begin｜>", _deepseek_sections_family),)),
    ("token", (("[TOOL_CALLS]", "mistral"), ("<|python_tag|>", "llama3"), ("<|START_ACTION|>", "cohere"))),
    ("template", (("]<]minimax[>[", "minimax_m3"), ("<tool_sep", "hy_v3"), ("<minimax:tool_call>", "minimax_m2"),
                  ("<steptml:invoke", "step3"), ("<seed:tool_call>", "seed_oss"), ("<longcat_tool_call>", "longcat"))),
    ("either", (("<tool_call>", _tool_call_family),)),
)
