"""Prefill/decode disaggregation: both legs, one bootstrap room, the stream from decode."""

from __future__ import annotations

import time

import httpx

from sglang_gw.config import GatewayConfig, ModelConfig, PdConfig, ServerConfig
from sglang_gw.testing.mock_worker import MockWorker, ThreadedMockWorker
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.models import model_dir
from sglang_gw.testing.replies import ReplyPolicy
from tests.conftest import ThreadedServer, free_port, wait_until


def mock(reply: str) -> ThreadedMockWorker:
    facts = read_model_facts(model_dir("qwen3"))
    policy = ReplyPolicy(facts, mode="scripted", script={"PD": reply})
    return ThreadedMockWorker(MockWorker(facts, policy=policy, served_model_name="m"))


def test_both_legs_share_a_room_and_the_stream_comes_from_decode() -> None:
    prefill, decode = mock("from prefill"), mock("from decode")
    pd = PdConfig(prefill=((prefill.url, 8998),), decode=(decode.url,))
    server = ThreadedServer(GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(), pd=pd))
    try:
        server.start()
        url = f"http://127.0.0.1:{server.port}"
        body = {"model": "m", "messages": [{"role": "user", "content": "PD"}]}
        assert httpx.post(f"{url}/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"] \
            == "from decode"
        text = ""
        with httpx.stream("POST", f"{url}/v1/chat/completions", json={**body, "stream": True}) as r:
            for line in r.iter_lines():
                if '"content":"' in line:
                    text += line.split('"content":"')[1].split('"')[0]
        assert text == "from decode"
        # The answer comes from decode: the prefill leg may still be on its way.
        assert wait_until(lambda: len(prefill.worker.records.requests) == 2)
        for p_req, d_req in zip(prefill.worker.records.requests, decode.worker.records.requests, strict=True):
            assert p_req.disaggregated_params == d_req.disaggregated_params
            assert p_req.disaggregated_params.bootstrap_port == 8998
            assert p_req.disaggregated_params.bootstrap_host == "127.0.0.1"
            assert p_req.tokenized.input_ids == d_req.tokenized.input_ids
        rooms = {r.disaggregated_params.bootstrap_room for r in decode.worker.records.requests}
        assert len(rooms) == 2
        deadline = time.monotonic() + 5  # the prefill leg is drained in the background
        while time.monotonic() < deadline and any(w.inflight for w in server.gateway.pool.workers()):
            time.sleep(0.02)
        assert all(w.inflight == 0 for w in server.gateway.pool.workers())
    finally:
        server.stop()
        prefill.stop()
        decode.stop()


def test_a_hang_up_aborts_both_legs() -> None:
    prefill, decode = mock("x " * 300), mock("y " * 300)
    decode.worker.timing.token_delay = 0.02
    prefill.worker.timing.token_delay = 0.02
    pd = PdConfig(prefill=((prefill.url, None),), decode=(decode.url,))
    server = ThreadedServer(GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(), pd=pd))
    try:
        server.start()
        body = {"model": "m", "messages": [{"role": "user", "content": "PD"}], "stream": True}
        with httpx.stream("POST", f"http://127.0.0.1:{server.port}/v1/chat/completions", json=body) as r:
            lines = r.iter_lines()
            [next(lines) for _ in range(4)]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (prefill.worker.records.aborts and decode.worker.records.aborts):
            time.sleep(0.02)
        assert prefill.worker.records.aborts and decode.worker.records.aborts
    finally:
        server.stop()
        prefill.stop()
        decode.stop()
