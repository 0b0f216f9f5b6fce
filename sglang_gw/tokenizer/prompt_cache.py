"""Prompt tokenization with a segment cache: repeated system prompts and chat history are
tokenized once.

HF tokenizers cut the text at added tokens before anything else, so a prompt's ids are the
concatenation of the ids of the pieces between those tokens. Rendered chat prompts are full
of such cuts (role markers), and most pieces repeat across requests: the shared system
prompt, the earlier turns of a conversation. Pieces are cached by their text; only new ones
are encoded. The split is only used when a start-up self-check shows it is exact for this
tokenizer. New pieces go to a `RankEncoder` (tiktoken: any script, several times cheaper
than the tokenizer on new text) when the tokenizer has one, short plain ones to a
`WordEncoder` (plain ASCII text, up to `WORDS_MAX_CHARS`, from cached words), the rest to the
tokenizer.

The cache is bounded by the characters it holds (a few long documents must not pin
gigabytes), and shared by the event loop and the threads long prompts are tokenized in, so
its bookkeeping is under a lock; encoding itself is not.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

from tokenizers import Tokenizer

from sglang_gw.tokenizer.encoding import GIL_FREE_CHARS, encode_ids, in_background_thread
from sglang_gw.tokenizer.rank_encoder import RankEncoder
from sglang_gw.tokenizer.word_encoder import WordEncoder

__all__ = ["SegmentEncoder"]

# The word encoder holds the GIL; its regex pass runs in C without a break, about 2 ms for
# this many characters (some 13k tokens) against 15 ms of tokenizer CPU. Longer text goes to
# the tokenizer, which is slower but leaves the GIL to the event loop. Plain prompts this
# long are prepared on the loop itself (pipeline/offload.py), a short stall by design.
WORDS_MAX_CHARS = 65_536
# Pieces shorter than this are cheaper to encode again than to look up and keep.
MIN_CACHED_CHARS = 256
MAX_ENTRIES = 4096
# About 10 bytes of text and ids per character: some 80 MB at most.
MAX_CACHED_CHARS = 8_000_000
_PROBES = (
    "<<SYS>> You are a helpful assistant. Réponds en français. 你好，世界 👋🏽\n\n",
    "  leading spaces, trailing newline\n",
    "def f(x):\n    return x  # code\n",
)


class SegmentEncoder:
    def __init__(self, tokenizer: Tokenizer, markers: Iterable[str], words: WordEncoder | None = None,
                 ranks: RankEncoder | None = None) -> None:
        self._tokenizer = tokenizer
        self._words = words
        self._ranks = ranks
        self._ids: dict[str, int] = {}
        for text in markers:
            tid = tokenizer.token_to_id(text)
            if tid is not None and _cuts_cleanly(tokenizer, text):
                self._ids[text] = tid
        ordered = sorted(self._ids, key=len, reverse=True)
        self._split = re.compile("(" + "|".join(map(re.escape, ordered)) + ")") if ordered else None
        self._cache: OrderedDict[str, list[int]] = OrderedDict()
        self._cached_chars = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        if self._split is not None and not self._self_check():
            self._split = None
        self.hits = self.misses = 0

    @property
    def enabled(self) -> bool:
        return self._split is not None

    @property
    def has_words(self) -> bool:
        return self._words is not None

    @property
    def has_ranks(self) -> bool:
        return self._ranks is not None

    def encode(self, text: str) -> list[int]:
        """`tokenizer.encode(text, add_special_tokens=False).ids`, from cached pieces."""
        if self._split is None:
            return self._new(text)
        if self._words is None and self._ranks is None and len(text) < 2 * MIN_CACHED_CHARS:
            return encode_ids(self._tokenizer, text)  # one call beats a call per piece
        out: list[int] = []
        for i, piece in enumerate(self._split.split(text)):
            if i % 2:
                out.append(self._ids[piece])
            elif piece:
                out.extend(self._piece(piece))
        return out

    def _piece(self, piece: str) -> list[int]:
        if len(piece) < MIN_CACHED_CHARS:
            return self._new(piece)
        with self._lock:
            ids = self._cache.get(piece)
            if ids is not None:
                self.hits += 1
                self._cache.move_to_end(piece)
                return ids
            self.misses += 1
        ids = self._new(piece)
        if len(piece) <= MAX_CACHED_CHARS // 4:
            self._keep(piece, ids)
        return ids

    def _new(self, text: str) -> list[int]:
        """Ids of text the cache does not hold: words for short plain text, else tiktoken
        (which leaves the GIL to other threads), else words for plain text up to
        `WORDS_MAX_CHARS` (up to `GIL_FREE_CHARS` in a low-priority thread), else the
        tokenizer (which leaves the GIL on long text too)."""
        size = len(text)
        if self._words is not None and (size < MIN_CACHED_CHARS or self._ranks is None and (
                size < GIL_FREE_CHARS or size <= WORDS_MAX_CHARS and not in_background_thread())):
            ids = self._words.encode(text)  # short: a few dict lookups beat tiktoken's call
            if ids is not None:
                return ids
        if self._ranks is not None:
            ids = self._ranks.encode(text)
            if ids is not None:
                return ids
        return encode_ids(self._tokenizer, text)

    def _keep(self, piece: str, ids: list[int]) -> None:
        with self._lock:
            if piece in self._cache:  # another thread encoded it meanwhile
                return
            self._cache[piece] = ids
            self._cached_chars += len(piece)
            while len(self._cache) > MAX_ENTRIES or self._cached_chars > MAX_CACHED_CHARS:
                old, _ = self._cache.popitem(last=False)
                self._cached_chars -= len(old)

    def _self_check(self) -> bool:
        markers = list(self._ids)
        sample = "".join(m + p * 8 for m in markers for p in _PROBES)
        whole = self._tokenizer.encode(sample, add_special_tokens=False).ids
        try:
            return self.encode(sample) == whole
        finally:
            self._cache.clear()
            self._cached_chars = 0  # the budget counts what the cache holds: nothing now


def _identity_normalizer(tokenizer: Tokenizer) -> bool:
    norm = tokenizer.normalizer
    return norm is None or all(norm.normalize_str(p) == p for p in _PROBES)


def _cuts_cleanly(tokenizer: Tokenizer, text: str) -> bool:
    """An added token that eats no neighbouring whitespace and matches on the raw text
    (a `normalized` token does too when normalization changes nothing)."""
    for token in tokenizer.get_added_tokens_decoder().values():
        if token.content == text:
            if token.lstrip or token.rstrip or token.single_word:
                return False
            return not token.normalized or _identity_normalizer(tokenizer)
    return False
