"""TokenBound never claims more tokens than the real tokenizer makes, on every family, and
refuses to bound tokenizers that may drop text."""

from __future__ import annotations

import random
import unicodedata

import pytest
from tokenizers import AddedToken, Tokenizer, normalizers, pre_tokenizers

from sglang_gw.testing.models import FAMILIES, model_dir
from sglang_gw.tokenizer.token_bound import _SHRINK, TokenBound
from tests.conftest import reference_tokenizer


def fresh(family: str) -> Tokenizer:
    """A tokenizer of its own, for a test that changes it."""
    return Tokenizer.from_file(str(model_dir(family) / "tokenizer.json"))


def texts(tokenizer: Tokenizer) -> list[str]:
    rng = random.Random(3)
    pools = ["abc xyz ", "中文测试，", "éüñ ", "👋🏽🎉", "각내", "    \n\t", "........", "{\"a\": [1, 2]}"]
    added = [t.content for t in tokenizer.get_added_tokens_decoder().values()]
    out = [
        " " * 4096, "." * 4096, "-" * 4096, "a" * 1000, "\n" * 999,
        "".join(added) * 3,
        unicodedata.normalize("NFD", "\uac01" * 500),  # conjoining Hangul jamo: NFC makes 9 bytes 3
        "\u212a" * 500,  # the Kelvin sign: NFC makes 3 bytes 1
        "".join(chr(0x1D400 + i % 52) for i in range(500)),  # 4-byte letters NFKC makes 1-byte
    ]
    for _ in range(30):
        pool = rng.choice(pools) + rng.choice(pools)
        out.append("".join(rng.choice(pool) for _ in range(rng.randrange(1, 3000))))
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_the_bound_never_exceeds_the_real_count(family: str) -> None:
    tokenizer = reference_tokenizer(family)
    bound = TokenBound.of(tokenizer)
    assert bound is not None and 16 <= bound.max_token_bytes <= 256
    for text in texts(tokenizer):
        for special in (False, True):
            real = len(tokenizer.encode(text, add_special_tokens=special).ids)
            assert bound.min_tokens(text) <= real, (family, text[:40])


def test_the_bound_is_reached_by_the_longest_tokens() -> None:
    """Runs of spaces are Qwen3's longest tokens (128 bytes): a smaller per-token figure
    would claim more tokens than there are, so the bound cannot be tightened that way."""
    tokenizer = reference_tokenizer("qwen3")
    bound = TokenBound.of(tokenizer)
    assert bound is not None and bound.max_token_bytes == 128
    text = "x" + " " * 128 * 50 + "x"
    assert len(tokenizer.encode(text).ids) <= bound.min_tokens(text) + 2


def test_text_a_normal_form_changes_is_divided_by_its_worst_shrink() -> None:
    bound = TokenBound.of(reference_tokenizer("qwen3"))  # NFC
    assert bound is not None and bound.forms == ("NFC",) and bound.shrink == 3
    composed = "각" * 3000  # already NFC: 3 bytes a character, no shrink
    decomposed = unicodedata.normalize("NFD", composed)  # 9 bytes a character, NFC makes 3
    assert bound.min_tokens(composed) == -(-9000 // 128)
    assert bound.min_tokens(decomposed) == -(-27000 // (128 * 3))


def _worst_shrink(form: str) -> float:
    """The most a normal form shrinks the UTF-8 of a character, or of the decomposed
    sequence of one (which composition turns back into it)."""
    worst = 1.0
    for cp in range(0x110000):
        ch = chr(cp)
        if not (unicodedata.decomposition(ch) or 0xAC00 <= cp <= 0xD7A3):
            continue
        for text in {ch, unicodedata.normalize("NFD", ch), unicodedata.normalize("NFKD", ch)}:
            worst = max(worst, len(text.encode()) / len(unicodedata.normalize(form, text).encode()))
    return worst


@pytest.mark.parametrize("form", sorted(_SHRINK))
def test_the_shrink_factors_hold_for_every_character(form: str) -> None:
    assert _worst_shrink(form) <= _SHRINK[form]


def _with(tokenizer: Tokenizer, **parts: object) -> Tokenizer:
    for name, value in parts.items():
        setattr(tokenizer, name, value)
    return tokenizer


@pytest.mark.parametrize("change", [
    lambda t: _with(t, pre_tokenizer=pre_tokenizers.WhitespaceSplit()),  # drops whitespace
    lambda t: _with(t, pre_tokenizer=pre_tokenizers.Sequence(
        [pre_tokenizers.Split(" ", "removed"), pre_tokenizers.ByteLevel(add_prefix_space=False)])),
    lambda t: _with(t, normalizer=normalizers.Strip()),
    lambda t: _with(t, normalizer=normalizers.Sequence([normalizers.NFC(), normalizers.Replace("a", "")])),
    lambda t: t.add_tokens([AddedToken("<mask>", lstrip=True)]) and t,  # swallows the spaces before it
])
def test_tokenizers_that_may_drop_text_get_no_bound(change) -> None:
    assert TokenBound.of(change(fresh("qwen3"))) is None


def test_short_text_is_not_read() -> None:
    bound = TokenBound.of(reference_tokenizer("llama31"))
    assert bound is not None
    assert not bound.may_reach("é" * 100, 101)  # 100 characters are at most 400 bytes: 4 tokens
    assert bound.may_reach("x" * 128 * 40960, 40960)
