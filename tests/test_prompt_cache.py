"""The segment-cached prompt encoder gives exactly the tokenizer's ids, for every family."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from sglang_gw.model import model_from_folder
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.models import FAMILIES, model_dir
from sglang_gw.tokenizer import prompt_cache
from sglang_gw.tokenizer.encoding import GIL_FREE_CHARS, encode_ids
from sglang_gw.tokenizer.prompt_cache import SegmentEncoder
from tests.conftest import reference_tokenizer

PIECES = ["Hello", " world", "你好", "👋🏽", "\n", "  ", "é", "def f():\n    pass", "\t", "ß", "x" * 300]


@pytest.mark.parametrize("family", FAMILIES)
def test_cached_encoding_is_exact(family: str) -> None:
    model = model_from_folder(model_dir(family), pb.GetModelInfoResponse())
    assert model.segments is not None and model.segments.enabled
    tok = reference_tokenizer(family)
    rng = random.Random(family)
    system = "".join(rng.choice(PIECES) for _ in range(200))
    for turn in range(20):
        messages = [{"role": "system", "content": system}]
        messages += [{"role": "user" if i % 2 == 0 else "assistant", "content": "".join(
            rng.choice(PIECES) for _ in range(rng.randint(1, 80)))} for i in range(turn % 5 * 2 + 1)]
        text = model.chat_template.render(messages)
        assert model.encode(text) == tok.encode(text, add_special_tokens=False).ids
    if family != "mistral_nemo":  # Nemo's template folds the system prompt into the last user turn
        assert model.segments.hits > 0  # the shared system prompt came from the cache


def test_unsafe_markers_are_not_used() -> None:
    tok = reference_tokenizer("qwen3")
    assert not SegmentEncoder(tok, ["not-a-token"]).enabled


def _long_text(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    while sum(map(len, out)) < chars:
        out.append(rng.choice(PIECES))
    return "".join(out)


@pytest.mark.parametrize("family", FAMILIES)
def test_gil_free_encoding_gives_the_same_ids(family: str) -> None:
    tok = reference_tokenizer(family)
    text = _long_text(random.Random(7), 3 * GIL_FREE_CHARS)
    for special in (False, True):
        assert encode_ids(tok, text, add_special_tokens=special) == tok.encode(text, add_special_tokens=special).ids


def test_cache_is_bounded_by_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompt_cache, "MAX_CACHED_CHARS", 4_500)
    tok = reference_tokenizer("qwen3")
    enc = SegmentEncoder(tok, ["<|im_start|>", "<|im_end|>"])
    texts = [f"<|im_start|>{letter * 1000}<|im_end|>" for letter in "abcde"]
    for text in texts:
        enc.encode(text)
    assert (enc.hits, enc.misses) == (0, 5)
    enc.encode(texts[-1])
    assert enc.hits == 1  # the newest piece is kept
    enc.encode(texts[0])
    assert enc.misses == 6  # the oldest was dropped to stay under the budget


def test_threads_share_the_cache_safely(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompt_cache, "MAX_ENTRIES", 4)  # constant eviction under contention
    tok = reference_tokenizer("qwen3")
    enc = SegmentEncoder(tok, ["<|im_start|>", "<|im_end|>"])
    rng = random.Random(3)
    pieces = [_long_text(rng, 300 + 40 * i) for i in range(12)]
    texts = ["<|im_start|>" + "<|im_end|><|im_start|>".join(rng.sample(pieces, 3)) for _ in range(64)]
    expected = [tok.encode(t, add_special_tokens=False).ids for t in texts]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(4):
            assert list(pool.map(enc.encode, texts)) == expected
