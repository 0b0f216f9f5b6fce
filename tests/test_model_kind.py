"""The model's kind comes from GetModelInfo and config.json, never from its name."""

from __future__ import annotations

import json
from pathlib import Path

from sglang_gw.model_kind import ModelKind, read_model_kind
from sglang_gw.proto import sglang_scheduler_pb2 as pb


def folder_with(tmp_path: Path, config: dict) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_a_generative_model(tmp_path: Path) -> None:
    info = pb.GetModelInfoResponse(is_generation=True, architectures=["BertForSequenceClassification"])
    assert read_model_kind(info, tmp_path) == ModelKind()


def test_an_embedding_model_named_like_a_reranker(tmp_path: Path) -> None:
    info = pb.GetModelInfoResponse(is_generation=False, model_path="org/some-reranker",
                                   architectures=["Qwen3ForCausalLM"])
    assert read_model_kind(info, tmp_path).task == "embedding"


def test_a_cross_encoder_from_the_folder_config(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"architectures": ["XLMRobertaForSequenceClassification"],
                                    "id2label": {"0": "LABEL_0"}, "type_vocab_size": 1})
    kind = read_model_kind(pb.GetModelInfoResponse(is_generation=False), folder)
    assert kind == ModelKind("cross_encoder", labels=("LABEL_0",), token_types=False)


def test_a_classifier_takes_the_workers_labels_first(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"id2label": {"0": "a", "1": "b"}, "type_vocab_size": 2})
    info = pb.GetModelInfoResponse(is_generation=False, architectures=["BertForSequenceClassification"],
                                   num_labels=3, id2label_json=json.dumps({"0": "neg", "1": "neu", "2": "pos"}))
    kind = read_model_kind(info, folder)
    assert kind.task == "classifier" and kind.labels == ("neg", "neu", "pos") and kind.token_types


def test_matryoshka_sizes(tmp_path: Path) -> None:
    info = pb.GetModelInfoResponse(is_generation=False)
    assert read_model_kind(info, folder_with(tmp_path, {"matryoshka_dimensions": [64, 32]})).dimensions == (32, 64)
    assert read_model_kind(info, folder_with(tmp_path, {"is_matryoshka": True})).dimensions == ()
    assert read_model_kind(info, folder_with(tmp_path, {})).dimensions is None
