"""How many tokens a text encodes to at least, from its size alone.

A prompt whose size proves it longer than the model's context can be refused without
tokenizing it: tokenizing a 10 MiB prompt costs seconds and over a gigabyte, its size
nothing. The proof needs a bound on how much text one token can stand for.

For a byte-level BPE tokenizer every byte of the normalized text lands in exactly one token:
the pre-tokenizer maps each byte to one character of a 256-character alphabet, the model
splits those characters into vocabulary entries, and an added token (matched before that)
stands for its own text. So no token stands for more bytes than the longest vocabulary entry
(in characters, one per byte) or added token (in UTF-8 bytes): 128 for Qwen3, Llama 3.1,
DeepSeek and GPT-OSS (runs of spaces or dots), 76 for Mistral-Nemo. A text of B bytes has
at least B / that many tokens.

Normalization may shrink text first: NFC composes three Hangul jamo (9 bytes) into one
syllable (3 bytes) and maps the Kelvin sign (3 bytes) to K, NFKC maps a 4-byte mathematical
letter to a 1-byte one. Text a normal
form leaves unchanged (ASCII, or text already in that form: the usual case, and a fast
check) does not shrink; other text has its bytes divided by the form's worst shrink.

Tokenizers that may drop text get no bound (`TokenBound.of` returns None) and their prompts
are tokenized, off the event loop, as before: whitespace-splitting pre-tokenizers, `Split`
with the `removed` behaviour, normalizers that strip or replace, added tokens that swallow
the whitespace beside them, a vocabulary without the whole byte alphabet.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from tokenizers import Tokenizer, pre_tokenizers

__all__ = ["TokenBound"]

# How many times a normal form may shrink UTF-8 text at most (tests/test_token_bound.py
# checks these over every code point and the Hangul compositions).
_SHRINK = {"NFC": 3, "NFD": 3, "NFKC": 4, "NFKD": 4}
# Pre-tokenizers that keep every byte; `Split` and `Punctuation` unless they remove matches.
_KEEPING = {"ByteLevel", "Split", "Digits", "Punctuation"}
# A character is at most this many bytes of UTF-8.
_MAX_CHAR_BYTES = 4


@dataclass(slots=True, frozen=True)
class TokenBound:
    """At least `bytes / (max_token_bytes * shrink)` tokens encode a text of `bytes` bytes
    (`shrink` only for text its normal `forms` would change)."""

    max_token_bytes: int
    forms: tuple[str, ...] = ()  # the normal forms the normalizer applies, in order
    shrink: int = 1  # their worst shrink together

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> TokenBound | None:
        """The bound for `tokenizer`, or None when its pipeline may drop text."""
        forms = _normal_forms(_state(tokenizer.normalizer))
        if forms is None or not _keeps_bytes(_state(tokenizer.pre_tokenizer)) or \
                type(tokenizer.model).__name__ != "BPE":
            return None
        added = tokenizer.get_added_tokens_decoder().values()
        if any(token.lstrip or token.rstrip for token in added):
            return None
        vocab = tokenizer.get_vocab(with_added_tokens=False)
        if any(ch not in vocab for ch in pre_tokenizers.ByteLevel.alphabet()):
            return None  # some byte has no token: the model would drop it
        # A vocabulary entry is one byte per character: entries with other characters are
        # never produced from byte-level text, unless they are added tokens, counted below.
        longest = max(max(map(len, vocab), default=1),
                      max((len(token.content.encode()) for token in added), default=1))
        shrink = 1
        for form in forms:
            shrink *= _SHRINK[form]
        return cls(longest, forms, shrink)

    def min_tokens(self, text: str) -> int:
        """A count of tokens `text` encodes to at least (never more than the truth)."""
        if text.isascii():  # no normal form changes ASCII; one byte per character
            return -(-len(text) // self.max_token_bytes)
        size = len(text.encode("utf-8", "surrogatepass"))
        unchanged = all(unicodedata.is_normalized(form, text) for form in self.forms)
        return -(-size // (self.max_token_bytes * (1 if unchanged else self.shrink)))

    def may_reach(self, text: str, tokens: int) -> bool:
        """False when `text` is too short for its size to prove `tokens` tokens (at most 4
        bytes a character, no shrink): then `min_tokens` need not read it."""
        return len(text) * _MAX_CHAR_BYTES >= tokens * self.max_token_bytes


def _state(component: Any) -> dict[str, Any] | None:
    """A normalizer's or pre-tokenizer's own JSON (small, unlike the whole tokenizer's)."""
    return None if component is None else json.loads(component.__getstate__())


def _normal_forms(state: dict[str, Any] | None) -> tuple[str, ...] | None:
    """The normal forms a normalizer applies, or None if it may do anything else."""
    if state is None:
        return ()
    kind = state.get("type")
    if kind in _SHRINK:
        return (kind,)
    if kind != "Sequence":
        return None
    forms: tuple[str, ...] = ()
    for part in state.get("normalizers", []):
        found = _normal_forms(part)
        if found is None:
            return None
        forms += found
    return forms


def _keeps_bytes(state: dict[str, Any] | None) -> bool:
    """Whether a pre-tokenizer keeps every byte of the text, with ByteLevel among its steps."""
    if state is None:
        return False
    parts = state.get("pretokenizers", []) if state.get("type") == "Sequence" else [state]
    for part in parts:
        if part.get("type") not in _KEEPING or str(part.get("behavior", "")).lower() == "removed":
            return False
    return any(part.get("type") == "ByteLevel" for part in parts)
