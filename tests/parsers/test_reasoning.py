"""The shared conformance suite for every think-tag reasoning parser.

Each family is described by its wire (markers, the whitespace its model writes, the prompt
endings its template produces); the same cases are rendered in every wire and parsed
through every split of `harness.chunkings` (whole, one character at a time, token-aligned
with a real tokenizer, 100 seeded random splits) plus every two-way split. gpt-oss has its
own file (harmony has channels, not tags), as do the registry-level checks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from tokenizers import Tokenizer

from sglang_gw.parsers.reasoning import REASONING_PARSERS, ReasoningParser, StartState
from sglang_gw.parsers.reasoning.base import MAX_LEADING_WS
from sglang_gw.testing.models import model_dir
from tests.parsers.harness import run_reasoning, split_invariant_reasoning


@functools.cache
def tokenizer(family: str | None) -> Tokenizer | None:
    """A real tokenizer for token-aligned chunks; None where the folder was never built."""
    if family is None:
        return None
    try:
        return Tokenizer.from_file(str(model_dir(family) / "tokenizer.json"))
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class Wire:
    """How one family writes a think block, and what its template puts at the prompt's end."""

    tokenizer: str | None
    lead: str = ""  # written before the start marker (GLM: "\n")
    after_start: str = ""
    before_end: str = ""
    after_end: str = ""
    open_prompt: str = "<|im_start|>assistant\n<think>\n"
    closed_prompt: str = "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    plain_prompt: str = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


_QWEN = dict(after_start="\n", before_end="\n", after_end="\n\n")
WIRES: dict[str, Wire] = {
    "qwen3": Wire("qwen3", **_QWEN),
    "qwen3_thinking": Wire("qwen3", **_QWEN),
    "deepseek_r1": Wire("deepseek_r1", **_QWEN, open_prompt="<｜User｜>Hi<｜Assistant｜><think>\n",
                        closed_prompt="<｜Assistant｜><think>\n\n</think>\n\n", plain_prompt="<｜Assistant｜>"),
    "deepseek_v31": Wire("deepseek_r1", open_prompt="<｜User｜>Hi<｜Assistant｜><think>",
                         closed_prompt="<｜User｜>Hi<｜Assistant｜><think></think>", plain_prompt="<｜Assistant｜>"),
    "deepseek_v4": Wire("deepseek_r1", open_prompt="<｜User｜>Hi<｜Assistant｜><think>",
                        closed_prompt="<｜User｜>Hi<｜Assistant｜></think>", plain_prompt="<｜Assistant｜>"),
    "glm45": Wire("qwen3", lead="\n", after_end="\n", open_prompt="<|user|>Hi<|assistant|><think>",
                  closed_prompt="<|user|>\nHi/nothink<|assistant|>\n<think></think>", plain_prompt="<|assistant|>"),
    "kimi": Wire("qwen3", open_prompt="<|im_middle|>◁think▷", closed_prompt="<|im_middle|>◁think▷◁/think▷",
                 plain_prompt="<|im_assistant|>assistant<|im_middle|>"),
    "kimi_k2": Wire("qwen3", open_prompt="<|im_middle|><think>", closed_prompt="<|im_middle|><think></think>",
                    plain_prompt="<|im_assistant|>assistant<|im_middle|>"),
    "kimi_k2_thinking": Wire("qwen3", open_prompt="<|im_middle|><think>",
                             closed_prompt="<|im_middle|><think></think>",
                             plain_prompt="<|im_assistant|>assistant<|im_middle|>"),
    "minimax": Wire("qwen3", **_QWEN, open_prompt="]~b]ai\n<think>\n", plain_prompt="]~b]ai\n"),
    "step3": Wire("qwen3", **_QWEN, open_prompt="<|BOT|>assistant\n<think>\n", plain_prompt="<|BOT|>assistant\n"),
    "mistral": Wire("mistral_nemo", open_prompt="[/INST][THINK]", closed_prompt="[/INST][THINK][/THINK]",
                    plain_prompt="[INST]Hi[/INST]"),
    "cohere": Wire(None, open_prompt="<|CHATBOT_TOKEN|><|START_THINKING|>",
                   closed_prompt="<|CHATBOT_TOKEN|><|START_THINKING|><|END_THINKING|>",
                   plain_prompt="<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"),
    "olmo3": Wire(None, open_prompt="<|im_start|>assistant\n<think>"),
    "solar_open2": Wire(None, open_prompt="<|im:start|>assistant<|im:content|><|think:start|>",
                        closed_prompt="<|im:start|>assistant<|im:content|><|think:start|><|think:end|>",
                        plain_prompt="<|im:start|>assistant<|im:content|>"),
    "seed_oss": Wire(None, after_end="\n", open_prompt="<seed:bos>assistant\n<seed:think>",
                     closed_prompt="<seed:bos>assistant\n<seed:think>\nNo budget.\n</seed:think>",
                     plain_prompt="<seed:bos>assistant\n"),
    "nemotron_v3": Wire("qwen3", **_QWEN, closed_prompt="<|im_start|>assistant\n<think></think>"),
    "hy_v3": Wire(None, open_prompt="<｜hy_Assistant｜><think>", closed_prompt="<｜hy_Assistant｜><think></think>",
                  plain_prompt="<｜hy_User｜>Hi<｜hy_Assistant｜>"),
    "gemma4": Wire(None, after_start="\n", open_prompt="<|turn>model\n<|channel>thought\n",
                   closed_prompt="<|turn>model\n<|channel>thought\n<channel|>", plain_prompt="<|turn>model\n"),
    "minimax_m3": Wire(None, open_prompt="]~b]ai\n<mm:think>", closed_prompt="]~b]ai\n</mm:think>",
                       plain_prompt="]~b]ai\n"),
    "kimi_k3": Wire(None, open_prompt="<|open|>message<|sep|><|open|>think<|sep|>",
                    closed_prompt="<|open|>think<|sep|><|close|>think<|sep|>", plain_prompt="<|open|>message<|sep|>"),
    "apertus": Wire(None, open_prompt="<|assistant_start|><|inner_prefix|>",
                    closed_prompt="<|assistant_start|><|inner_prefix|><|inner_suffix|>",
                    plain_prompt="<|assistant_start|>"),
    "hunyuan_a13b": Wire(None, after_start="\n", before_end="\n", after_end="\n", open_prompt="<|extra_0|><think>\n",
                         closed_prompt="<|extra_0|><think>\n\n</think>\n", plain_prompt="<|extra_0|>"),
}
WIRES["k2_horizon"] = Wire(None, open_prompt="<ifm|assistant><ifm|think>",
                           closed_prompt="<ifm|assistant><ifm|think></ifm|think>", plain_prompt="<ifm|assistant>")
# Parsers whose behaviour is not "split into two fields"; each has its own tests.
WIRES["ernie45"] = Wire(None, before_end="\n", after_end="\n\n", open_prompt="<|im_start|>assistant\n<think>\n")
WIRES["telechat4"] = Wire(None, open_prompt="<_user>Hi<_bot><think>\n", closed_prompt="<_bot><think>\n</think>\n",
                          plain_prompt="<_user>Hi<_bot>")
# granite (plain-text headers): tests/parsers/test_reasoning_pending_rows.py; inkling (typed TML
# messages): tests/parsers/test_reasoning_inkling.py; muse (addressed messages): tests/parsers/test_reasoning_muse.py.
OWN_SUITES = {"gpt_oss", "minimax_append_think", "passthrough", "granite", "inkling", "muse"}

R = "The user greets me. I should answer briefly."
C = "Hello! How can I help?"
TOOL_TEXT = 'Maybe <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call> later.'


@dataclass(frozen=True)
class Case:
    id: str
    prompt: str
    output: str
    reasoning: str
    content: str


def _block(w: Wire, cls: type[ReasoningParser], reasoning: str, content: str) -> str:
    return w.lead + cls.start + w.after_start + reasoning + w.before_end + cls.end + w.after_end + content


def _opened(w: Wire, cls: type[ReasoningParser], reasoning: str, content: str) -> str:
    return reasoning + w.before_end + cls.end + w.after_end + content


def cases(name: str) -> list[Case]:
    w, cls = WIRES[name], REASONING_PARSERS.get(name)
    s, e = cls.start, cls.end
    plain = (lambda text: (text.strip(), "")) if cls.starts_in_reasoning else (lambda text: ("", text))
    tricky = f"a {e[:-1]}x b {s[:3]} c {s}"  # marker prefixes and a stray start marker
    return [
        Case("thinking_off_in_prompt", w.closed_prompt, w.after_end + C, "", C),
        Case("no_block", w.plain_prompt, C, *plain(C)),
        Case("no_block_leading_ws", w.plain_prompt, "\n  " + C, *plain("\n  " + C)),
        Case("block_in_output", w.plain_prompt, _block(w, cls, R, C), R, C),
        Case("block_opened_by_prompt", w.open_prompt, _opened(w, cls, R, C), R, C),
        Case("empty_block", w.plain_prompt, _block(w, cls, "", C), "", C),
        Case("empty_block_opened_by_prompt", w.open_prompt, _opened(w, cls, "", C), "", C),
        Case("whitespace_only_block", w.plain_prompt, f"{s}\n\n \n{e}\n\n{C}", "", C),
        Case("cut_off", w.open_prompt, R + "\n", R, ""),
        Case("cut_off_in_end_marker", w.open_prompt, R + w.before_end + e[:-1],
             (R + w.before_end + e[:-1]).strip(), ""),
        Case("cut_off_in_start_marker", w.plain_prompt, s[:-1], *plain(s[:-1])),
        Case("tool_markup_in_reasoning", w.plain_prompt, _block(w, cls, TOOL_TEXT, C), TOOL_TEXT, C),
        Case("non_ascii", w.plain_prompt, _block(w, cls, "Überlegung: 日本語 🤔 — ok", "Antwort: ✓ café 👋🏽"),
             "Überlegung: 日本語 🤔 — ok", "Antwort: ✓ café 👋🏽"),
        Case("inner_whitespace_kept", w.open_prompt, _opened(w, cls, "  step 1\n\n  step 2", "line 1\n\nline 2\n"),
             "step 1\n\n  step 2", "line 1\n\nline 2\n"),
        Case("marker_lookalikes", w.plain_prompt, _block(w, cls, tricky, C), tricky, C),
        Case("markers_in_content_stay", w.plain_prompt, _block(w, cls, R, f"Use {s} and {e}."), R, f"Use {s} and {e}."),
        Case("only_end_marker", w.open_prompt, e + w.after_end + C, "", C),
    ]


ALL_CASES = [(name, case) for name in WIRES for case in cases(name)]


def factory(name: str, prompt: str | None) -> Callable[[], object]:
    cls = REASONING_PARSERS.get(name)
    return lambda: cls(prompt_text=prompt)


def test_every_registered_parser_has_a_suite() -> None:
    canonical = {REASONING_PARSERS.canonical(n) for n in REASONING_PARSERS.names()}
    assert canonical == set(WIRES) | OWN_SUITES


@pytest.mark.parametrize(("name", "case"), ALL_CASES, ids=[f"{n}-{c.id}" for n, c in ALL_CASES])
def test_shared_cases_split_invariant(name: str, case: Case) -> None:
    got = split_invariant_reasoning(factory(name, case.prompt), case.output, tokenizer=tokenizer(WIRES[name].tokenizer))
    assert got == (case.reasoning, case.content)


@pytest.mark.parametrize("name", sorted(WIRES))
def test_every_two_way_split(name: str) -> None:
    """A marker cut at every character position (the random splits may miss some)."""
    cls, w = REASONING_PARSERS.get(name), WIRES[name]
    text = _block(w, cls, "r1 é", "c2")
    for i in range(len(text) + 1):
        assert run_reasoning(cls(prompt_text=w.plain_prompt), [text[:i], text[i:]]) == ("r1 é", "c2"), i


@pytest.mark.parametrize("name", sorted(WIRES))
def test_first_reasoning_delta_is_text_not_a_marker(name: str) -> None:
    cls, w = REASONING_PARSERS.get(name), WIRES[name]
    parser = cls(prompt_text=w.plain_prompt)
    deltas = [parser.feed(ch) for ch in _block(w, cls, R, C)] + [parser.finish()]
    reasoning = [d.reasoning for d in deltas if d.reasoning]
    content = [d.content for d in deltas if d.content]
    assert reasoning[0] == R[0] and content[0] == C[0]


@pytest.mark.parametrize("name", sorted(WIRES))
def test_hold_back_is_bounded(name: str) -> None:
    """Per feed, only a possible marker prefix (and trailing whitespace) is held."""
    cls, w = REASONING_PARSERS.get(name), WIRES[name]
    parser = cls(prompt_text=w.open_prompt)
    fed = emitted = 0
    for i in range(2000):
        piece = f"word{i} " if i % 7 else f"{cls.end[:-1]}x "
        fed += len(piece)
        emitted += len(parser.feed(piece).reasoning)
        assert fed - emitted <= len(cls.end) + 1  # the held "x " / " " and a marker prefix


@pytest.mark.parametrize("name", sorted(WIRES))
def test_start_state_from_prompt(name: str) -> None:
    cls, w = REASONING_PARSERS.get(name), WIRES[name]
    assert cls.start_state(w.open_prompt, None) is StartState.REASONING
    assert cls.start_state(w.open_prompt + "\n", False) is StartState.REASONING  # the prompt wins
    assert cls.start_state(w.closed_prompt, None) is StartState.AFTER_BLOCK
    assert cls.start_state(w.closed_prompt, True) is StartState.AFTER_BLOCK
    default = StartState.REASONING if cls.starts_in_reasoning else StartState.CONTENT
    assert cls.start_state(w.plain_prompt, None) is default
    assert cls.start_state(None, None) is default
    assert cls.start_state(None, False) is StartState.CONTENT


@pytest.mark.parametrize(("name", "inside"), [("qwen3", False), ("qwen3_thinking", True), ("deepseek_r1", True),
                                              ("deepseek_v31", True), ("glm45", False), ("minimax", True),
                                              ("kimi_k2", False), ("kimi_k2_thinking", True), ("cohere", True)])
def test_enable_thinking_without_prompt(name: str, inside: bool) -> None:
    expected = StartState.REASONING if inside else StartState.CONTENT
    assert REASONING_PARSERS.get(name).start_state(None, True) is expected


def test_leading_whitespace_before_start_marker_is_bounded() -> None:
    qwen3 = REASONING_PARSERS.get("qwen3")
    near = "\n" * MAX_LEADING_WS + "<think>r</think>c"
    far = "\n" * (MAX_LEADING_WS + 1) + "<think>r</think>c"
    assert split_invariant_reasoning(qwen3, near) == ("r", "c")
    assert split_invariant_reasoning(qwen3, far) == ("", far)


def test_qwen3_reference_rendering_round_trips() -> None:
    """Qwen3's template writes history as `<think>\\n{r}\\n</think>\\n\\n{c}`: we invert it."""
    text = "<think>\nLet me count: 1, 2, 3.\n</think>\n\nThree."
    assert split_invariant_reasoning(REASONING_PARSERS.get("qwen3"), text, tokenizer=tokenizer("qwen3")) == (
        "Let me count: 1, 2, 3.", "Three.")


def test_deepseek_r1_with_and_without_opening_tag() -> None:
    r1 = REASONING_PARSERS.get("deepseek_r1")
    tok = tokenizer("deepseek_r1")
    for text in ("<think>\nhmm\n</think>\n\nok", "hmm\n</think>\n\nok", "\n\nhmm</think>ok"):
        assert split_invariant_reasoning(r1, text, tokenizer=tok) == ("hmm", "ok")


def test_kimi_k2_tool_section_ends_reasoning() -> None:
    """Kimi K2 may open its tool section without `</think>`: the section is content."""
    section = "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{}"
    for name in ("kimi_k2", "kimi_k2_thinking"):
        got = split_invariant_reasoning(REASONING_PARSERS.get(name), f"<think>plan it \n{section}")
        assert got == ("plan it", section)
    # Other families keep tool markup inside the block as reasoning.
    got = split_invariant_reasoning(REASONING_PARSERS.get("qwen3"), f"<think>plan it \n{section}")
    assert got == (f"plan it \n{section}", "")


def test_cohere_response_wrappers_are_dropped() -> None:
    cohere = REASONING_PARSERS.get("cohere")
    prompt = "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_THINKING|>"
    text = "Plan: answer.<|END_THINKING|>\n<|START_RESPONSE|>\nHi <|START_TEXT|>there<|END_TEXT|><|END_RESPONSE|>"
    got = split_invariant_reasoning(lambda: cohere(prompt_text=prompt), text)
    assert got == ("Plan: answer.", "Hi there")
    action = '<|START_ACTION|>[{"tool_call_id": "0", "tool_name": "f", "parameters": {}}]<|END_ACTION|>'
    got = split_invariant_reasoning(lambda: cohere(prompt_text=prompt), f"plan<|END_THINKING|>{action}")
    assert got == ("plan", action)


def test_minimax_append_think_keeps_everything_inline() -> None:
    cls = REASONING_PARSERS.get("minimax_append_think")
    text = "Let me think.\n</think>\n\nHello."
    got = split_invariant_reasoning(lambda: cls(prompt_text="]~b]ai\n<think>\n"), text, tokenizer=tokenizer("qwen3"))
    assert got == ("", "<think>\n" + text)
    assert split_invariant_reasoning(lambda: cls(prompt_text="]~b]ai\n"), "Hi") == ("", "<think>\nHi")
    assert split_invariant_reasoning(lambda: cls(enable_thinking=False), "Hi") == ("", "Hi")
    assert run_reasoning(cls(prompt_text="]~b]ai\n<think>\n"), []) == ("", "")


def test_mistral_think_tokens_with_real_tekken_splits() -> None:
    text = "[THINK]Zwei plus zwei … vier.[/THINK]4"
    got = split_invariant_reasoning(REASONING_PARSERS.get("mistral"), text, tokenizer=tokenizer("mistral_nemo"))
    assert got == ("Zwei plus zwei … vier.", "4")


def test_special_markers_declare_what_the_parser_reads() -> None:
    for name in WIRES:
        cls = REASONING_PARSERS.get(name)
        assert {cls.start, cls.end, *cls.implicit_ends, *cls.content_wrappers} <= set(cls.special_markers)
