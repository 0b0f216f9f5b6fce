"""Cross-encoder rerank, classify and LoRA adapters on SGLang HTTP workers beside gRPC ones:
one model, both kinds, the same answers; worker errors as clear statuses; adapter loads
reaching both kinds of a mixed fleet."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import httpx
import openai
import pytest

from sglang_gw.config import RoutingConfig
from sglang_gw.testing.mock_http_worker import ThreadedMockHttpWorker
from sglang_gw.testing.mock_pooling import Pooling
from sglang_gw.testing.mock_worker import MockWorker, ThreadedMockWorker
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.replies import ReplyPolicy
from tests.conftest import SCRIPT, start_gateway
from tests.mixed_fleet import Mixed

QUERY = "what is a giant panda"
DOCS = ["hello there", "the giant panda is a bear of China", "a panda eats bamboo"]


@contextmanager
def mixed(folder: Path, make: Callable[[], MockWorker], **routing: object) -> Iterator[Mixed]:
    """A gRPC and an HTTP mock of one model behind a round-robin gateway."""
    grpc_mock, http_mock = ThreadedMockWorker(make()), ThreadedMockHttpWorker(make())
    server = start_gateway(folder, [grpc_mock.url, http_mock.url],
                           routing=RoutingConfig(policy="round_robin", **routing))  # type: ignore[arg-type]
    try:
        yield Mixed(grpc_mock, http_mock, server)
    finally:
        server.stop()
        grpc_mock.stop()
        http_mock.stop()


def pooling(folder: Path, kind: str) -> Callable[[], MockWorker]:
    facts = read_model_facts(folder)
    return lambda: MockWorker(facts, served_model_name=kind, pooling=Pooling(kind))


def twice(fleet: Mixed, send: Callable[[], httpx.Response], served: Callable[[], tuple[int, int]]) -> list[dict]:
    """The same request twice under round robin, once to each kind; both 200s."""
    before = served()
    answers = [send(), send()]
    after = served()
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
    assert [a.status_code for a in answers] == [200, 200], answers[0].text + answers[1].text
    return [a.json() for a in answers]


@pytest.fixture(scope="module", params=["plain", "token_types"])
def cross(request: pytest.FixtureRequest, qwen3_dir: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mixed]:
    """A cross-encoder; `token_types`: its config.json says it takes token type ids."""
    folder = qwen3_dir
    if request.param == "token_types":
        folder = tmp_path_factory.mktemp("typed") / "model"
        shutil.copytree(qwen3_dir, folder)
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "type_vocab_size": 2}))
    with mixed(folder, pooling(folder, "cross_encoder")) as fleet:
        yield fleet


@pytest.fixture(scope="module")
def clf(qwen3_dir: Path) -> Iterator[Mixed]:
    with mixed(qwen3_dir, pooling(qwen3_dir, "classifier")) as fleet:
        yield fleet


def test_rerank_scores_alike_from_both_kinds(cross: Mixed) -> None:
    for doc in DOCS:
        a, b = twice(cross, lambda doc=doc: cross.post("/v1/rerank", {"query": QUERY, "documents": [doc]}),
                     cross.embeds)
        assert a["results"] == b["results"] and a["usage"] == b["usage"]
    grpc_sent, http_sent = cross.grpc.worker.records.embeds, cross.http.worker.records.embeds
    # The HTTP worker paired and tokenized the texts itself, into the ids the gateway sends over gRPC.
    assert [list(r.tokenized.input_ids) for r in grpc_sent[-3:]] == [list(r.tokenized.input_ids)
                                                                     for r in http_sent[-3:]]
    assert [list(r.token_type_ids) for r in grpc_sent[-3:]] == [list(r.token_type_ids) for r in http_sent[-3:]]
    assert all(r.is_cross_encoder and list(r.texts) == [QUERY, d] for r, d in zip(http_sent[-3:], DOCS, strict=True))
    ranked = cross.post("/v1/rerank", {"query": QUERY, "documents": DOCS}).json()["results"]
    assert [r["index"] for r in ranked][0] == 1 and ranked[0]["relevance_score"] > ranked[-1]["relevance_score"]


def test_classify_alike_from_both_kinds(clf: Mixed) -> None:
    body = {"model": "classifier", "input": ["I love this", "this is awful"]}
    before = clf.embeds()
    a = clf.post("/v1/classify", body)
    after = clf.embeds()
    assert a.status_code == 200 and (after[0] - before[0], after[1] - before[1]) == (1, 1)
    one, two = twice(clf, lambda: clf.post("/v1/classify", {**body, "input": "I love this"}), clf.embeds)
    assert one["data"] == two["data"] == a.json()["data"][:1]
    assert one["data"][0]["label"] in ("negative", "positive") and one["data"][0]["num_classes"] == 2


def test_an_http_worker_rejection_keeps_its_status_and_message(clf: Mixed) -> None:
    clf.http.worker.faults.reject_code = grpc.StatusCode.INVALID_ARGUMENT
    clf.http.worker.faults.reject_next = 2
    try:
        answers = [clf.post("/v1/classify", {"input": "hello"}) for _ in range(2)]
    finally:
        clf.http.worker.faults.reject_next = 0
        clf.http.worker.faults.reject_code = grpc.StatusCode.UNAVAILABLE
    failed = [a for a in answers if a.status_code != 200]
    assert len(failed) == 1 and failed[0].status_code == 400
    assert "injected: INVALID_ARGUMENT" in failed[0].json()["error"]["message"]


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED])
def test_a_busy_or_unavailable_http_worker_is_retried_on_the_grpc_one(cross: Mixed, code: grpc.StatusCode) -> None:
    cross.http.worker.faults.reject_code = code
    cross.http.worker.faults.reject_next = 1
    before = cross.embeds()
    try:
        answers = [cross.post("/v1/rerank", {"query": QUERY, "documents": DOCS[:1]}) for _ in range(2)]
    finally:
        cross.http.worker.faults.reject_next = 0
        cross.http.worker.faults.reject_code = grpc.StatusCode.UNAVAILABLE
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json()["results"] == answers[1].json()["results"]
    after = cross.embeds()
    assert after[0] - before[0] >= 1 and after[1] - before[1] >= 1  # the refused call, and the retry elsewhere


# ---- LoRA --------------------------------------------------------------------------------


def generative(folder: Path, capacity: int = 4) -> Callable[[], MockWorker]:
    facts = read_model_facts(folder)
    return lambda: MockWorker(facts, policy=ReplyPolicy(facts, mode="scripted", script=SCRIPT),
                              served_model_name="base", lora_capacity=capacity)


@pytest.fixture
def lora(qwen3_dir: Path) -> Iterator[Mixed]:
    with mixed(qwen3_dir, generative(qwen3_dir)) as fleet:
        yield fleet


def held(mock: ThreadedMockWorker | ThreadedMockHttpWorker) -> list[str]:
    return [a.lora_name for a in mock.worker.loras.listing()]


def test_a_load_reaches_both_kinds_and_requests_use_it(lora: Mixed) -> None:
    r = lora.post("/v1/load_lora_adapter", {"lora_name": "alpha", "lora_path": "/adapters/alpha"})
    assert r.status_code == 200, r.text
    assert {w["url"]: w["success"] for w in r.json()["workers"]} == {lora.grpc.url: True, lora.http.url: True}
    assert held(lora.grpc) == held(lora.http) == ["alpha"]
    listed = {w["url"]: w["adapters"] for w in httpx.get(lora.url + "/v1/lora_adapters").json()["data"]}
    assert listed == {lora.grpc.url: ["alpha"], lora.http.url: ["alpha"]}
    client = openai.OpenAI(base_url=f"{lora.url}/v1", api_key="x", max_retries=0, timeout=30)
    before = lora.requests()
    texts = [client.completions.create(model="base:alpha", prompt="hello there", max_tokens=8).choices[0].text
             for _ in range(2)]
    assert texts[0] == texts[1] and (lora.requests()[0] - before[0], lora.requests()[1] - before[1]) == (1, 1)
    # Each worker got the adapter as it knows it: the gRPC one by its id, the HTTP one by name
    # (the HTTP mock turns the name in `lora_path` back into the id its servicer checks).
    for mock in (lora.grpc, lora.http):
        assert mock.worker.records.requests[-1].lora_id == mock.worker.loras.ids()[0]
    r = lora.post("/v1/unload_lora_adapter", {"lora_name": "alpha"})
    assert r.status_code == 200 and len(r.json()["workers"]) == 2 and all(w["success"] for w in r.json()["workers"])
    assert held(lora.grpc) == held(lora.http) == []
    assert lora.post("/v1/completions", {"model": "base:alpha", "prompt": "x"}).status_code == 404


def test_a_refused_load_keeps_the_workers_message(qwen3_dir: Path) -> None:
    with mixed(qwen3_dir, generative(qwen3_dir, capacity=1)) as fleet:
        pinned = {"lora_name": "keep", "lora_path": "/adapters/keep", "pinned": True}
        assert fleet.post("/v1/load_lora_adapter", pinned).status_code == 200
        r = fleet.post("/v1/load_lora_adapter", {"lora_name": "more", "lora_path": "/adapters/more"})
        assert r.status_code == 400 and r.json()["success"] is False
        messages = {w["url"]: w["message"] for w in r.json()["workers"]}
        assert messages[fleet.http.url] == messages[fleet.grpc.url] == "all 1 adapter slots hold pinned adapters"
        assert held(fleet.http) == ["keep"]


def test_adapters_an_http_worker_already_holds_are_seen_when_it_registers(qwen3_dir: Path) -> None:
    from sglang_gw.proto import sglang_scheduler_pb2 as pb

    worker = generative(qwen3_dir)()
    worker.loras.load(pb.LoadLoRAAdapterRequest(lora_name="preloaded", lora_path="/p"))
    mock = ThreadedMockHttpWorker(worker)
    server = start_gateway(qwen3_dir, [mock.url])
    try:
        url = f"http://127.0.0.1:{server.port}"
        assert "base:preloaded" in [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]]
        body = {"model": "base:preloaded", "prompt": "hi", "max_tokens": 2}
        r = httpx.post(f"{url}/v1/completions", json=body)
        assert r.status_code == 200 and worker.records.requests[-1].lora_id == worker.loras.ids()[0]
        # Evicted behind the gateway's back: until the next listing, the worker's refusal is a 400.
        worker.loras.unload(pb.UnloadLoRAAdapterRequest(lora_name="preloaded"))
        r = httpx.post(f"{url}/v1/completions", json=body)
        assert r.status_code == 400 and "'preloaded' is not loaded" in r.json()["error"]["message"]
    finally:
        server.stop()
        mock.stop()


def test_the_http_mock_speaks_sglangs_lora_and_pooling_format(qwen3_dir: Path) -> None:
    mock = ThreadedMockHttpWorker(generative(qwen3_dir, capacity=1)())
    try:
        r = httpx.post(f"{mock.url}/load_lora_adapter", json={"lora_name": "a", "lora_path": "/a", "pinned": True})
        assert r.status_code == 200 and r.json()["success"] is True
        assert r.json()["loaded_adapters"]["a"]["lora_path"] == "/a"
        r = httpx.post(f"{mock.url}/load_lora_adapter", json={"lora_name": "b", "lora_path": "/b"})
        assert r.status_code == 400 and r.json()["error_message"]
        cards = httpx.get(f"{mock.url}/v1/models").json()["data"]
        assert [(c["id"], c["parent"]) for c in cards] == [("base", None), ("a", "base")]
        unknown = httpx.post(f"{mock.url}/generate", json={"text": "hi", "lora_path": "nope"})
        assert unknown.status_code == 400 and "not loaded" in unknown.json()["error"]["message"]
        ok = httpx.post(f"{mock.url}/generate", json={"text": "hi", "lora_path": "a"})
        assert ok.status_code == 200
    finally:
        mock.stop()
    cross = ThreadedMockHttpWorker(pooling(qwen3_dir, "cross_encoder")())
    try:
        info = httpx.get(f"{cross.url}/get_model_info").json()
        assert info["is_generation"] is False and info["architectures"][0].endswith("ForSequenceClassification")
        pair = {"text": [["a panda", "the panda"]], "is_cross_encoder_request": True}
        r = httpx.post(f"{cross.url}/encode", json=pair)
        assert r.status_code == 200 and isinstance(r.json(), list) and len(r.json()[0]["embedding"]) == 1
        bad = httpx.post(f"{cross.url}/encode", json={"text": ["no pair"], "is_cross_encoder_request": True})
        assert bad.status_code == 400
    finally:
        cross.stop()


def test_the_client_reads_older_and_failed_lora_answers() -> None:
    """SGLang before LoRARef answered `loaded_adapters` as name → path; a body that is not a
    `LoRAUpdateOutput` (FastAPI's validation 400) is a rejection with its message."""
    from sglang_gw.errors import WorkerRejectedError
    from sglang_gw.proto import sglang_scheduler_pb2 as pb
    from sglang_gw.workers.sglang_http import SglangHttpClient

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["lora_name"] == "old":
            return httpx.Response(200, json={"success": True, "error_message": None,
                                             "loaded_adapters": {"old": "/o", "other": "/x"}})
        return httpx.Response(400, json={"object": "error", "message": "lora_path: field required", "code": 400})

    async def run() -> tuple[pb.LoadLoRAAdapterResponse, str]:
        client = SglangHttpClient("http://w:1")
        client._client = httpx.AsyncClient(transport=httpx.MockTransport(handle))  # the network, faked
        try:
            loaded = await client.load_lora(pb.LoadLoRAAdapterRequest(lora_name="old", lora_path="/o"))
            with pytest.raises(WorkerRejectedError) as refused:
                await client.unload_lora(pb.UnloadLoRAAdapterRequest(lora_name="bad"))
            return loaded, refused.value.message
        finally:
            await client.close()
    loaded, message = asyncio.run(run())
    assert loaded.success and list(loaded.loaded_lora_ids) == ["old", "other"]
    assert "field required" in message
