"""What a served model does: generate, embed, score pairs (cross-encoder) or classify.

Read once at start-up from the worker's GetModelInfo (`is_generation`, `architectures`,
`num_labels`, `id2label_json`), with the model folder's `config.json` filling what the
worker left empty. Never guessed from the model's name.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sglang_gw.proto import sglang_scheduler_pb2 as pb

__all__ = ["ModelKind", "read_model_kind"]

log = logging.getLogger(__name__)

TASKS = ("generate", "embedding", "cross_encoder", "classifier")


@dataclass(slots=True, frozen=True)
class ModelKind:
    """`task` is one of TASKS. `labels` are the classes by id (classifier); `token_types`
    says the model takes `token_type_ids` (BERT-like, `type_vocab_size` > 1);
    `dimensions` are the sizes an embedding may be cut to (Matryoshka models): None when
    it may not be cut, empty when any size up to the full one is allowed."""

    task: str = "generate"
    labels: tuple[str, ...] = ()
    token_types: bool = False
    dimensions: tuple[int, ...] | None = None

    @property
    def pooling(self) -> bool:
        return self.task != "generate"


def _config(folder: Path) -> dict[str, Any]:
    try:
        found = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _labels(info: pb.GetModelInfoResponse, config: dict[str, Any]) -> tuple[str, ...]:
    raw: Any = config.get("id2label") or {}
    if info.id2label_json:
        try:
            raw = json.loads(info.id2label_json)
        except ValueError:
            log.warning("ignoring the worker's unparsable id2label: %r", info.id2label_json[:80])
    if not isinstance(raw, dict):
        raw = {}
    count = info.num_labels or config.get("num_labels") or len(raw)
    return tuple(str(raw.get(str(i), raw.get(i, f"LABEL_{i}"))) for i in range(int(count)))


def _dimensions(config: dict[str, Any]) -> tuple[int, ...] | None:
    sizes = config.get("matryoshka_dimensions")
    if isinstance(sizes, list) and all(type(n) is int and n > 0 for n in sizes):
        return tuple(sorted(sizes))
    return () if config.get("is_matryoshka") is True else None


def read_model_kind(info: pb.GetModelInfoResponse, folder: Path) -> ModelKind:
    if info.is_generation:
        return ModelKind()
    config = _config(folder)
    archs = list(info.architectures) or [a for a in config.get("architectures") or () if isinstance(a, str)]
    token_types = int(config.get("type_vocab_size") or 0) > 1
    if not any(a.endswith("ForSequenceClassification") for a in archs):
        return ModelKind("embedding", token_types=token_types, dimensions=_dimensions(config))
    labels = _labels(info, config)
    task = "cross_encoder" if len(labels) <= 1 else "classifier"
    return ModelKind(task, labels=labels, token_types=token_types)
