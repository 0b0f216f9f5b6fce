"""Workers come and go at run time; several models share one gateway."""

from __future__ import annotations

import gc
import threading
import time
import urllib.parse

from sglang_gw.testing.models import model_dir
from tests.fleet import fleet, start_mock
from tests.test_api_limits import loop_not_blocked


def q(url: str) -> str:
    return urllib.parse.quote(url, safe="")


def wait_state(http, url: str, state: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = http.get(f"/workers/{q(url)}").json()
        if body.get("state") == state:
            return body
        time.sleep(0.05)
    raise AssertionError(f"{url} never reached {state}: {body}")


def test_two_models_route_by_name() -> None:
    with fleet([(model_dir("qwen3"), "model-a"), (model_dir("llama31"), "model-b")]) as f:
        assert sorted(m.id for m in f.client.models.list().data) == ["model-a", "model-b"]
        for name, mock in (("model-a", f.mocks[0]), ("model-b", f.mocks[1])):
            resp = f.client.chat.completions.create(model=name, messages=[{"role": "user", "content": "MULTIBYTE"}])
            assert resp.choices[0].message.content.startswith("Grüße")
            assert len(mock.worker.records.requests) == 1
        # Each model used its own template: Llama 3's header tokens only reached model-b.
        b_prompt = f.mocks[1].worker.records.requests[0].tokenized.input_ids
        assert 128006 in b_prompt and 128006 not in f.mocks[0].worker.records.requests[0].tokenized.input_ids
        with f.http() as http:
            assert http.post("/v1/chat/completions", json={"model": "nope", "messages": [
                {"role": "user", "content": "x"}]}).status_code == 404
            missing = http.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})
            assert missing.status_code == 400 and missing.json()["error"]["param"] == "model"


def test_workers_api_adds_lists_and_removes_under_load() -> None:
    with fleet([(model_dir("qwen3"), "m")]) as f, f.http() as http:
        extra = start_mock(model_dir("qwen3"), "m")
        try:
            stop = threading.Event()
            failures: list[str] = []

            def load() -> None:
                while not stop.is_set():
                    r = http.post("/v1/chat/completions", json={"model": "m", "messages": [
                        {"role": "user", "content": "MULTIBYTE"}]})
                    if r.status_code != 200:
                        failures.append(r.text)

            threads = [threading.Thread(target=load) for _ in range(4)]
            for t in threads:
                t.start()
            assert http.post("/workers", json={"url": extra.url, "labels": {"zone": "b"}}).status_code == 202
            status = wait_state(http, extra.url, "active")
            assert status["model"] == "m" and status["labels"] == {"zone": "b"}
            assert {w["url"] for w in http.get("/workers").json()["workers"]} == {f.mocks[0].url, extra.url}
            time.sleep(0.5)
            assert http.delete(f"/workers/{q(f.mocks[0].url)}").status_code == 200
            assert http.get("/list_workers").json() == {"urls": [extra.url]}
            time.sleep(0.3)
            stop.set()
            for t in threads:
                t.join()
            assert failures == []
            assert len(extra.worker.records.requests) > 0
            assert http.get(f"/workers/{q(f.mocks[0].url)}").status_code == 404
        finally:
            extra.stop()


def test_bad_worker_registration_is_visible() -> None:
    with fleet([(model_dir("qwen3"), "m")], worker_startup_timeout_secs=1.0) as f, f.http() as http:
        assert http.post("/workers", json={"url": "ftp://x"}).status_code == 400
        dead = "grpc://127.0.0.1:9"
        assert http.post("/add_worker", params={"url": dead}).status_code == 202
        body = wait_state(http, dead, "failed")
        assert "did not answer" in body["error"]


def test_a_new_model_loads_beside_the_event_loop() -> None:
    """A worker of a model the gateway has not loaded, added while it serves: building the
    model (tokenizer, template, detokenizer tables: about a second of CPU) runs in a thread,
    so the loop's own steps stay short while it does."""
    with fleet([(model_dir("qwen3"), "m")]) as f, f.http() as http:
        extra = start_mock(model_dir("llama31"), "other")
        try:
            frozen = gc.get_freeze_count()
            with loop_not_blocked(f.server):
                assert http.post("/workers", json={"url": extra.url}).status_code == 202
                assert wait_state(http, extra.url, "active")["model"] == "other"
            # No freeze while serving: it would take a full collection on the loop first (frozen
            # objects that die meanwhile leave the count; a freeze would add every live one).
            assert gc.get_freeze_count() <= frozen
            answer = http.post("/v1/chat/completions", json={"model": "other", "messages": [
                {"role": "user", "content": "MULTIBYTE"}]})
            assert answer.json()["choices"][0]["message"]["content"].startswith("Grüße")
        finally:
            extra.stop()
