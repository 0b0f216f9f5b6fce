"""One gateway, two kinds of worker: a gRPC SGLang worker and an OpenAI-compatible HTTP one."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai

from sglang_gw.config import GatewayConfig, ModelConfig, RetryConfig, ServerConfig
from sglang_gw.testing.models import model_dir
from sglang_gw.workers.breaker import BreakerConfig, CircuitBreaker
from tests.conftest import ThreadedServer, free_port, wait_until
from tests.fleet import start_mock
from tests.test_http_backend import MODEL, fake, reply_chunks  # noqa: F401 - the local fake OpenAI server fixture


def test_grpc_and_http_workers_serve_two_models(fake) -> None:  # noqa: F811
    server_app, http_url = fake
    mock = start_mock(model_dir("qwen3"), "grpc-model")
    cfg = GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(),
                        worker_urls=(mock.url, http_url))
    server = ThreadedServer(cfg)
    try:
        server.start()
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="x", max_retries=0)
        # The HTTP worker's model name was found through its /v1/models.
        assert sorted(m.id for m in client.models.list().data) == sorted(["grpc-model", MODEL])
        assert "/v1/models" in server_app.paths
        for model, expected in (("grpc-model", "hello there"), (MODEL, "echo: hello there")):
            whole = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello there"}])
            assert whole.choices[0].message.content == expected
            streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hello there"}], stream=True) if c.choices)
            # The fake streams one event per word (its own chunking, passed through as is).
            upstream = "".join(c["choices"][0]["delta"].get("content", "") for c in reply_chunks(expected))
            assert streamed == (expected if model == "grpc-model" else upstream)
        assert len(mock.worker.records.requests) == 2
        assert all(w.inflight == 0 for w in server.gateway.pool.workers())
    finally:
        server.stop()
        mock.stop()


def test_a_provider_preset_registers_at_run_time(fake, monkeypatch) -> None:  # noqa: F811
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    server_app, http_url = fake
    mock = start_mock(model_dir("qwen3"), "grpc-model")
    server = ThreadedServer(GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(),
                                          worker_urls=(mock.url,)))
    try:
        server.start()
        base = f"http://127.0.0.1:{server.port}"
        r = httpx.post(f"{base}/workers", json={"provider": "openai", "url": f"{http_url}/v1", "api_key": "sk-test"})
        assert r.status_code == 202
        assert wait_until(lambda: MODEL in [m["id"] for m in httpx.get(f"{base}/v1/models").json()["data"]])
        reply = httpx.post(f"{base}/v1/chat/completions", json={"model": MODEL, "messages": [
            {"role": "user", "content": "hi"}]}).json()
        assert reply["choices"][0]["message"]["content"] == "echo: hi"
        assert server_app.auth[-1] == "Bearer sk-test"
        missing = httpx.post(f"{base}/workers", json={"provider": "xai"})
        assert missing.status_code == 400 and "XAI_API_KEY" in missing.json()["error"]["message"]
    finally:
        server.stop()
        mock.stop()


def test_a_half_open_http_worker_gets_one_probe_at_a_time(fake) -> None:  # noqa: F811
    server_app, http_url = fake
    breaker = BreakerConfig(failure_threshold=1, success_threshold=1, timeout_duration_secs=0.5)
    server = ThreadedServer(GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(),
                                          worker_urls=(http_url,), breaker=breaker,
                                          retry=RetryConfig(max_retries=0)))
    chats = lambda: server_app.paths.count("/v1/chat/completions")  # noqa: E731
    now = [0.0]  # the breaker's clock, moved by the test: a slow machine cannot half-open it early

    def ask(fake_behaviour: dict[str, object]) -> httpx.Response:
        return httpx.post(f"{base}/v1/chat/completions", timeout=60, json={
            "model": MODEL, "messages": [{"role": "user", "content": "hi"}], "fake": fake_behaviour})

    try:
        server.start()
        base = f"http://127.0.0.1:{server.port}"
        assert wait_until(lambda: MODEL in [m["id"] for m in httpx.get(f"{base}/v1/models").json()["data"]])
        for w in server.gateway.pool.workers():
            w.breaker = CircuitBreaker(breaker, name=w.url, clock=lambda: now[0])
        assert ask({"status": 500}).status_code >= 500  # one worker fault opens the breaker
        before = chats()
        assert ask({}).status_code == 503 and chats() == before  # open: the worker is not tried
        now[0] += breaker.timeout_duration_secs  # half-open now: one probe may go
        with ThreadPoolExecutor(1) as pool:
            # The probe is held long enough for the second request to find its slot taken.
            probe = pool.submit(ask, {"delay": 5.0})
            while chats() == before:
                time.sleep(0.01)
            second = ask({})
            assert second.status_code == 503, second.text  # the probe slot is taken
            assert chats() == before + 1
            assert probe.result().status_code == 200  # the probe's success closes the breaker
        assert ask({}).status_code == 200
        assert all(w.inflight == 0 for w in server.gateway.pool.workers())
    finally:
        server.stop()


def test_embeddings_for_an_http_model_are_proxied(fake) -> None:  # noqa: F811
    server_app, http_url = fake
    server = ThreadedServer(GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(),
                                          worker_urls=(http_url,)))
    try:
        server.start()
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="x", max_retries=0)
        out = client.embeddings.create(model=MODEL, input=["abc", "hello"], encoding_format="float")
        assert [d.embedding for d in out.data] == [[3.0, 0.0], [5.0, 1.0]]
        assert server_app.paths[-1] == "/v1/embeddings"
        assert all(w.inflight == 0 for w in server.gateway.pool.workers())
    finally:
        server.stop()
