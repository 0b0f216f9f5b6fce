"""LoRA adapters over real gRPC: load/unload/list through the gateway, `base:adapter`
routing to the workers that hold the adapter (with each worker's own id sent), 404 for an
unknown one, and loading on demand after a worker evicted it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from sglang_gw.config import RoutingConfig
from sglang_gw.testing.mock_worker import MockWorker, ThreadedMockWorker
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.replies import ReplyPolicy
from tests.conftest import SCRIPT, ThreadedServer, start_gateway


class LoraFleet:
    def __init__(self, folder: Path, *, capacity: int = 4, on_demand: bool = False) -> None:
        facts = read_model_facts(folder)
        self.mocks = [ThreadedMockWorker(MockWorker(facts, policy=ReplyPolicy(facts, mode="scripted", script=SCRIPT),
                                                    served_model_name="base", lora_capacity=capacity))
                      for _ in range(2)]
        self.server: ThreadedServer = start_gateway(
            folder, [m.url for m in self.mocks], routing=RoutingConfig(policy="round_robin",
                                                                       lora_load_on_demand=on_demand))
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.client = openai.OpenAI(base_url=f"{self.url}/v1", api_key="x", max_retries=0, timeout=30)

    def post(self, path: str, body: object) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=30)

    def load(self, name: str, *, on: list[int] | None = None) -> httpx.Response:
        urls = [self.mocks[i].url for i in on] if on is not None else None
        return self.post("/v1/load_lora_adapter", {"lora_name": name, "lora_path": f"/adapters/{name}",
                                                   "worker_urls": urls})

    def chat(self, model: str, **extra: object) -> str:
        out = self.client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                                  max_tokens=4, extra_body=extra or None)
        return out.choices[0].message.content or ""

    def lora_ids(self, i: int) -> list[str]:
        return [r.lora_id for r in self.mocks[i].worker.records.requests]

    def stop(self) -> None:
        self.server.stop()
        for m in self.mocks:
            m.stop()


@pytest.fixture
def fleet(qwen3_dir: Path) -> Iterator[LoraFleet]:
    f = LoraFleet(qwen3_dir)
    yield f
    f.stop()


def adapter_id(f: LoraFleet, i: int, name: str) -> str:
    return next(a.lora_id for a in f.mocks[i].worker.loras.listing() if a.lora_name == name)


def test_each_adapter_goes_to_the_worker_holding_it(fleet: LoraFleet) -> None:
    assert fleet.load("alpha", on=[0]).json()["success"] is True
    assert fleet.load("beta", on=[1]).json()["success"] is True
    for _ in range(6):
        fleet.chat("base:alpha")
        fleet.chat("base", lora_path="beta")
    assert fleet.lora_ids(0) == [adapter_id(fleet, 0, "alpha")] * 6
    assert fleet.lora_ids(1) == [adapter_id(fleet, 1, "beta")] * 6
    fleet.chat("base")  # the base model goes anywhere, with no adapter
    assert "" in fleet.lora_ids(0) + fleet.lora_ids(1)


def test_list_models_and_unload_round_trip(fleet: LoraFleet) -> None:
    fleet.load("alpha")
    ids = {m.id for m in fleet.client.models.list().data}
    assert {"base", "base:alpha"} <= ids
    listed = httpx.get(fleet.url + "/v1/lora_adapters").json()["data"]
    assert [w["adapters"] for w in listed] == [["alpha"], ["alpha"]]
    r = fleet.post("/v1/unload_lora_adapter", {"lora_name": "alpha"})
    assert r.status_code == 200 and all(w["success"] for w in r.json()["workers"])
    assert "base:alpha" not in {m.id for m in fleet.client.models.list().data}
    with pytest.raises(openai.NotFoundError) as err:
        fleet.chat("base:alpha")
    assert err.value.body["code"] == "lora_not_found"  # type: ignore[index]


def test_unknown_adapters_and_bad_bodies(fleet: LoraFleet) -> None:
    with pytest.raises(openai.NotFoundError):
        fleet.chat("base:never")
    r = fleet.post("/generate", {"text": "x", "model": "base:never"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "lora_not_found"
    r = fleet.post("/v1/completions", {"model": "base", "lora_path": "never", "prompt": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "lora_not_found"
    assert fleet.post("/v1/unload_lora_adapter", {"lora_name": "never"}).status_code == 404
    assert fleet.post("/v1/load_lora_adapter", {"lora_name": "a:b", "lora_path": "/x"}).status_code == 400
    assert fleet.post("/v1/load_lora_adapter", {"lora_name": "a"}).status_code == 400
    r = fleet.post("/v1/load_lora_adapter", {"lora_name": "a", "lora_path": "/x", "worker_urls": ["grpc://nowhere:1"]})
    assert r.status_code == 404 and r.json()["error"]["param"] == "worker_urls"
    assert fleet.post("/v1/load_lora_adapter", {"lora_name": "a", "lora_path": "/x", "model": "nope"}).status_code \
        == 404


def test_an_evicted_adapter_is_loaded_again_on_demand(qwen3_dir: Path) -> None:
    f = LoraFleet(qwen3_dir, capacity=1, on_demand=True)
    try:
        f.load("alpha")
        f.load("beta")  # one slot per worker: alpha is evicted everywhere
        assert "base:alpha" not in {m.id for m in f.client.models.list().data}
        f.chat("base:alpha")
        holders = [i for i in range(2) if any(a.lora_name == "alpha" for a in f.mocks[i].worker.loras.listing())]
        assert len(holders) == 1
        assert f.lora_ids(holders[0])[-1] == adapter_id(f, holders[0], "alpha")
    finally:
        f.stop()


def test_adapters_a_worker_already_holds_are_seen_when_it_registers(qwen3_dir: Path) -> None:
    from sglang_gw.proto import sglang_scheduler_pb2 as pb

    facts = read_model_facts(qwen3_dir)
    worker = MockWorker(facts, policy=ReplyPolicy(facts, mode="scripted", script=SCRIPT), served_model_name="base")
    worker.loras.load(pb.LoadLoRAAdapterRequest(lora_name="preloaded", lora_path="/p"))
    mock = ThreadedMockWorker(worker)
    server = start_gateway(qwen3_dir, [mock.url])
    try:
        models = httpx.get(f"http://127.0.0.1:{server.port}/v1/models").json()["data"]
        assert "base:preloaded" in [m["id"] for m in models]
        r = httpx.post(f"http://127.0.0.1:{server.port}/v1/completions",
                       json={"model": "base:preloaded", "prompt": "hi", "max_tokens": 2})
        assert r.status_code == 200 and worker.records.requests[-1].lora_id == worker.loras.ids()[0]
    finally:
        server.stop()
        mock.stop()


def test_responses_take_an_adapter_too(fleet: LoraFleet) -> None:
    fleet.load("alpha", on=[1])
    out = fleet.client.responses.create(model="base:alpha", input="hi", max_output_tokens=4, store=False)
    assert out.status == "completed"
    assert fleet.lora_ids(1) == [adapter_id(fleet, 1, "alpha")] and fleet.lora_ids(0) == []


def test_messages_take_an_adapter_too(fleet: LoraFleet) -> None:
    fleet.load("alpha", on=[1])
    out = httpx.post(f"{fleet.url}/v1/messages", timeout=30, json={
        "model": "base:alpha", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]})
    assert out.status_code == 200 and out.json()["type"] == "message"
    assert fleet.lora_ids(1) == [adapter_id(fleet, 1, "alpha")] and fleet.lora_ids(0) == []
