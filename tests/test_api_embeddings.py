"""/v1/embeddings over real gRPC: two mock workers serving an embedding model, the real
openai client, every input shape, base64 equal to float, per-input errors."""

from __future__ import annotations

import base64
import json
import math
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from sglang_gw.config import RoutingConfig
from sglang_gw.testing.mock_pooling import Pooling
from sglang_gw.testing.mock_worker import MockWorker, ThreadedMockWorker
from sglang_gw.testing.model_facts import read_model_facts
from tests.conftest import ThreadedServer, start_gateway


class Fleet:
    def __init__(self, server: ThreadedServer, mocks: list[ThreadedMockWorker]) -> None:
        self.server, self.mocks = server, mocks
        self.url = f"http://127.0.0.1:{server.port}"
        self.client = openai.OpenAI(base_url=f"{self.url}/v1", api_key="x", max_retries=0, timeout=60)

    def post(self, path: str, body: object) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=60)


def pooling_fleet(folder: Path, kind: str, n: int = 2) -> tuple[ThreadedServer, list[ThreadedMockWorker]]:
    """n workers of a pooling model behind a round-robin gateway (so spreading is exact)."""
    facts = read_model_facts(folder)
    mocks = [ThreadedMockWorker(MockWorker(facts, served_model_name=f"{kind}-model", pooling=Pooling(kind)))
             for _ in range(n)]
    return start_gateway(folder, [m.url for m in mocks], routing=RoutingConfig(policy="round_robin")), mocks


@pytest.fixture(scope="module")
def emb(qwen3_dir: Path) -> Iterator[Fleet]:
    server, mocks = pooling_fleet(qwen3_dir, "embedding")
    yield Fleet(server, mocks)
    server.stop()
    for m in mocks:
        m.stop()


def expected(folder: Path, text: str) -> list[float]:
    """What the mock computes for a text tokenized with the model's special tokens."""
    facts = read_model_facts(folder)
    ids = facts.tokenizer.encode(text, add_special_tokens=True).ids
    return list(Pooling("embedding").embed(_req(ids), facts.tokenizer).embedding)


def _req(ids: list[int]):  # noqa: ANN202
    from sglang_gw.proto import sglang_scheduler_pb2 as pb
    req = pb.EmbedRequest()
    req.tokenized.input_ids.extend(ids)
    return req


def test_float_embeddings_match_the_worker(emb: Fleet, qwen3_dir: Path) -> None:
    out = emb.client.embeddings.create(model="embedding-model", input=["hello world", "naïve café"],
                                       encoding_format="float")
    assert [d.index for d in out.data] == [0, 1]
    assert out.data[0].embedding == pytest.approx(expected(qwen3_dir, "hello world"), abs=1e-6)
    assert out.data[1].embedding == pytest.approx(expected(qwen3_dir, "naïve café"), abs=1e-6)
    ids = [read_model_facts(qwen3_dir).tokenizer.encode(t).ids for t in ("hello world", "naïve café")]
    assert out.usage.prompt_tokens == out.usage.total_tokens == sum(map(len, ids))
    assert out.model == "embedding-model"


def test_base64_equals_float_after_decoding(emb: Fleet) -> None:
    texts = ["one", "two three", "four five six"]
    floats = emb.client.embeddings.create(model="embedding-model", input=texts, encoding_format="float")
    b64 = emb.client.embeddings.create(model="embedding-model", input=texts)  # the SDK asks base64 and decodes
    assert [d.embedding for d in b64.data] == [d.embedding for d in floats.data]
    raw = emb.post("/v1/embeddings", {"input": "one", "encoding_format": "base64"}).json()
    packed = base64.b64decode(raw["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == floats.data[0].embedding


def test_every_input_shape(emb: Fleet, qwen3_dir: Path) -> None:
    ids = read_model_facts(qwen3_dir).tokenizer.encode("hello world").ids
    text = emb.client.embeddings.create(model="embedding-model", input="hello world", encoding_format="float")
    one_ids = emb.client.embeddings.create(model="embedding-model", input=ids, encoding_format="float")
    many_ids = emb.client.embeddings.create(model="embedding-model", input=[ids, ids[:1]], encoding_format="float")
    assert one_ids.data[0].embedding == text.data[0].embedding
    assert many_ids.data[0].embedding == text.data[0].embedding
    assert len(many_ids.data) == 2 and many_ids.usage.prompt_tokens == len(ids) + 1


def test_a_batch_of_256_is_spread_over_the_workers(emb: Fleet, qwen3_dir: Path) -> None:
    before = [len(m.worker.records.embeds) for m in emb.mocks]
    texts = [f"input number {i}" for i in range(256)]
    out = emb.client.embeddings.create(model="embedding-model", input=texts, encoding_format="float")
    assert [d.index for d in out.data] == list(range(256))
    served = [len(m.worker.records.embeds) - b for m, b in zip(emb.mocks, before, strict=True)]
    assert served == [128, 128]
    for i in (0, 37, 255):  # each answer is its own input's, whatever order the calls ended in
        assert out.data[i].embedding == pytest.approx(expected(qwen3_dir, texts[i]), abs=1e-6)


@pytest.mark.parametrize(("body", "param"), [
    ({"input": []}, "input"),
    ({"input": ["a", [1, 2]]}, "input"),
    ({"input": ["a", ""]}, "input[1]"),
    ({"input": [[1, 2], [-1]]}, "input[1]"),
    ({"input": [[1], []]}, "input"),
    ({"input": 5}, "input"),
    ({"input": "a", "encoding_format": "int8"}, "encoding_format"),
    ({"input": "a", "dimensions": 8}, "dimensions"),
    ({"input": "a", "dimensions": 0}, "dimensions"),
])
def test_bad_input_is_a_400(emb: Fleet, body: dict, param: str) -> None:
    r = emb.post("/v1/embeddings", body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param


def test_an_input_longer_than_the_context_names_it(emb: Fleet) -> None:
    r = emb.post("/v1/embeddings", {"input": ["short", "word " * 41_000]})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "context_length_exceeded" and err["param"] == "input[1]"
    assert all(not m.worker.records.embeds or len(m.worker.records.embeds[-1].tokenized.input_ids) < 40_000
               for m in emb.mocks)


def test_an_unknown_model_is_a_404(emb: Fleet) -> None:
    with pytest.raises(openai.NotFoundError):
        emb.client.embeddings.create(model="nope", input="a")


def test_a_generative_model_refuses_embeddings(gw) -> None:  # noqa: ANN001
    r = httpx.post(f"{gw.url}/v1/embeddings", json={"input": "hello"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"


def test_chat_on_an_embedding_model_is_a_400(emb: Fleet) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        emb.client.chat.completions.create(model="embedding-model", messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["param"] == "model"  # type: ignore[index]
    assert all(not m.worker.records.requests for m in emb.mocks)


def test_a_failed_call_is_retried_on_the_other_worker(emb: Fleet) -> None:
    from sglang_gw.testing.mock_worker import Faults

    before = sum(len(m.worker.records.embeds) for m in emb.mocks)
    emb.mocks[0].worker.faults = Faults(reject_next=1)  # UNAVAILABLE, retryable
    try:
        out = emb.client.embeddings.create(model="embedding-model", input=["a", "b", "c", "d"],
                                           encoding_format="float")
        assert emb.mocks[0].worker.faults.reject_next == 0
    finally:
        emb.mocks[0].worker.faults = Faults()
    assert len(out.data) == 4
    gw = emb.server.gateway
    assert sum(len(m.worker.records.embeds) for m in emb.mocks) - before == 5  # one call failed, then retried
    assert all(w.inflight == 0 for w in gw.pool.workers())


@pytest.fixture(scope="module")
def matryoshka(qwen3_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("mrl") / "model"
    shutil.copytree(qwen3_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "matryoshka_dimensions": [8, 16, 32]}))
    server, mocks = pooling_fleet(folder, "embedding", n=1)
    yield Fleet(server, mocks)
    server.stop()
    for m in mocks:
        m.stop()


def test_dimensions_cut_and_renormalise_on_a_matryoshka_model(matryoshka: Fleet, qwen3_dir: Path) -> None:
    out = matryoshka.client.embeddings.create(model="embedding-model", input="hello world", dimensions=8,
                                              encoding_format="float")
    full = expected(qwen3_dir, "hello world")
    norm = math.sqrt(sum(v * v for v in full[:8]))
    assert out.data[0].embedding == pytest.approx([v / norm for v in full[:8]], abs=1e-6)
    r = matryoshka.post("/v1/embeddings", {"input": "x", "dimensions": 12})
    assert r.status_code == 400 and r.json()["error"]["param"] == "dimensions"


def test_an_adapter_on_embeddings_is_a_400(emb: Fleet) -> None:
    """The scheduler proto's EmbedRequest has no lora_id: an adapter cannot be applied."""
    r = emb.post("/v1/load_lora_adapter", {"lora_name": "tuned", "lora_path": "/a/tuned"})
    assert r.status_code == 200, r.text
    try:
        for body in ({"model": "embedding-model:tuned", "input": "a"}, {"input": "a", "lora_path": "tuned"}):
            r = emb.post("/v1/embeddings", body)
            assert r.status_code == 400 and r.json()["error"]["param"] == "model", r.text
    finally:
        assert emb.post("/v1/unload_lora_adapter", {"lora_name": "tuned"}).status_code == 200


def test_a_message_on_an_embedding_model_is_an_anthropic_400(emb: Fleet) -> None:
    r = httpx.post(f"{emb.url}/v1/messages", timeout=30, json={
        "model": "embedding-model", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400 and r.json()["type"] == "error"
    assert r.json()["error"]["type"] == "invalid_request_error" and "generate model" in r.json()["error"]["message"]
    assert all(not m.worker.records.requests for m in emb.mocks)
