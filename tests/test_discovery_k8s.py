"""Kubernetes discovery against a fake API server: pods point to real mock workers on
127.0.0.N (one port for all, as pod IPs share the discovery port), the gateway's
kubernetes_asyncio client watches them, and requests run through the gateway meanwhile."""

from __future__ import annotations

import functools
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from sglang_gw.config import GatewayConfig, ModelConfig, PdConfig, RoutingConfig, ServerConfig
from sglang_gw.discovery import DiscoveryConfig, KubernetesConfig
from sglang_gw.discovery.kubernetes import pod_body
from sglang_gw.testing.mock_worker import MockWorker, ThreadedMockWorker, Timing
from sglang_gw.testing.model_facts import ModelFacts, read_model_facts
from sglang_gw.testing.models import model_dir
from sglang_gw.testing.replies import ReplyPolicy
from sglang_gw.workers.health import HealthConfig
from tests.conftest import SCRIPT, ThreadedServer, free_port, wait_until
from tests.k8s_fake import FakeKube, write_kubeconfig

LABELS = {"app": "sglang"}


@functools.cache
def _facts() -> ModelFacts:
    return read_model_facts(model_dir("qwen3"))


@dataclass
class Cluster:
    kube: FakeKube
    server: ThreadedServer
    port: int  # every pod's worker port
    mocks: dict[str, ThreadedMockWorker] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def pod(self, name: str, index: int, *, labels: dict[str, str] = LABELS, annotations: dict[str, str] | None = None,
            ready: bool = True, token_delay: float = 0.0) -> str:
        """A mock worker on 127.0.0.<index+1> and a pod whose IP points to it; returns its url."""
        facts = _facts()
        worker = MockWorker(facts, policy=ReplyPolicy(facts, mode="scripted", script=SCRIPT), served_model_name="m",
                            timing=Timing(token_delay=token_delay))
        ip = f"127.0.0.{index + 1}"
        self.mocks[name] = ThreadedMockWorker(worker, host=ip, port=self.port)
        self.kube.add_pod(name, ip, labels, ready=ready, annotations=annotations)
        return f"grpc://{ip}:{self.port}"

    def workers(self) -> list[dict]:
        # A generous timeout: on a loaded machine the gateway, the fake API server and the
        # mock workers share this process, and a GET may wait seconds for the GIL.
        return httpx.get(f"{self.url}/workers", timeout=60).json()["workers"]

    def active(self) -> set[str]:
        return {w["url"] for w in self.workers() if w.get("state") == "active"}

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 40) -> None:
        if not wait_until(check, timeout, interval=0.05):  # a check is an HTTP GET: not too often
            raise AssertionError(f"timed out waiting for {what}; active: {self.active()}")

    def wait_active(self, urls: set[str]) -> None:
        self.wait_for(lambda: self.active() == urls, f"active == {urls}")


@contextmanager
def cluster(tmp_path: Path, **kube: object) -> Iterator[Cluster]:
    fake = FakeKube()
    settings = {"selector": tuple(LABELS.items()), "namespace": "default", "port": free_port(),
                "kubeconfig": str(write_kubeconfig(tmp_path / "kubeconfig", fake.url)),
                "backoff_initial_secs": 0.05, "backoff_max_secs": 0.2, **kube}
    pd = PdConfig() if "prefill_selector" in kube else None
    config = GatewayConfig(server=ServerConfig(port=free_port()), pd=pd,
                           model=ModelConfig(model_path=str(model_dir("qwen3"))),
                           routing=RoutingConfig(policy="round_robin"),
                           health=HealthConfig(interval_secs=0.1, timeout_secs=1, failure_threshold=2),
                           discovery=DiscoveryConfig(kubernetes=KubernetesConfig(**settings),  # type: ignore[arg-type]
                                                     check_interval_secs=0.2))
    server = ThreadedServer(config)
    c = Cluster(fake, server, int(settings["port"]))  # type: ignore[call-overload]
    try:
        server.start()
        yield c
    finally:
        server.stop()
        for mock in c.mocks.values():
            mock.stop()
        fake.stop()


def chat(base: str, *, stream: bool = False, text: str = "MULTIBYTE") -> httpx.Response:
    return httpx.post(f"{base}/v1/chat/completions", timeout=30,
                      json={"model": "m", "stream": stream, "messages": [{"role": "user", "content": text}]})


class Load:
    """Clients sending requests without pause until stopped; every non-200 is kept."""

    def __init__(self, base: str, clients: int = 4) -> None:
        self.base, self.failures, self.done = base, [], 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set():
                r = http.post(f"{self.base}/v1/chat/completions", json={
                    "model": "m", "messages": [{"role": "user", "content": "MULTIBYTE"}]})
                if r.status_code != 200:
                    self.failures.append(f"{r.status_code} {r.text}")
                self.done += 1

    def stop(self) -> list[str]:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        return self.failures


def test_scale_0_3_1_under_load_then_not_ready_mid_stream(tmp_path: Path) -> None:
    with cluster(tmp_path) as c:
        empty = chat(c.url)
        assert empty.status_code == 503 and empty.json()["error"]["code"] == "no_workers"
        # 1. Scale 0 → 3 → 1 under steady load: the pods that go are drained, no request fails.
        urls = [c.pod(f"w{i}", i, token_delay=0.002) for i in range(3)]
        c.wait_active(set(urls))
        load = Load(c.url)
        c.wait_for(lambda: load.done >= 20, "some load")
        for name in ("w1", "w2"):  # scale down: the pods terminate (graceful), then go
            c.kube.terminate(name)
        # Drained and removed, not only no longer active: a draining pod still has requests.
        c.wait_for(lambda: {w["url"] for w in c.workers()} == {urls[0]}, "w1 and w2 drained and removed")
        for name in ("w1", "w2"):
            c.mocks[name].stop()  # the container exits only once the gateway let go of it
            c.kube.delete(name)
        before = load.done
        c.wait_for(lambda: load.done >= before + 20, "load after scale-down")
        assert load.stop() == []
        served = [len(c.mocks[n].worker.records.requests) for n in ("w0", "w1", "w2")]
        assert all(n > 0 for n in served), served

        # 2. The last pod's readiness probe fails while a stream runs on it: the stream ends
        # whole, then the pod leaves; ready again, it is registered again. The worker holds
        # the stream after its first token until the draining has been seen.
        faults = c.mocks["w0"].worker.faults
        faults.hold_after_tokens = 1
        with httpx.stream("POST", f"{c.url}/v1/chat/completions", timeout=60, json={
                "model": "m", "stream": True, "messages": [{"role": "user", "content": "STOPTEST"}]}) as resp:
            lines = resp.iter_lines()
            first = next(line for line in lines if line.startswith("data:"))
            c.kube.set_ready("w0", False)
            c.wait_for(lambda: [w["state"] for w in c.workers()] == ["draining"], "draining while the stream runs")
            faults.hold_after_tokens = None
            rest = [line for line in lines if line.startswith("data:")]
        text = "".join(_content(line) for line in [first, *rest])
        assert text == "alpha beta gamma delta epsilon" and rest[-1] == "data: [DONE]"
        c.wait_active(set())
        assert chat(c.url).json()["error"]["code"] == "no_workers"
        c.kube.set_ready("w0", True)
        c.wait_active({urls[0]})


def _content(line: str) -> str:
    import json
    payload = line.removeprefix("data: ")
    if payload == "[DONE]":
        return ""
    choices = json.loads(payload)["choices"]
    return (choices[0]["delta"].get("content") or "") if choices else ""


def test_watch_survives_drops_410_gone_and_api_server_restarts(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sglang_gw.discovery.kubernetes")
    with cluster(tmp_path) as c:
        a = c.pod("a", 0)
        c.wait_active({a})
        c.wait_for(lambda: c.kube.watchers() == 1, "a watch")
        # 1. A bookmark moves the watch's version on; a dropped connection resumes from it.
        c.kube.bookmark()
        read = f"bookmark at resourceVersion {c.kube.version}"
        c.wait_for(lambda: any(read in r.getMessage() for r in caplog.records), "the bookmark read")
        c.kube.drop_watches()
        b = c.pod("b", 1)  # made while the watch may be down: the resumed watch replays it
        c.wait_active({a, b})
        watches = [r for r in c.kube.requests if r.get("watch") == "true"]
        assert all(r["allowWatchBookmarks"].lower() == "true" for r in watches)
        assert int(watches[1]["resourceVersion"]) > int(watches[0]["resourceVersion"])
        assert len([r for r in c.kube.requests if r.get("watch") != "true"]) == 1  # no re-list needed

        # 2. While no watch runs, b goes and the history is compacted: 410 Gone → list again.
        def meanwhile() -> None:
            c.kube._event("DELETED", c.kube.pods.pop("default/b"))
            c.kube.expire()
        c.kube.drop_watches(then=meanwhile)
        c.wait_active({a})
        assert len([r for r in c.kube.requests if r.get("watch") != "true"]) == 2

        # 3. The API server goes away for a while and comes back: the fleet stays, and catches up.
        c.kube.restart(down_secs=0.3)
        assert chat(c.url).status_code == 200
        c2 = c.pod("c", 2)
        c.wait_active({a, c2})


def test_pd_pools_take_the_bootstrap_port_from_the_annotation(tmp_path: Path) -> None:
    prefill_labels, decode_labels = {"role": "prefill"}, {"role": "decode"}
    with cluster(tmp_path, selector=(), prefill_selector=tuple(prefill_labels.items()),
                 decode_selector=tuple(decode_labels.items())) as c:
        assert chat(c.url).json()["error"]["code"] == "no_workers"  # PD with no --prefill/--decode starts empty
        p = c.pod("p0", 0, labels=prefill_labels, annotations={"sglang.ai/bootstrap-port": "8998"})
        d = c.pod("d0", 1, labels=decode_labels)
        c.wait_active({p, d})
        workers = {w["url"]: w for w in c.workers()}
        assert workers[p]["worker_type"] == "prefill" and workers[d]["worker_type"] == "decode"
        assert c.server.gateway.pool.get(p).bootstrap_port == 8998  # type: ignore[union-attr]
        assert chat(c.url).status_code == 200
        # The answer comes from decode: the prefill leg may still be on its way.
        c.wait_for(lambda: bool(c.mocks["p0"].worker.records.requests), "the prefill leg arrived")
        sent = c.mocks["p0"].worker.records.requests[-1]
        assert sent.disaggregated_params.bootstrap_port == 8998
        c.pod("p1", 2, labels=prefill_labels, annotations={"sglang.ai/bootstrap-port": "not-a-port"})
        c.wait_for(lambda: c.kube.watchers() == 2 and len(c.kube.history) == 3, "p1 sent")
        time.sleep(0.2)
        assert c.active() == {p, d}  # logged and skipped


def _pod(phase: str = "Running", ready: str = "True", ip: str = "10.0.0.7", **meta: object) -> dict:
    return {"metadata": {"name": "w", "namespace": "ns", **meta},
            "status": {"phase": phase, "podIP": ip, "conditions": [{"type": "Ready", "status": ready}]}}


def test_pod_body_wants_running_ready_pods_only() -> None:
    cfg = KubernetesConfig(selector=(("app", "w"),), port=30001)
    assert pod_body(_pod(), "regular", cfg) == {"url": "grpc://10.0.0.7:30001", "worker_type": "regular",
                                                "labels": {"pod": "w", "namespace": "ns"}}
    assert pod_body(_pod(phase="Pending"), "regular", cfg) is None
    assert pod_body(_pod(ready="False"), "regular", cfg) is None
    assert pod_body(_pod(ip=""), "regular", cfg) is None
    assert pod_body(_pod(deletionTimestamp="2026-01-01T00:00:00Z"), "regular", cfg) is None  # terminating
    assert pod_body(_pod(ip="fd00::7"), "regular", cfg)["url"] == "grpc://[fd00::7]:30001"  # type: ignore[index]
    http = _pod(annotations={"sglang.ai/protocol": "http"})
    assert pod_body(http, "regular", cfg)["url"] == "http://10.0.0.7:30001"  # type: ignore[index]
    with pytest.raises(ValueError, match="must be grpc or http"):
        pod_body(_pod(annotations={"sglang.ai/protocol": "ftp"}), "regular", cfg)




def test_in_cluster_config_uses_the_service_account_over_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trustme

    ca = trustme.CA()
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ssl)
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("pod-token")
    ca.cert_pem.write_to_path(str(account / "ca.crt"))
    fake = FakeKube(ssl_context=server_ssl)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(fake.port))
    try:
        fake.add_pod("a", "127.0.0.1", LABELS)
        with _gateway(KubernetesConfig(selector=tuple(LABELS.items()), namespace="default", port=free_port(),
                                       service_account_dir=str(account))):
            deadline = time.monotonic() + 20
            while fake.watchers() == 0:
                assert time.monotonic() < deadline, "no watch over TLS"
                time.sleep(0.05)
        assert {r["authorization"] for r in fake.requests} == {"Bearer pod-token"}
    finally:
        fake.stop()


@contextmanager
def _gateway(kube: KubernetesConfig) -> Iterator[ThreadedServer]:
    server = ThreadedServer(GatewayConfig(server=ServerConfig(port=free_port()),
                                          discovery=DiscoveryConfig(kubernetes=kube)))
    server.start()
    try:
        yield server
    finally:
        server.stop()
