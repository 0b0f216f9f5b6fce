"""The frame stage of the pooling road: worker vectors → the API's answers.

Embeddings as floats or base64 (little-endian float32, as OpenAI sends them), cut to
`dimensions` and renormalised; rerank scores (a cross-encoder's value, or the cosine of
the query's and document's embeddings) sorted best first; class probabilities (softmax of
the worker's logits) with the model's labels.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Sequence
from typing import Any

from sglang_gw.errors import InvalidRequestError

__all__ = ["classification", "cosine", "embedding_value", "rank", "shorten", "softmax"]


def shorten(vector: Sequence[float], dimensions: int | None) -> list[float]:
    """The first `dimensions` values, renormalised (a Matryoshka embedding's prefix)."""
    if dimensions is None:
        return list(vector)
    if dimensions > len(vector):
        raise InvalidRequestError(f"`dimensions` is {dimensions}; this model's embeddings have {len(vector)}",
                                  param="dimensions")
    cut = list(vector[:dimensions])
    norm = math.sqrt(sum(v * v for v in cut)) or 1.0
    return [v / norm for v in cut]


def embedding_value(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def rank(scores: Sequence[float], documents: Sequence[str], top_n: int | None,
         return_documents: bool) -> list[dict[str, Any]]:
    """Results best first (ties keep input order), each with its input `index`."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[:top_n]
    results = []
    for i in order:
        result: dict[str, Any] = {"index": i, "relevance_score": scores[i], "score": scores[i]}
        if return_documents:
            result["document"] = {"text": documents[i]}
        results.append(result)
    return results


def softmax(logits: Sequence[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    total = sum(exps)
    return [e / total for e in exps]


def classification(index: int, logits: Sequence[float], labels: Sequence[str]) -> dict[str, Any]:
    probs = softmax(logits)
    best = max(range(len(probs)), key=probs.__getitem__)
    label = labels[best] if best < len(labels) else f"LABEL_{best}"
    return {"index": index, "label": label, "probs": probs, "num_classes": len(probs)}
