"""/v1/rerank (and /rerank) and /v1/classify over real gRPC with mock pooling workers:
a cross-encoder scoring pairs, an embedding model ranking by cosine, a classifier with
its labels; the shapes SGLang answers, and bad input as 400s."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sglang_gw.pipeline.pooled import cosine
from tests.test_api_embeddings import Fleet, pooling_fleet

QUERY = "what is a giant panda"
DOCS = ["hello there", "the giant panda is a bear of China", "a panda eats bamboo"]


def _fleet(folder: Path, kind: str) -> Iterator[Fleet]:
    server, mocks = pooling_fleet(folder, kind)
    yield Fleet(server, mocks)
    server.stop()
    for m in mocks:
        m.stop()


@pytest.fixture(scope="module")
def cross(qwen3_dir: Path) -> Iterator[Fleet]:
    yield from _fleet(qwen3_dir, "cross_encoder")


@pytest.fixture(scope="module")
def bert_like(qwen3_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The same cross-encoder, its config.json saying it takes token type ids."""
    folder = tmp_path_factory.mktemp("typed") / "model"
    shutil.copytree(qwen3_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "type_vocab_size": 2}))
    yield from _fleet(folder, "cross_encoder")


@pytest.fixture(scope="module")
def emb(qwen3_dir: Path) -> Iterator[Fleet]:
    yield from _fleet(qwen3_dir, "embedding")


@pytest.fixture(scope="module")
def clf(qwen3_dir: Path) -> Iterator[Fleet]:
    yield from _fleet(qwen3_dir, "classifier")


def sent(fleet: Fleet) -> list:  # noqa: ANN201 - the EmbedRequests the workers got
    return [r for m in fleet.mocks for r in m.worker.records.embeds]


def test_cross_encoder_ranks_pairs_best_first(cross: Fleet) -> None:
    r = cross.post("/v1/rerank", {"query": QUERY, "documents": DOCS})
    assert r.status_code == 200, r.text
    body = r.json()
    results = body["results"]
    assert [x["index"] for x in results] == [1, 2, 0]
    scores = [x["relevance_score"] for x in results]
    assert scores == sorted(scores, reverse=True) and scores[-1] == 0.0
    assert results[0]["document"] == {"text": DOCS[1]}
    assert body["object"] == "rerank" and body["usage"]["prompt_tokens"] > 0
    pairs = sent(cross)[-3:]
    assert all(p.is_cross_encoder and list(p.texts) in ([QUERY, d] for d in DOCS) for p in pairs)
    assert all(not p.token_type_ids for p in pairs)  # a Qwen model has no token types


def test_rerank_alias_top_n_objects_and_no_documents(cross: Fleet) -> None:
    full = cross.post("/v1/rerank", {"query": QUERY, "documents": DOCS}).json()["results"]
    body = {"query": QUERY, "documents": [{"text": d} for d in DOCS], "top_n": 2, "return_documents": False}
    short = cross.post("/rerank", body).json()["results"]
    assert short == [{k: v for k, v in x.items() if k != "document"} for x in full[:2]]


def test_token_type_ids_are_sent_where_the_model_has_them(bert_like: Fleet, qwen3_dir: Path) -> None:
    from sglang_gw.testing.model_facts import read_model_facts

    r = bert_like.post("/v1/rerank", {"query": QUERY, "documents": DOCS[1:2]})
    assert r.status_code == 200
    req = sent(bert_like)[-1]
    enc = read_model_facts(qwen3_dir).tokenizer.encode(QUERY, DOCS[1], add_special_tokens=True)
    assert list(req.tokenized.input_ids) == enc.ids
    assert list(req.token_type_ids) == enc.type_ids and set(enc.type_ids) == {0, 1}


def test_embedding_model_ranks_by_cosine(emb: Fleet) -> None:
    vectors = [d.embedding for d in emb.client.embeddings.create(model="embedding-model", input=[QUERY, *DOCS],
                                                                  encoding_format="float").data]
    results = emb.post("/v1/rerank", {"query": QUERY, "documents": DOCS}).json()["results"]
    want = sorted(range(3), key=lambda i: -cosine(vectors[0], vectors[i + 1]))
    assert [x["index"] for x in results] == want
    assert results[0]["relevance_score"] == pytest.approx(cosine(vectors[0], vectors[want[0] + 1]), abs=1e-6)


@pytest.mark.parametrize(("body", "param"), [
    ({"query": QUERY, "documents": []}, "documents"),
    ({"query": QUERY}, "documents"),
    ({"query": "", "documents": DOCS}, "query"),
    ({"query": QUERY, "documents": DOCS, "top_n": 0}, "top_n"),
    ({"query": QUERY, "documents": ["a", {"title": "b"}]}, "documents[1]"),
    ({"query": QUERY, "documents": ["a", 3]}, "documents[1]"),
])
def test_bad_rerank_bodies_are_400s(cross: Fleet, body: dict, param: str) -> None:
    r = cross.post("/v1/rerank", body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_classify_gives_probabilities_with_the_models_labels(clf: Fleet) -> None:
    r = clf.post("/v1/classify", {"input": ["good day", "bad day"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list" and [d["index"] for d in body["data"]] == [0, 1]
    for item in body["data"]:
        assert item["num_classes"] == 2 and sum(item["probs"]) == pytest.approx(1.0)
        best = max(range(2), key=item["probs"].__getitem__)
        assert item["label"] == ("negative", "positive")[best]
    assert body["usage"]["completion_tokens"] == 0 and body["usage"]["prompt_tokens"] > 0
    single = clf.post("/v1/classify", {"input": "good day"}).json()["data"]
    assert single == body["data"][:1]


@pytest.mark.parametrize("body", [{"input": []}, {"input": ["a", ""]}, {"input": [[1, 2]]}, {}])
def test_bad_classify_bodies_are_400s(clf: Fleet, body: dict) -> None:
    r = clf.post("/v1/classify", body)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_each_endpoint_wants_its_kind_of_model(clf: Fleet, emb: Fleet) -> None:
    for fleet, path, body in ((clf, "/v1/rerank", {"query": "q", "documents": ["d"]}),
                              (clf, "/v1/embeddings", {"input": "x"}),
                              (emb, "/v1/classify", {"input": "x"})):
        r = fleet.post(path, body)
        assert r.status_code == 400 and r.json()["error"]["param"] == "model", (path, r.text)
