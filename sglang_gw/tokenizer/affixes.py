"""The special tokens a tokenizer puts around one text, so that the fast encoders can
serve `add_special_tokens=True` too (completions, /generate, embeddings).

For a single sequence the post-processors of tokenizer.json (TemplateProcessing,
BERT/RoBERTa, ByteLevel, sequences of them) add the same ids before and after the text
whatever it is. They are read once from probes, and used only when every probe agrees
and the tokenizer neither truncates nor pads (those depend on the text's length).
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenizers import Tokenizer

__all__ = ["SpecialAffixes"]

_PROBES = ("a", "Hello world", "你好，世界", " \n\t x ", "1234567", "👋🏽 é")


@dataclass(slots=True, frozen=True)
class SpecialAffixes:
    prefix: tuple[int, ...]
    suffix: tuple[int, ...]

    def around(self, ids: list[int]) -> list[int]:
        return [*self.prefix, *ids, *self.suffix] if self.prefix or self.suffix else ids

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> SpecialAffixes | None:
        if tokenizer.truncation is not None or tokenizer.padding is not None:
            return None
        found: set[SpecialAffixes] = set()
        for text in _PROBES:
            plain = tokenizer.encode(text, add_special_tokens=False).ids
            full = tokenizer.encode(text, add_special_tokens=True).ids
            affixes = _split(full, plain)
            if affixes is None:
                return None
            found.add(affixes)
        return found.pop() if len(found) == 1 else None


def _split(full: list[int], plain: list[int]) -> SpecialAffixes | None:
    """`full` as prefix + `plain` + suffix, when it is that (the first such place)."""
    n = len(plain)
    for start in range(len(full) - n + 1):
        if full[start:start + n] == plain:
            return SpecialAffixes(tuple(full[:start]), tuple(full[start + n:]))
    return None
