"""usage.completion_tokens_details.reasoning_tokens: counted per token, streamed == not."""

from __future__ import annotations

import pytest

from sglang_gw.testing.models import model_dir
from tests.conftest import reference_tokenizer

# The reasoning block (markers, and the whitespace the parser drops after them) and then
# the content, so the expected count is the block's own token count. Multi-byte text
# makes byte-level tokens that end mid-character.
QWEN3 = ("<think>\n東京の天気🌤を確認します。\n</think>\n\n", "It is sunny 🌞 in Tokyo.")
DEEPSEEK_R1 = ("Checking the weather 🌤 first.\n</think>\n\n", "It is sunny.")
SCRIPT = {"QWEN": "".join(QWEN3), "PLAIN": "No reasoning here.", "DEEPSEEK": "".join(DEEPSEEK_R1)}


def _tokens(folder: str, text: str) -> list[int]:
    return reference_tokenizer(folder).encode(text, add_special_tokens=False).ids


def _block_tokens(folder: str, block: str, content: str) -> int:
    whole, head = _tokens(folder, block + content), _tokens(folder, block)
    assert whole[:len(head)] == head  # the block ends on a token boundary in the reply
    return len(head)


def _ask(word: str, **kw):
    return dict(model="test-model", messages=[{"role": "user", "content": f"{word}?"}], **kw)


def _streamed_usage(gw, **kw):
    chunks = list(gw.client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw))
    return chunks[-1].usage


@pytest.fixture(scope="module")
def qwen3_gw(gateway_factory):
    return gateway_factory(folder=model_dir("qwen3"), script=SCRIPT, reasoning_parser="qwen3")


@pytest.fixture(scope="module")
def deepseek_gw(gateway_factory):
    return gateway_factory(folder=model_dir("deepseek_r1"), script=SCRIPT, reasoning_parser="deepseek_r1")


@pytest.mark.parametrize(("fixture", "folder", "word", "reply"), [
    ("qwen3_gw", "qwen3", "QWEN", QWEN3), ("deepseek_gw", "deepseek_r1", "DEEPSEEK", DEEPSEEK_R1)])
def test_reasoning_tokens_are_the_blocks_tokens_streamed_or_not(request, fixture, folder, word, reply) -> None:
    gw = request.getfixturevalue(fixture)
    expected = _block_tokens(folder, *reply)
    whole = gw.client.chat.completions.create(**_ask(word))
    assert whole.choices[0].message.content == reply[1]
    assert whole.usage.completion_tokens_details.reasoning_tokens == expected
    assert 0 < expected < whole.usage.completion_tokens
    streamed = _streamed_usage(gw, **_ask(word))
    assert streamed.completion_tokens_details.reasoning_tokens == expected
    assert streamed.completion_tokens == whole.usage.completion_tokens


def test_n_choices_are_summed(qwen3_gw) -> None:
    one = _block_tokens("qwen3", *QWEN3)
    whole = qwen3_gw.client.chat.completions.create(n=3, **_ask("QWEN"))
    assert whole.usage.completion_tokens_details.reasoning_tokens == 3 * one
    assert _streamed_usage(qwen3_gw, n=3, **_ask("QWEN")).completion_tokens_details.reasoning_tokens == 3 * one


def test_zero_when_the_parser_finds_no_reasoning(qwen3_gw) -> None:
    whole = qwen3_gw.client.chat.completions.create(**_ask("PLAIN"))
    assert whole.choices[0].message.content == "No reasoning here."
    assert whole.usage.completion_tokens_details.reasoning_tokens == 0
    assert _streamed_usage(qwen3_gw, **_ask("PLAIN")).completion_tokens_details.reasoning_tokens == 0


def test_absent_without_a_reasoning_parser(qwen3_gw, gateway_factory) -> None:
    off = qwen3_gw.client.chat.completions.create(extra_body={"separate_reasoning": False}, **_ask("QWEN"))
    assert off.usage.completion_tokens_details is None
    assert "completion_tokens_details" not in off.usage.model_dump(exclude_unset=True)
    gw = gateway_factory(folder=model_dir("qwen3"), script=SCRIPT, reasoning_parser="none")
    assert gw.client.chat.completions.create(**_ask("QWEN")).usage.completion_tokens_details is None
    assert _streamed_usage(gw, **_ask("QWEN")).completion_tokens_details is None
