"""Exact token ids for plain ASCII text, from a word cache, without the tokenizer's fixed cost.

`Tokenizer.encode` has a fixed cost that dominates a short chat prompt, three quarters of
it in the pre-tokenizer's regex (oniguruma). For the byte-level
BPE tokenizers of today's model families (Qwen, Llama 3, DeepSeek, Mistral's tekken,
gpt-oss) the ids of a text are the concatenation of the BPE ids of its pre-tokenized
words, and on ASCII text the pre-tokenizer's Unicode classes reduce to ASCII ones. So a
text that is ASCII and holds no added token is split here with Python's `re` (the same
pattern, its ``\\p{..}`` classes narrowed to ASCII) and each word's ids come from a dict,
filled by the tokenizer's own BPE model on a miss: several times cheaper for a short
prompt (docs/performance.md).

Everything else (non-ASCII text, text holding an added token, other tokenizer kinds) is
declined, and the caller uses the tokenizer. The encoder is only built when a start-up
self-check over a few hundred probe strings gives the tokenizer's ids.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any

from tokenizers import Tokenizer
from tokenizers.models import BPE

__all__ = ["WordEncoder"]

# Normalizers that leave ASCII text as it is.
_ASCII_IDENTITY_NORMALIZERS = frozenset({"NFC", "NFD", "NFKC", "NFKD"})
# GPT-2's split, which ByteLevel applies itself when its `use_regex` is on.
_GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
# Stands in for an empty ASCII class: a noncharacter, so never in the (ASCII) input.
_NEVER = "\\uffff"
_PROPERTY = re.compile(r"\\([pP])(?:\{(\^?)(\w+)\}|(\w))")
# A bound on the word cache; past it the cache starts over (words are cheap to redo).
MAX_WORDS = 200_000


def _byte_level_table() -> dict[int, str]:
    """GPT-2's byte → character map, for the 128 ASCII bytes."""
    keep = set(range(ord("!"), ord("~") + 1))
    out: dict[int, str] = {}
    shifted = 0
    for b in range(256):
        if b in keep or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF:
            char = chr(b)
        else:
            char = chr(256 + shifted)
            shifted += 1
        if b < 128:
            out[b] = char
    return out


def _ascii_class(category: str) -> str:
    """The ASCII characters of a Unicode general category (``L``, ``Lu``, ``N``, ``P``…),
    escaped for use inside a character class; `_NEVER` when there are none."""
    chars = [chr(c) for c in range(128) if unicodedata.category(chr(c)).startswith(category)]
    return "".join(map(re.escape, chars)) or _NEVER


def ascii_pattern(pattern: str) -> str | None:
    """`pattern` with each ``\\p{X}`` narrowed to its ASCII members, for `re.ASCII`;
    None for what is not translated here (a negated class inside brackets)."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            match = _PROPERTY.match(pattern, i)
            if match is None:
                out.append(pattern[i:i + 2])
                i += 2
                continue
            negated = (match.group(1) == "P") != bool(match.group(2))
            members = _ascii_class(match.group(3) or match.group(4))
            if in_class and negated:
                return None
            out.append(members if in_class else f"[{'^' if negated else ''}{members}]")
            i = match.end()
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            i += 1
            # A `]` right after `[` or `[^` is a literal, not the end.
            for lead in ("^", "]"):
                if pattern.startswith(lead, i):
                    out.append(lead)
                    i += 1
            continue
        if ch == "]" and in_class:
            in_class = False
        out.append(ch)
        i += 1
    return "".join(out)


def _isolating_split(pattern: str) -> Callable[[str], list[str]] | None:
    """HF's ``Split(behavior=Isolated)``: matches and the text between them, in order.

    Two equivalent forms, chosen for speed. A pattern that matches nearly everywhere (the
    usual word splits) runs as one `findall` whose second alternative takes a run of
    characters where the pattern does not match (a gap), a branch that then seldom runs.
    A pattern with long gaps (DeepSeek's digit split) runs as `re.split` with the match
    kept, empty pieces dropped.
    """
    narrowed = ascii_pattern(pattern)
    if narrowed is None:
        return None
    try:
        plain = re.compile(narrowed, re.ASCII)
        with_gaps = re.compile(f"{narrowed}|(?:(?!{narrowed})[\\s\\S])+", re.ASCII)
        splitter = re.compile(f"({narrowed})", re.ASCII)
    except re.error:
        return None
    if plain.groups:  # a capturing group of its own would change what findall and split return
        return None
    if all("".join(plain.findall(text)) == text for text in _probes(100)):
        return with_gaps.findall
    split = splitter.split
    return lambda text: [piece for piece in split(text) if piece]


def _splits(pre: dict[str, Any] | None) -> list[Callable[[str], list[str]]] | None:
    """The regex splits of a byte-level pre-tokenizer, in order; None for any other kind."""
    if pre is None:
        return None
    steps = pre["pretokenizers"] if pre.get("type") == "Sequence" else [pre]
    patterns: list[str] = []
    for i, step in enumerate(steps):
        kind = step.get("type")
        if kind == "Split" and step.get("behavior") == "Isolated" and not step.get("invert"):
            regex = step.get("pattern", {}).get("Regex")
            if regex is None:
                return None
            patterns.append(regex)
        elif kind == "ByteLevel" and i == len(steps) - 1 and not step.get("add_prefix_space"):
            if step.get("use_regex", True):
                patterns.append(_GPT2_PATTERN)
        else:
            return None
    if not steps or steps[-1].get("type") != "ByteLevel":
        return None
    out = [_isolating_split(p) for p in patterns]
    return None if any(s is None for s in out) else out  # type: ignore[return-value]


def _state(component: Any) -> dict[str, Any] | None:
    """A tokenizer component's settings as in tokenizer.json (its pickled state)."""
    return None if component is None else json.loads(component.__getstate__())


def _normalizer_keeps_ascii(norm: dict[str, Any] | None) -> bool:
    if norm is None:
        return True
    if norm.get("type") == "Sequence":
        return all(_normalizer_keeps_ascii(n) for n in norm.get("normalizers", []))
    return norm.get("type") in _ASCII_IDENTITY_NORMALIZERS


class WordEncoder:
    """`tokenizer.encode(text, add_special_tokens=False).ids` for ASCII text with no added
    token in it, from cached per-word ids; `encode` returns None for any other text."""

    def __init__(self, tokenizer: Tokenizer, splits: list[Callable[[str], list[str]]]) -> None:
        self._tokenize = tokenizer.model.tokenize
        self._splits = splits
        self._bytes = str.maketrans(_byte_level_table())
        # A text holding none of these characters holds no added token; one that does is
        # searched for them (markup and code are full of `<` and `[`).
        added = sorted({t.content for t in tokenizer.get_added_tokens_decoder().values() if t.content},
                       key=len, reverse=True)
        self._added_starts = frozenset(a[0] for a in added)
        self._added = re.compile("|".join(map(re.escape, added))) if added else None
        # Tuples, not lists: tuples of ints drop out of the garbage collector's passes after
        # their first, and this cache can hold 200k of them after the heap was frozen.
        self._words: dict[str, tuple[int, ...]] = {}

    @classmethod
    def build(cls, tokenizer: Tokenizer) -> WordEncoder | None:
        """An encoder for `tokenizer` if it is byte-level BPE with regex splits and passes
        the self-check; else None."""
        model = tokenizer.model
        if not isinstance(model, BPE) or model.dropout or not _normalizer_keeps_ascii(_state(tokenizer.normalizer)):
            return None
        splits = _splits(_state(tokenizer.pre_tokenizer))
        if splits is None:
            return None
        encoder = cls(tokenizer, splits)
        return encoder if encoder.self_check(tokenizer) else None

    def encode(self, text: str) -> list[int] | None:
        if not text.isascii():
            return None
        if self._added is not None and not self._added_starts.isdisjoint(text) and self._added.search(text):
            return None
        out: list[int] = []
        words = self._words
        for word in self._pieces(text):
            ids = words.get(word)
            if ids is None:
                ids = self._miss(word)
            out += ids
        return out

    def _pieces(self, text: str) -> list[str]:
        first, *rest = self._splits
        pieces = first(text)
        for split in rest:
            pieces = [p for piece in pieces for p in split(piece)]
        return pieces

    def _miss(self, word: str) -> tuple[int, ...]:
        ids = tuple([token.id for token in self._tokenize(word.translate(self._bytes))])
        if len(self._words) >= MAX_WORDS:
            self._words = {}  # dict swaps are atomic: a thread reading the old one is fine
        self._words[word] = ids
        return ids

    def self_check(self, tokenizer: Tokenizer) -> bool:
        """Every eligible probe encodes as the tokenizer does; the cache starts empty after."""
        try:
            for text in _probes():
                ids = self.encode(text)
                if ids is not None and ids != tokenizer.encode(text, add_special_tokens=False).ids:
                    return False
            return True
        finally:
            self._words = {}


def _probes(count: int = 400) -> Iterator[str]:
    """ASCII strings that exercise each branch of the known splits: words in mixed case,
    contractions, digit runs, punctuation runs, whitespace runs and line ends, every
    control character."""
    rng = random.Random(20261206)
    parts = ["Hello", " world", "WORLD", "It's", " they'RE", "I'll", "'d", " 12345", "7", "3.14", "  ",
             "\n", "\r\n", "\n\n  ", "\t", " \t\n", "!!", " ...", "--", "/", "//", "(x)", "[a]", "{'k': 1}",
             " $5", "a_b", "CamelCase", "snake_case", "x+y=z", "@user", "#tag", "~", "`code`", "\\n", "\"q\"",
             " ", "  \n ", "ab12cd", "A1B2", "?!", ";\n"]
    controls = [chr(c) for c in range(32)] + [chr(127)]
    printable = [chr(c) for c in range(32, 127)]
    for i in range(count):
        if i % 4 == 3:
            yield "".join(rng.choice(printable + controls) for _ in range(rng.randint(1, 40)))
        else:
            yield "".join(rng.choice(parts) for _ in range(rng.randint(1, 12)))
