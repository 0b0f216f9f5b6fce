"""The gateway's encoding of a prompt (segment cache, word encoder, the offset-free batch
call) gives exactly the plain tokenizer's ids, for every family, on text in many scripts
with control characters, markup and added tokens mixed in."""

from __future__ import annotations

import random

import pytest

from sglang_gw.model import model_from_folder
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.models import FAMILIES, model_dir
from sglang_gw.tokenizer.encoding import encode_ids
from sglang_gw.tokenizer.rank_encoder import RankEncoder
from tests.conftest import reference_tokenizer

# Families whose tokenizer.json is a converted tiktoken table: tiktoken must take them.
RANKED = {"qwen3", "llama31", "mistral_nemo", "gpt_oss"}

# (first, last) code points of a script or class each text draws from.
RANGES = [(0x20, 0x7E), (0x00, 0x1F), (0x7F, 0x9F), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF),
          (0x590, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x3040, 0x30FF), (0x4E00, 0x9FFF),
          (0xAC00, 0xD7A3), (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF), (0x2000, 0x206F), (0x0300, 0x036F)]
EXTRAS = [" ", "  ", "\n", "\r\n", "\t", "\u3000", "\u200b", "\ufeff", "'s", "'LL", " 2026", "3.14", "<think>",
          "</think>", "<|im_start|>", "<|im_end|>", "<|eot_id|>", "[INST]", "<tool_call>", "👋🏽", "é", "e\u0301",
          "ﬁ", "Å", "Ω", "ǅ", "x" * 300]


def _text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 40)):
        if rng.random() < 0.3:
            parts.append(rng.choice(EXTRAS))
        else:
            lo, hi = rng.choice(RANGES)
            parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 12))))
    return "".join(parts)


@pytest.mark.parametrize("family", FAMILIES)
def test_prompt_encoding_matches_the_tokenizer(family: str) -> None:
    model = model_from_folder(model_dir(family), pb.GetModelInfoResponse())
    plain = reference_tokenizer(family)
    rng = random.Random(f"fuzz-{family}")
    for _ in range(150):
        text = _text(rng)
        expected = plain.encode(text, add_special_tokens=False).ids
        assert model.encode(text) == expected, text
        assert encode_ids(model.tokenizer, text) == expected, text
        with_specials = plain.encode(text, add_special_tokens=True).ids
        assert model.encode(text, add_special_tokens=True) == with_specials, text
    long = "".join(_text(rng) for _ in range(60))  # past the GIL-free size, in one piece
    assert model.encode(long) == plain.encode(long, add_special_tokens=False).ids


@pytest.mark.parametrize("family", FAMILIES)
def test_tiktoken_takes_the_byte_level_families_and_declines_what_it_cannot(family: str) -> None:
    plain = reference_tokenizer(family)
    ranks = RankEncoder.build(plain)
    assert (ranks is not None) == (family in RANKED)
    if ranks is None:
        return
    marker = next(t.content for t in plain.get_added_tokens_decoder().values())
    assert ranks.encode(f"before {marker} after") is None  # the tokenizer cuts at added tokens first
    assert ranks.encode("日本語のテキスト、Ελληνικά\u3000и русский") is not None
    assert ranks.encode("lone \ud800 surrogate") is None
    decomposed = "cafe\u0301"  # NFC composes it, where the family normalizes
    assert (ranks.encode(decomposed) is None) == (plain.normalizer is not None)


def test_the_switch_keeps_the_library_path() -> None:
    model = model_from_folder(model_dir("qwen3"), pb.GetModelInfoResponse(), fast_path=False)
    assert model.segments is not None and not model.segments.has_words and not model.segments.has_ranks
    text = "新しい文章 and new words qzxv " * 50
    assert model.encode(text) == reference_tokenizer("qwen3").encode(
        text, add_special_tokens=False).ids
