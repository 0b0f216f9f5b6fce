"""What a worker knows about its model, read from a tokenizer folder (for the mock worker).

The facts are read once per folder and shared: loading the tokenizer is nearly all of a mock
worker's start-up, and the test suite starts hundreds of mock workers on the same folders.
Everything in them is only read (the tokenizer only encodes and decodes), and a folder whose
files change is read again.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

__all__ = ["ModelFacts", "read_model_facts"]

_DEFAULT_CONTEXT = 32_768
_FILES = ("tokenizer.json", "generation_config.json", "config.json", "tokenizer_config.json")


@dataclass(slots=True, frozen=True)
class ModelFacts:
    path: Path
    tokenizer: Tokenizer
    eos_token_ids: tuple[int, ...]
    bos_token_id: int
    pad_token_id: int
    max_context_length: int
    vocab_size: int
    model_type: str
    architectures: tuple[str, ...]
    special_ids: frozenset[int]


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _token_id(tokenizer: Tokenizer, value: Any) -> int | None:
    if isinstance(value, dict):  # AddedToken as serialised by transformers
        value = value.get("content")
    return tokenizer.token_to_id(value) if isinstance(value, str) else None


def _as_ids(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (int(value),)


def read_model_facts(folder: str | Path) -> ModelFacts:
    """Read eos/bos ids, context length and vocab size as a real worker would report them.

    generation_config.json wins for eos ids (it lists every end token, e.g. Llama 3.1's
    three); tokenizer_config.json's eos_token is the fallback.
    """
    folder = Path(folder)
    return _read(folder, _stamp(folder))


def _stamp(folder: Path) -> tuple[tuple[int, int], ...]:
    """When the folder's files last changed and their sizes: a rewritten folder is read again."""
    stats = [(folder / name).stat() if (folder / name).is_file() else None for name in _FILES]
    return tuple((st.st_mtime_ns, st.st_size) if st else (0, 0) for st in stats)


@functools.lru_cache(maxsize=32)
def _read(folder: Path, stamp: tuple[tuple[int, int], ...]) -> ModelFacts:
    del stamp  # only part of the cache key
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    gen, cfg, tok_cfg = (_json(folder / n) for n in ("generation_config.json", "config.json", "tokenizer_config.json"))
    eos = _as_ids(gen.get("eos_token_id")) or _as_ids(_token_id(tokenizer, tok_cfg.get("eos_token")))
    bos = gen.get("bos_token_id", _token_id(tokenizer, tok_cfg.get("bos_token")))
    pad = _token_id(tokenizer, tok_cfg.get("pad_token"))
    specials = frozenset(
        tid for tid, tok in tokenizer.get_added_tokens_decoder().items() if tok.special
    )
    return ModelFacts(
        path=folder,
        tokenizer=tokenizer,
        eos_token_ids=eos,
        bos_token_id=-1 if bos is None else int(bos),
        pad_token_id=-1 if pad is None else pad,
        max_context_length=int(cfg.get("max_position_embeddings", _DEFAULT_CONTEXT)),
        vocab_size=int(cfg.get("vocab_size", tokenizer.get_vocab_size(with_added_tokens=True))),
        model_type=str(cfg.get("model_type", "")),
        architectures=tuple(cfg.get("architectures", ())),
        special_ids=specials,
    )
