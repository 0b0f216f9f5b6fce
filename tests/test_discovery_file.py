"""--discovery-file: bodies read, diffed and applied while requests run; a worker that stays
unhealthy is removed (--remove-unhealthy-workers) and comes back when it answers again."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from sglang_gw.config import GatewayConfig, ModelConfig, RoutingConfig, ServerConfig
from sglang_gw.discovery import DiscoveryConfig
from sglang_gw.discovery.file import parse_workers_file
from sglang_gw.testing.models import model_dir
from sglang_gw.workers.health import HealthConfig
from tests.conftest import ThreadedServer, free_port
from tests.fleet import start_mock
from tests.test_discovery_k8s import Load, chat


def test_parse_accepts_a_list_smg_shape_yaml_and_bare_urls() -> None:
    bodies = [{"url": "grpc://a:1", "worker_type": "prefill", "bootstrap_port": 8998}, {"url": "grpc://b:2"}]
    assert parse_workers_file(json.dumps(bodies)) == {b["url"]: b for b in bodies}
    assert parse_workers_file(json.dumps({"version": 1, "workers": bodies})) == {b["url"]: b for b in bodies}
    yaml_text = "workers:\n  - url: grpc://a:1\n    labels: {zone: b}\n  - grpc://b:2\n"
    assert parse_workers_file(yaml_text) == {"grpc://a:1": {"url": "grpc://a:1", "labels": {"zone": "b"}},
                                              "grpc://b:2": {"url": "grpc://b:2"}}
    assert parse_workers_file("") == {}


@pytest.mark.parametrize(("text", "words"), [
    ("[{}]", "worker 0: needs a `url`"),
    ('[{"url": "grpc://a:1"}, "grpc://a:1"]', "listed twice"),
    ('{"version": 2, "workers": []}', "unknown version 2"),
    ('{"servers": []}', "needs a `workers` list"),
    ("42", "expected a list"),
    ("[unclosed", "not JSON or YAML"),
])
def test_parse_errors_name_the_problem(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        parse_workers_file(text)


def _write(path: Path, bodies: list[dict[str, object]] | str) -> None:
    """As an operator should: write beside it, then rename into place."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(bodies if isinstance(bodies, str) else json.dumps({"version": 1, "workers": bodies}))
    os.replace(tmp, path)


@contextmanager
def gateway(path: Path, **config: object) -> Iterator[str]:
    cfg = GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(model_path=str(model_dir("qwen3"))),
                        routing=RoutingConfig(policy="round_robin"), **config)  # type: ignore[arg-type]
    server = ThreadedServer(cfg)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def _active(base: str) -> set[str]:
    return {w["url"] for w in httpx.get(f"{base}/workers", timeout=10).json()["workers"] if w.get("state") == "active"}


def _wait(check: Callable[[], bool], what: str, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _metric(source: str, event: str) -> float:
    return REGISTRY.get_sample_value("sgl_router_discovery_events_total", {"source": source, "event": event}) or 0.0


def test_file_rewritten_under_load_then_an_unhealthy_worker_removed_and_rediscovered(tmp_path: Path) -> None:
    a, b = start_mock(model_dir("qwen3"), "m"), start_mock(model_dir("qwen3"), "m")
    path = tmp_path / "workers.json"
    _write(path, [{"url": a.url, "labels": {"zone": "a"}}])
    health = HealthConfig(interval_secs=0.05, timeout_secs=1, failure_threshold=2, success_threshold=1)
    discovery = DiscoveryConfig(file=path, check_interval_secs=0.05, remove_unhealthy_workers=True)
    try:
        with gateway(path, health=health, worker_startup_timeout_secs=30, discovery=discovery) as base:
            # 1. a is replaced by b while requests run: b registers before a is drained.
            _wait(lambda: _active(base) == {a.url}, "a")
            load = Load(base)
            _wait(lambda: load.done >= 10, "load on a")
            _write(path, [{"url": b.url, "labels": {"zone": "b"}}])
            _wait(lambda: _active(base) == {b.url}, "b alone")
            before = load.done
            _wait(lambda: load.done >= before + 10, "load on b")
            assert load.stop() == []
            assert len(a.worker.records.requests) > 0 and len(b.worker.records.requests) > 0
            [worker] = httpx.get(f"{base}/workers", timeout=5).json()["workers"]
            assert worker["labels"] == {"zone": "b"}  # the body's fields pass through

            # 2. A broken file keeps the last good set; a body the /workers API refuses is skipped.
            errors = _metric("file", "error")
            _write(path, "[{not: json")
            _wait(lambda: _metric("file", "error") > errors, "the broken file reported")
            errors = _metric("file", "error")
            _write(path, f"- url: {b.url}\n  labels: {{zone: b}}\n- {a.url}\n- url: ftp://nowhere:1\n")  # YAML
            _wait(lambda: _metric("file", "error") > errors, "the bad body refused")
            _wait(lambda: _active(base) == {a.url, b.url}, "a back from the file")

            # 3. --remove-unhealthy-workers: a goes while unhealthy, and comes back when healthy.
            removed = _metric("health", "removed")
            a.worker.faults.unhealthy = True
            _wait(lambda: a.url not in {w["url"] for w in httpx.get(f"{base}/workers", timeout=5).json()["workers"]
                                        if w.get("state") in ("active", "draining")}, "a removed")
            assert _metric("health", "removed") > removed
            assert chat(base).status_code == 200  # b serves meanwhile
            a.worker.faults.unhealthy = False
            _wait(lambda: _active(base) == {a.url, b.url}, "a rediscovered")
    finally:
        a.stop()
        b.stop()
