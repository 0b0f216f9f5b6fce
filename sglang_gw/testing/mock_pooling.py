"""What the mock worker serves in place of generation: embeddings, cross-encoder scores or
class logits, each a deterministic function of the token ids, so tests can predict them.

- embedding: the normalised sum of one fixed pseudo-random vector per token id (texts that
  share tokens point the same way, so cosine similarity ranks them as a real model would);
- cross_encoder: one value, the share of the query's distinct tokens found in the document
  (the pair is split by `token_type_ids` when sent, else by the length of `texts[0]`);
- classifier: one logit per label, from the token ids.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from tokenizers import Tokenizer

from sglang_gw.proto import sglang_scheduler_pb2 as pb

__all__ = ["POOLING_KINDS", "Pooling", "token_vector"]

POOLING_KINDS = ("embedding", "cross_encoder", "classifier")


@lru_cache(maxsize=1 << 16)
def token_vector(token_id: int, dim: int) -> tuple[float, ...]:
    rng = random.Random(token_id * 7919 + dim)
    return tuple(rng.uniform(-1.0, 1.0) for _ in range(dim))


def _normalised(values: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


@dataclass(slots=True, frozen=True)
class Pooling:
    """A pooling model's kind and shape, as GetModelInfo reports it."""

    kind: str = "embedding"
    dim: int = 32
    labels: tuple[str, ...] = ("negative", "positive")

    def __post_init__(self) -> None:
        if self.kind not in POOLING_KINDS:
            raise ValueError(f"unknown pooling kind {self.kind!r}: expected one of {', '.join(POOLING_KINDS)}")

    def describe(self, info: pb.GetModelInfoResponse) -> None:
        """Mark `info` as this model's: not generative; a sequence classifier (one label for
        a cross-encoder) with its `id2label`."""
        info.is_generation = False
        if self.kind == "embedding":
            return
        base = info.architectures[0] if info.architectures else "Model"
        arch = base.replace("ForCausalLM", "") + "ForSequenceClassification"
        del info.architectures[:]
        info.architectures.append(arch)
        labels = ("LABEL_0",) if self.kind == "cross_encoder" else self.labels
        info.num_labels = len(labels)
        info.id2label_json = json.dumps({str(i): name for i, name in enumerate(labels)})

    def embed(self, request: pb.EmbedRequest, tokenizer: Tokenizer) -> pb.EmbedResponse:
        ids = list(request.tokenized.input_ids)
        if self.kind == "embedding":
            values = self._embedding(ids)
        elif self.kind == "cross_encoder":
            values = [self._pair_score(ids, request, tokenizer)]
        else:
            values = self._logits(ids)
        return pb.EmbedResponse(embedding=values, embedding_dim=len(values), prompt_tokens=len(ids))

    def _embedding(self, ids: Sequence[int]) -> list[float]:
        total = [0.0] * self.dim
        for tid in ids:
            for i, v in enumerate(token_vector(tid, self.dim)):
                total[i] += v
        return _normalised(total)

    @staticmethod
    def _pair_score(ids: list[int], request: pb.EmbedRequest, tokenizer: Tokenizer) -> float:
        if request.token_type_ids:
            query = {t for t, k in zip(ids, request.token_type_ids, strict=False) if k == 0}
            doc = {t for t, k in zip(ids, request.token_type_ids, strict=False) if k == 1}
        else:
            n = len(tokenizer.encode(request.texts[0], add_special_tokens=False).ids) if request.texts else 0
            query, doc = set(ids[:n]), set(ids[n:])
        return len(query & doc) / len(query) if query else 0.0

    def _logits(self, ids: Sequence[int]) -> list[float]:
        n = max(1, len(ids))
        return [sum((tid * (k + 3)) % 101 for tid in ids) / (101.0 * n) * 4.0 for k in range(len(self.labels))]
