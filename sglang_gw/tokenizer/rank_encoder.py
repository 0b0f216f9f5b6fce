"""Exact token ids for new text, by tiktoken's BPE, several times cheaper than the tokenizer.

On text it has not seen, `Tokenizer.encode` spends most of its time in the BPE merges of
each new word and in the pre-tokenizer's regex; a new ~8k-token ASCII prompt cost 10–25 ms
and a 3k-token Chinese one 2.5–6 ms here, where tiktoken (OpenAI's BPE, Rust, no GIL held)
takes 1.5–3 ms and 0.7–1 ms (docs/performance.md, issue 34). The vocabularies of today's
byte-level families (Qwen, Llama 3, Mistral's tekken, gpt-oss) are tiktoken rank tables
converted to tokenizer.json; for them tiktoken's "merge the adjacent pair whose join has
the lowest rank" is the tokenizer's own BPE. So a tokenizer whose pipeline is exactly

    normalizer: none or NFC · pre-tokenizer: one regex Split (isolated), then ByteLevel
    without its own regex (or ByteLevel with GPT-2's) · model: BPE, no dropout, no
    byte fallback, no affixes

gets a `RankEncoder`: its vocabulary as tiktoken ranks, its split pattern as tiktoken's.
Text holding an added token (the tokenizer cuts there first) or text that NFC would
change is declined, and the caller uses the tokenizer. The encoder is only built when a
start-up self-check over probe strings in many scripts, with control characters and every
kind of Unicode space, gives the tokenizer's ids; tests/test_encode_fuzz.py fuzzes each
family. `--tokenizer-fast-path off` keeps the library path alone.
"""

from __future__ import annotations

import json
import logging
import random
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from tokenizers import Tokenizer
from tokenizers.models import BPE

__all__ = ["RankEncoder"]

log = logging.getLogger(__name__)

# GPT-2's split, which ByteLevel applies itself when its `use_regex` is on.
_GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def _byte_decoder() -> dict[int, int]:
    """GPT-2's byte-level alphabet back to bytes, as a `str.translate` table (to latin-1)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = list(keep)
    shifted = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + shifted)
            shifted += 1
    return dict(zip(chars, keep, strict=True))


def _pattern(pre: dict[str, Any] | None) -> str | None:
    """The one split regex of a byte-level pre-tokenizer as tiktoken applies it; None for
    any other pipeline."""
    if pre is None:
        return None
    steps = pre["pretokenizers"] if pre.get("type") == "Sequence" else [pre]
    last = steps[-1]
    if last.get("type") != "ByteLevel" or last.get("add_prefix_space"):
        return None
    if len(steps) == 1:
        return _GPT2_PATTERN if last.get("use_regex", True) else None
    split = steps[0]
    if (len(steps) != 2 or last.get("use_regex", True) or split.get("type") != "Split"
            or split.get("behavior") != "Isolated" or split.get("invert")):
        return None
    return split.get("pattern", {}).get("Regex")


def _model_ok(model: Any) -> bool:
    return (isinstance(model, BPE) and not model.dropout and not model.byte_fallback
            and not model.continuing_subword_prefix and not model.end_of_word_suffix)


def _state(component: Any) -> dict[str, Any] | None:
    """A tokenizer component's settings as in tokenizer.json (its pickled state)."""
    return None if component is None else json.loads(component.__getstate__())


def _normalizer_nfc(norm: dict[str, Any] | None) -> bool | None:
    """False: no normalizer; True: NFC; None: anything else (declined)."""
    if norm is None:
        return False
    if norm.get("type") == "NFC":
        return True
    if norm.get("type") == "Sequence" and not norm.get("normalizers"):
        return False
    return None


class RankEncoder:
    """`tokenizer.encode(text, add_special_tokens=False).ids` by tiktoken for text with no
    added token in it (and, under an NFC normalizer, already NFC); `encode` returns None
    for any other text."""

    def __init__(self, encoding: Any, added: list[str], nfc: bool) -> None:
        # Only the Rust core is kept: the `Encoding` around it holds the ranks again as a
        # Python dict (~20 MiB per process for Qwen's 151k), needed for nothing here. The
        # core raises on lone surrogates, where `Encoding` would replace them: declined.
        self._encode = encoding._core_bpe.encode_ordinary
        self._nfc = nfc
        self._added_starts = frozenset(a[0] for a in added)
        ordered = sorted(added, key=len, reverse=True)
        self._added = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def build(cls, tokenizer: Tokenizer) -> RankEncoder | None:
        """An encoder for `tokenizer` if its pipeline is the one above, tiktoken is
        installed, and the self-check passes; else None."""
        try:
            import tiktoken
        except ImportError:
            return None
        nfc = _normalizer_nfc(_state(tokenizer.normalizer))
        pattern = _pattern(_state(tokenizer.pre_tokenizer))
        if nfc is None or pattern is None or not _model_ok(tokenizer.model):
            return None
        added = [t.content for t in tokenizer.get_added_tokens_decoder().values() if t.content]
        table = _byte_decoder()
        ranks: dict[bytes, int] = {}
        for token, rank in tokenizer.get_vocab(with_added_tokens=False).items():
            raw = token.translate(table)
            if raw.isascii() or max(raw) <= "\xff":  # else not a byte-level token (an added one)
                ranks[raw.encode("latin-1")] = rank
        try:
            encoding = tiktoken.Encoding(name="sglang-gw", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
        except ValueError as err:  # a pattern tiktoken's regex engine refuses
            log.info("tiktoken fast path off: %s", err)
            return None
        encoder = cls(encoding, added, nfc)
        return encoder if encoder.self_check(tokenizer) else None

    def encode(self, text: str) -> list[int] | None:
        if self._added is not None and not self._added_starts.isdisjoint(text) and self._added.search(text):
            return None
        if self._nfc and not text.isascii() and not unicodedata.is_normalized("NFC", text):
            return None
        try:
            return self._encode(text)
        except UnicodeEncodeError:  # a lone surrogate: the tokenizer decides what that is
            return None

    def self_check(self, tokenizer: Tokenizer) -> bool:
        for text in _probes():
            ids = self.encode(text)
            if ids is not None and ids != tokenizer.encode(text, add_special_tokens=False).ids:
                log.info("tiktoken fast path off: it differs from the tokenizer on %r", text[:80])
                return False
        return True


# Every kind of Unicode space and line end, format characters, the C0 and C1 controls.
_SPACES = ("\t\n\v\f\r \x1c\x1d\x1e\x1f\x85\xa0\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
           "\u2008\u2009\u200a\u200b\u200c\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff")
_CONTROLS = "".join(map(chr, [*range(0, 32), *range(127, 160)]))
# Scripts and classes the split patterns treat differently: Latin with accents and combining
# marks, Greek, Cyrillic, Hebrew, Arabic, Devanagari, Thai, Hangul jamo, kana, CJK, Hangul,
# fullwidth forms, letter-like digits and numbers, symbols, emoji with modifiers.
_RANGES = ((0x20, 0x7E), (0xA1, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
           (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF), (0x2150, 0x218B), (0x2460, 0x24FF),
           (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF),
           (0x1F3FB, 0x1F3FF), (0x10400, 0x1044F), (0x1D400, 0x1D7FF))
_PARTS = ("Hello", " world", "It's", " they'RE", "I'll", " 12345", "3.14", "  ", "\n\n  ", " \t\n", "!!", "...",
          "a_b", "CamelCase", "你好，世界。", "Привет", "مرحبا", "नमस्ते", "สวัสดี", "안녕하세요", "こんにちは",
          "e\u0301", "ﬁ", "Ω", "ǅ", "①②", "٣٤", "👋🏽", "🇫🇷", "x²", "½", " ", "\u3000", "\r\n")


def _probes(count: int = 600) -> Iterator[str]:
    rng = random.Random(20261207)
    yield _SPACES
    yield _CONTROLS
    for space in _SPACES:
        yield f"a{space}b {space}{space}c{space}\n"
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 16)):
            roll = rng.random()
            if roll < 0.4:
                parts.append(rng.choice(_PARTS))
            elif roll < 0.55:
                parts.append(rng.choice(_SPACES) * rng.randint(1, 3))
            elif roll < 0.6:
                parts.append(rng.choice(_CONTROLS))
            else:
                lo, hi = rng.choice(_RANGES)
                parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 8))))
        yield "".join(parts)
