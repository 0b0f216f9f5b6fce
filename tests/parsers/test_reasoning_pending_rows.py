"""The reasoning names that were pending: Granite 3.2's text headers (`granite`), ERNIE-4.5
Thinking (`ernie45`), TeleChat4 (`telechat4`) and Poolside Laguna (`poolside_v1`)."""

from __future__ import annotations

import pytest

from sglang_gw.parsers.reasoning import REASONING_PARSERS
from tests.parsers.harness import split_invariant_reasoning

THOUGHT, RESPONSE = "Here is my thought process:", "Here is my response:"


def _split(name: str, text: str, **kwargs: object) -> tuple[str, str]:
    """(reasoning, content), the same however `text` is split."""
    cls = REASONING_PARSERS.get(name)
    return split_invariant_reasoning(lambda: cls(**kwargs), text)


@pytest.mark.parametrize(("text", "reasoning", "content"), [
    (f"{THOUGHT}This is a reasoning section{RESPONSE}This is the rest", "This is a reasoning section",
     "This is the rest"),
    (f"{THOUGHT}This\nThat{RESPONSE}This is the rest\nThat", "This\nThat", "This is the rest\nThat"),
    (f"{THOUGHT}cut off before the answer", "cut off before the answer", ""),
    ("Here's my thought process: a Here's my response: b", "a", "b"),  # the quantized spelling
    ("This is content", "", "This is content"),
    ("Here is my thought failure", "", "Here is my thought failure"),
    (f"{THOUGHT} foo Here was", "foo Here was", ""),  # a header that does not complete is reasoning
    (f"An answer that quotes {THOUGHT} later", "", f"An answer that quotes {THOUGHT} later"),
])
def test_granite_headers(text: str, reasoning: str, content: str) -> None:
    assert _split("granite", text) == (reasoning, content)


@pytest.mark.parametrize(("text", "reasoning", "content"), [
    ("abc</think>def", "abc", "def"),
    ("abc", "abc", ""),
    ("abc\n</think>\n\n<response>\ndef\n</response>\n", "abc", "def\n\n"),
])
def test_ernie45_starts_in_reasoning_and_drops_the_response_wrapper(text: str, reasoning: str,
                                                                   content: str) -> None:
    assert _split("ernie45", text) == (reasoning, content)


def test_telechat4_follows_enable_thinking_and_the_prompt() -> None:
    assert _split("telechat4", "r</think>ans", enable_thinking=True) == ("r", "ans")
    assert _split("telechat4", "ans", enable_thinking=False) == ("", "ans")
    assert _split("telechat4", "r</think>ans", prompt_text="<_user>q<_bot><think>\n") == ("r", "ans")


def test_poolside_v1_thinks_only_when_asked() -> None:
    assert REASONING_PARSERS.get("poolside_v1") is REASONING_PARSERS.get("deepseek_v31")
    assert _split("poolside_v1", "abc</think>def", enable_thinking=True) == ("abc", "def")
    assert _split("poolside_v1", "abc</think>def", enable_thinking=False) == ("", "abc</think>def")
