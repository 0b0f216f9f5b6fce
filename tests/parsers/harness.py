"""The shared conformance harness for every reasoning and tool-call parser.

A parser is driven with the same model output split many ways: whole, one character at a
time, token-aligned (through the real detokenizer of a real tokenizer) and 100 seeded
random chunkings. Every split must give the same result as the whole text: that is what
"stream == non-stream" means for a parser.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tokenizers import Tokenizer

from sglang_gw.parsers.types import ReasoningDelta, ToolDelta
from sglang_gw.tokenizer.detokenizer import IncrementalDetokenizer

__all__ = ["ToolResult", "chunkings", "run_reasoning", "run_tools", "split_invariant_reasoning",
           "split_invariant_tools"]


def chunkings(text: str, *, seed: int = 0, count: int = 100, tokenizer: Tokenizer | None = None) -> Iterator[list[str]]:
    yield [text]
    yield list(text)
    if tokenizer is not None:
        yield token_aligned(text, tokenizer)
    rng = random.Random(seed)
    for _ in range(count):
        cuts = (sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, rng.randint(1, 12))))
                if len(text) > 1 else [])
        bounds = [0, *cuts, len(text)]
        yield [text[a:b] for a, b in itertools.pairwise(bounds)]


def token_aligned(text: str, tokenizer: Tokenizer) -> list[str]:
    """The pieces a streaming gateway would feed: one token at a time, as detokenized."""
    detok = IncrementalDetokenizer(tokenizer, skip_special_tokens=False)
    pieces = [detok.feed([tid]) for tid in tokenizer.encode(text, add_special_tokens=False).ids]
    pieces.append(detok.finish())
    return [p for p in pieces if p]


def run_reasoning(parser: object, chunks: list[str]) -> tuple[str, str]:
    reasoning, content = [], []
    for chunk in chunks:
        d: ReasoningDelta = parser.feed(chunk)  # type: ignore[attr-defined]
        reasoning.append(d.reasoning)
        content.append(d.content)
    d = parser.finish()  # type: ignore[attr-defined]
    reasoning.append(d.reasoning)
    content.append(d.content)
    return "".join(reasoning), "".join(content)


@dataclass
class ToolResult:
    content: str = ""
    calls: list[dict[str, str]] = field(default_factory=list)  # name, arguments (ids checked apart)
    ids: list[str] = field(default_factory=list)

    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.content, tuple((c["name"], c["arguments"]) for c in self.calls)


def _apply(result: ToolResult, delta: ToolDelta) -> None:
    result.content += delta.content
    for call in delta.calls:
        if call.index == len(result.calls):
            assert call.name is not None and call.id is not None, "a call's first delta names it"
            result.calls.append({"name": call.name, "arguments": ""})
            result.ids.append(call.id)
        else:
            assert call.index == len(result.calls) - 1, "calls stream in order, one at a time"
            assert call.name is None and call.id is None, "id and name come once"
        result.calls[call.index]["arguments"] += call.arguments


def run_tools(parser: object, chunks: list[str]) -> ToolResult:
    result = ToolResult()
    for chunk in chunks:
        _apply(result, parser.feed(chunk))  # type: ignore[attr-defined]
    _apply(result, parser.finish())  # type: ignore[attr-defined]
    return result


def split_invariant_reasoning(factory: Callable[[], object], text: str, *, seed: int = 0,
                              tokenizer: Tokenizer | None = None) -> tuple[str, str]:
    whole = run_reasoning(factory(), [text])
    for chunks in chunkings(text, seed=seed, tokenizer=tokenizer):
        assert run_reasoning(factory(), chunks) == whole, f"split {chunks!r} differs"
    return whole


def split_invariant_tools(factory: Callable[[], object], text: str, *, seed: int = 0,
                          tokenizer: Tokenizer | None = None, valid_json: bool = True) -> ToolResult:
    whole = run_tools(factory(), [text])
    if valid_json:
        for call in whole.calls:
            json.loads(call["arguments"])  # the final arguments are one valid JSON document
    assert len(set(whole.ids)) == len(whole.ids), "call ids are distinct"
    for chunks in chunkings(text, seed=seed, tokenizer=tokenizer):
        assert run_tools(factory(), chunks).key() == whole.key(), f"split {chunks!r} differs"
    return whole
