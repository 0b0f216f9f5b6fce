"""Incremental detokenization: token ids in, final text out, one instance per choice.

Two strategies sit behind one class; ``IncrementalDetokenizer(...)`` picks one:

* **Byte-level** (the decoder is ``decoders.ByteLevel``: Qwen, Llama 3, DeepSeek,
  Mistral tekken, GPT-OSS). Such a decode is a pure function of the concatenated
  token bytes: ``Tokenizer.decode`` maps every token to its bytes and decodes them as
  UTF-8 with replacement. We build that id -> bytes table once per tokenizer and run
  the bytes through ``codecs.utf_8_decode(final=False)``, which leaves an unfinished
  character (at most 3 bytes) for the next feed and replaces invalid bytes by the
  same Unicode "maximal subpart" rule as Rust's ``from_utf8_lossy``. Cost per token:
  one list index and one C call, whatever the output length; the concatenated
  output equals ``tokenizer.decode(all_ids, skip_special_tokens=...)`` exactly, for
  any ids. ``prompt_tail`` is not needed: there is no first-token rule, and a prompt
  always ends on a character boundary.
* **Generic** (SentencePiece-style ``Replace/ByteFallback/Fuse/Strip`` or
  ``Metaspace`` decoders, and anything else): ``tokenizers.decoders.DecodeStream``,
  which re-decodes a small window (the previous emitted group plus what is held)
  in Rust. Here the first token of a decode may lose its leading space, so
  ``prompt_tail`` seeds the window: the output is then the continuation
  ``decode(prompt_tail + ids)[len(decode(prompt_tail)):]``, which for an empty tail
  is ``decode(ids)``.

``scripts/microbench_decode.py`` compares the strategies per token; the byte table is the
cheapest, then ``DecodeStream``, then a Python (prefix, read) re-decode window
(docs/performance.md).

Limits, where a whole decode cannot be matched with bounded memory:

* ``ByteFallback`` turns a whole run of ``<0xNN>`` tokens into one U+FFFD per byte
  when any part of the run is not valid UTF-8. If a model emits such garbage after
  a valid multi-byte character of the same run, that character was already
  emitted; we then emit the rest of the run decoded on its own.
* Decoders that rewrite text across tokens (WordPiece ``cleanup``, CTC) are
  matched only inside ``DecodeStream``'s window.

Build the byte tables at model load with :func:`prepare` (about 0.3 s for a
150k vocabulary, ~8 MB); otherwise the first request on a tokenizer pays for it.
"""

from __future__ import annotations

import threading
import weakref
from codecs import utf_8_decode as _utf8_decode
from collections.abc import Sequence
from dataclasses import dataclass

import tokenizers
from tokenizers.decoders import ByteLevel, DecodeStream

__all__ = ["IncrementalDetokenizer", "prepare"]


@dataclass(slots=True, frozen=True)
class _ByteTables:
    """id -> bytes exactly as ``Tokenizer.decode`` sees it, with and without specials.

    Tuples, not lists: a tuple of bytes leaves the garbage collector's view after the
    first pass it survives, where a list of a vocabulary's size is walked by every pass
    that reaches its generation. A variant is built at a request's first use, after the
    heap was frozen (runtime/heap.py), so as a list it was walked by the young passes
    until promoted, then by every full one (docs/performance.md, "Loop stalls from 32k
    prompts")."""

    keep: tuple[bytes, ...]
    skip: tuple[bytes, ...]
    variants: dict[frozenset[int], tuple[bytes, ...]]

    def skip_except(self, keep_ids: frozenset[int]) -> tuple[bytes, ...]:
        """The skip table with `keep_ids` decoded anyway: the special tokens a parser reads."""
        if not keep_ids:
            return self.skip
        table = self.variants.get(keep_ids)
        if table is None:
            draft = list(self.skip)
            for tid in keep_ids:
                if 0 <= tid < len(draft):
                    draft[tid] = self.keep[tid]
            table = self.variants[keep_ids] = tuple(draft)
        return table


_TABLES: weakref.WeakKeyDictionary[tokenizers.Tokenizer, _ByteTables | None] = (
    weakref.WeakKeyDictionary()
)
_TABLES_LOCK = threading.Lock()


def _byte_level_translation() -> dict[int, str]:
    """str.translate table undoing GPT-2's byte -> printable character map.

    Each mapped character becomes the latin-1 character of its byte, so that
    ``token.translate(t).encode("latin-1")`` yields the token's bytes in C. Unmapped
    characters below U+0100 are sent to U+FFFF so that encoding fails for them too.
    """
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    shifted = [b for b in range(256) if b not in set(printable)]
    table = {code: "\uffff" for code in range(0x100)}
    table.update({b: chr(b) for b in printable})
    table.update({0x100 + offset: chr(b) for offset, b in enumerate(shifted)})
    return table


def _token_bytes(token: str, translation: dict[int, str]) -> bytes:
    # A token with any character outside the map (e.g. an added token such as
    # "<｜end▁of▁sentence｜>") is passed through as its UTF-8, as the decoder does.
    try:
        return token.translate(translation).encode("latin-1")
    except UnicodeEncodeError:
        return token.encode()


def _build_tables(tokenizer: tokenizers.Tokenizer) -> _ByteTables | None:
    if not isinstance(tokenizer.decoder, ByteLevel):
        return None
    added = tokenizer.get_added_tokens_decoder()
    # Model ids are dense; added tokens may sit past them. (get_vocab() would be exact
    # but costs more than the rest of this function together.)
    size = max(tokenizer.get_vocab_size(with_added_tokens=True), max(added, default=-1) + 1)
    translation = _byte_level_translation()
    # Tokenizer.decode skips a token when its *content* is a special added token.
    specials = {t.content for t in added.values() if t.special}
    keep: list[bytes] = [b""] * size
    skip: list[bytes] = [b""] * size
    for token_id in range(size):
        token = tokenizer.id_to_token(token_id)
        if token is None:  # a hole in the vocabulary decodes to nothing
            continue
        keep[token_id] = _token_bytes(token, translation)
        if token not in specials:
            skip[token_id] = keep[token_id]
    return _ByteTables(tuple(keep), tuple(skip), {})


def _tables_for(tokenizer: tokenizers.Tokenizer) -> _ByteTables | None:
    # Tables reflect the tokenizer at first use: a gateway never adds tokens later.
    with _TABLES_LOCK:
        if tokenizer not in _TABLES:
            _TABLES[tokenizer] = _build_tables(tokenizer)
        return _TABLES[tokenizer]


def prepare(tokenizer: tokenizers.Tokenizer) -> None:
    """Build the per-tokenizer decode tables now (call once at load, off the event loop)."""
    _tables_for(tokenizer)


class IncrementalDetokenizer:
    """Turns a stream of token ids into text, never emitting half a character.

    ``feed(ids)`` returns the text that is now final; ``finish()`` flushes what is
    held (an unfinished character at the very end becomes U+FFFD, as in a whole
    decode). The concatenation of all returned pieces equals
    ``tokenizer.decode(ids, skip_special_tokens=...)`` (see the module docstring for
    the role of ``prompt_tail`` and the few cases where that cannot hold). Token ids
    are non-negative (uint32 on the wire); ids past the vocabulary decode to nothing.
    """

    __slots__ = ()

    def __new__(
        cls,
        tokenizer: tokenizers.Tokenizer,
        *,
        skip_special_tokens: bool = True,
        prompt_tail: Sequence[int] = (),
        keep_ids: frozenset[int] = frozenset(),
    ) -> IncrementalDetokenizer:
        if cls is IncrementalDetokenizer:
            tables = _tables_for(tokenizer)
            cls = _ByteLevelDetokenizer if tables is not None else _StreamDetokenizer
        return object.__new__(cls)

    def feed(self, token_ids: Sequence[int]) -> str:
        """Add token ids; return the text that became final."""
        raise NotImplementedError

    def finish(self) -> str:
        """End of stream: return whatever was held."""
        raise NotImplementedError


class _ByteLevelDetokenizer(IncrementalDetokenizer):
    __slots__ = ("_table", "_held")

    def __init__(
        self,
        tokenizer: tokenizers.Tokenizer,
        *,
        skip_special_tokens: bool = True,
        prompt_tail: Sequence[int] = (),
        keep_ids: frozenset[int] = frozenset(),
    ) -> None:
        tables = _tables_for(tokenizer)
        assert tables is not None
        self._table = tables.skip_except(keep_ids) if skip_special_tokens else tables.keep
        self._held = b""  # the start of an unfinished character (at most 3 bytes)

    def feed(self, token_ids: Sequence[int]) -> str:
        table = self._table
        try:
            if len(token_ids) == 1:
                data = table[token_ids[0]]
            else:
                data = b"".join([table[i] for i in token_ids])
        except IndexError:
            data = b"".join([table[i] for i in token_ids if i < len(table)])
        if self._held:
            data = self._held + data
        # utf_8_decode is what codecs' incremental decoder runs, minus its Python layer.
        text, used = _utf8_decode(data, "replace", False)
        self._held = data[used:] if used != len(data) else b""
        return text

    def finish(self) -> str:
        held, self._held = self._held, b""
        return _utf8_decode(held, "replace", True)[0]


class _StreamDetokenizer(IncrementalDetokenizer):
    __slots__ = ("_tokenizer", "_skip", "_stream", "_context", "_pending")

    def __init__(
        self,
        tokenizer: tokenizers.Tokenizer,
        *,
        skip_special_tokens: bool = True,
        prompt_tail: Sequence[int] = (),
        keep_ids: frozenset[int] = frozenset(),
    ) -> None:
        self._tokenizer = tokenizer
        # DecodeStream can only keep all special tokens or none: a parser that needs some
        # gets them all here (every byte-level family takes the exact path above).
        self._skip = skip_special_tokens and not keep_ids
        self._reset(list(prompt_tail))

    def _reset(self, context: list[int]) -> None:
        # Mirror of the stream's window, kept so finish() can flush and errors recover:
        # _context is the last emitted group, _pending what was fed since.
        self._stream = DecodeStream(ids=context or None, skip_special_tokens=self._skip)
        self._context = context
        self._pending: list[int] = []

    def feed(self, token_ids: Sequence[int]) -> str:
        # One id per step so every completed character is released at once.
        if len(token_ids) == 1:
            return self._step(token_ids[0])
        return "".join([self._step(i) for i in token_ids])

    def _step(self, token_id: int) -> str:
        self._pending.append(token_id)
        try:
            text = self._stream.step(self._tokenizer, token_id)
        except Exception:  # DecodeStream raises a bare Exception on "Invalid prefix"
            return self._recover()
        if text is None:
            return ""
        self._context, self._pending = self._pending, []
        return text

    def _recover(self) -> str:
        # Earlier text changed under the window (invalid ByteFallback run, see the
        # module docstring): what was emitted stays; decode the held ids on their own.
        held = self._pending
        text = self._decode(held)
        # Keep the held ids as context unless their text is unfinished: the stream
        # would then emit it a second time.
        self._reset([] if text.endswith("\ufffd") else held)
        return text

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=self._skip)

    def finish(self) -> str:
        if not self._pending:
            return ""
        held, self._pending = self._pending, []
        before = self._decode(self._context)
        after = self._decode(self._context + held)
        if after.startswith(before):
            return after[len(before) :]
        return self._decode(held)
