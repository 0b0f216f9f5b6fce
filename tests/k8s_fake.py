"""A Kubernetes API server for pods, on loopback, speaking the real list/watch protocol.

`GET /api/v1/pods` and `/api/v1/namespaces/{ns}/pods` list (a `PodList` with its
`resourceVersion`) or, with `watch=true`, stream watch events as chunked JSON lines from
the `resourceVersion` asked: ADDED/MODIFIED/DELETED, a BOOKMARK on `bookmark()` to the
watches that asked for them, an ERROR 410 (Expired) for a version older than the history
kept, and the end of the stream after `timeoutSeconds`. Tests change pods (`add_pod`,
`set_ready`, `terminate`, `delete`), cut every watch connection (`drop_watches`), forget
history (`expire`) and stop and restart the listener (`restart`). It runs on its own
event loop in a thread, like the mock workers, so the gateway's client meets real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

__all__ = ["FakeKube", "write_kubeconfig"]

_DROP = object()  # a watcher queue item: cut the connection without ending the chunked stream
_END = object()  # end the stream cleanly (as the API server does at timeoutSeconds)
# How long the test's thread waits for the fake's loop: a moment, unless a loaded machine
# keeps this process off the CPU for seconds.
_WAIT_SECS = 60.0


@dataclass(eq=False)
class _Watcher:
    namespace: str | None
    selector: dict[str, str]
    bookmarks: bool
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)


def _matches(pod: dict[str, Any], namespace: str | None, selector: dict[str, str]) -> bool:
    meta = pod["metadata"]
    labels = meta.get("labels") or {}
    return (namespace is None or meta["namespace"] == namespace) and all(
        labels.get(k) == v for k, v in selector.items())


def _selector(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(",") if part)


class FakeKube:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context  # set: serve HTTPS, as an API server does
        self.pods: dict[str, dict[str, Any]] = {}
        self.version = 100
        self.oldest = 0  # a watch from a version below this gets 410 Gone
        self.history: list[tuple[int, str, dict[str, Any]]] = []
        self.requests: list[dict[str, str]] = []  # query of every list and watch request
        self._watchers: set[_Watcher] = set()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True, name="fake-kube")
        self._thread.start()
        ready.wait(_WAIT_SECS)

    # ---- the server ---------------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v1/pods", self._pods)
        app.router.add_get("/api/v1/namespaces/{namespace}/pods", self._pods)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True, ssl_context=self._ssl)
        await self._site.start()
        self.port = self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}"

    async def _pods(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append({"path": request.path, "authorization": request.headers.get("Authorization", ""),
                              **{k: v.lower() if k == "watch" else v for k, v in query.items()}})
        namespace = request.match_info.get("namespace")
        selector = _selector(query.get("labelSelector", ""))
        if query.get("watch", "").lower() in ("true", "1"):
            return await self._watch(request, namespace, selector, query)
        items = [p for p in self.pods.values() if _matches(p, namespace, selector)]
        return web.json_response({"kind": "PodList", "apiVersion": "v1",
                                  "metadata": {"resourceVersion": str(self.version)}, "items": items})

    async def _watch(self, request: web.Request, namespace: str | None, selector: dict[str, str],
                     query: dict[str, str]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        since = int(query.get("resourceVersion") or 0)
        if since and since < self.oldest:
            await resp.write(_line("ERROR", {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                             "status": "Failure", "reason": "Expired", "code": 410,
                                             "message": f"too old resource version: {since} ({self.oldest})"}))
            await resp.write_eof()
            return resp
        # A boolean as the API server parses it: kubernetes_asyncio sends "True".
        watcher = _Watcher(namespace, selector, query.get("allowWatchBookmarks", "").lower() in ("true", "1"))
        backlog = ([(kind, pod) for rv, kind, pod in self.history if rv > since] if since
                   else [("ADDED", pod) for pod in self.pods.values()])
        for kind, pod in backlog:
            if _matches(pod, namespace, selector):
                await resp.write(_line(kind, pod))
        self._watchers.add(watcher)
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 3600)
        try:
            while True:
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    break
                if item is _END:
                    break
                if item is _DROP:
                    assert request.transport is not None
                    request.transport.abort()  # mid-stream, no terminating chunk
                    return resp
                await resp.write(item)
        finally:
            self._watchers.discard(watcher)
        with contextlib.suppress(ConnectionResetError):  # the client may have gone first
            await resp.write_eof()
        return resp

    # ---- changes (called from the test's thread) ----------------------------------------

    def call(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(_WAIT_SECS)

    def _event(self, kind: str, pod: dict[str, Any]) -> None:
        self.version += 1
        pod["metadata"]["resourceVersion"] = str(self.version)
        self.history.append((self.version, kind, json.loads(json.dumps(pod))))
        for w in list(self._watchers):
            if _matches(pod, w.namespace, w.selector):
                w.queue.put_nowait(_line(kind, pod))

    def add_pod(self, name: str, ip: str, labels: dict[str, str], *, ready: bool = True,
                annotations: dict[str, str] | None = None, namespace: str = "default") -> None:
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "labels": labels,
                            "annotations": annotations or {}},
               "spec": {"containers": [{"name": "worker", "image": "sglang"}]},
               "status": {"phase": "Running", "podIP": ip,
                          "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}

        def add() -> None:
            self.pods[f"{namespace}/{name}"] = pod
            self._event("ADDED", pod)
        self.call(add)

    def _modify(self, name: str, change: Callable[[dict[str, Any]], None], namespace: str = "default") -> None:
        def run() -> None:
            pod = self.pods[f"{namespace}/{name}"]
            change(pod)
            self._event("MODIFIED", pod)
        self.call(run)

    def set_ready(self, name: str, ready: bool) -> None:
        self._modify(name, lambda pod: pod["status"]["conditions"][0].update(status="True" if ready else "False"))

    def terminate(self, name: str) -> None:
        self._modify(name, lambda pod: pod["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z"))

    def delete(self, name: str, namespace: str = "default") -> None:
        self.call(lambda: self._event("DELETED", self.pods.pop(f"{namespace}/{name}")))

    def bookmark(self) -> None:
        """A BOOKMARK at a version past every event sent: as on a real cluster, where objects
        no watch here selects keep moving the resourceVersion on."""
        def run() -> None:
            self.version += 1
            line = _line("BOOKMARK", {"kind": "Pod", "apiVersion": "v1",
                                      "metadata": {"resourceVersion": str(self.version)}})
            for w in self._watchers:
                if w.bookmarks:
                    w.queue.put_nowait(line)
        self.call(run)

    def watchers(self) -> int:
        return int(self.call(lambda: len(self._watchers)))

    def drop_watches(self, then: Callable[[], None] | None = None) -> None:
        """Cut every watch connection mid-stream; `then` runs in the same step (before any reconnect)."""
        def run() -> None:
            for w in list(self._watchers):
                w.queue.put_nowait(_DROP)
            self._watchers.clear()
            if then is not None:
                then()
        self.call(run)

    def expire(self) -> None:
        """Forget the history: a watch from any version before the current one gets 410 Gone."""
        self.oldest = self.version
        self.history.clear()

    def restart(self, down_secs: float = 0.3) -> None:
        """Stop listening and cut every connection, then listen again on the same port."""
        async def run() -> None:
            for w in list(self._watchers):
                w.queue.put_nowait(_DROP)
            self._watchers.clear()
            assert self._site is not None and self._runner is not None
            await self._site.stop()
            for conn in list(self._runner.server.connections):  # type: ignore[union-attr]
                conn.force_close()
            await asyncio.sleep(down_secs)
            await self._listen()
        asyncio.run_coroutine_threadsafe(run(), self._loop).result(_WAIT_SECS)

    def stop(self) -> None:
        async def run() -> None:
            for w in list(self._watchers):
                w.queue.put_nowait(_END)
            await asyncio.sleep(0)
            if self._runner is not None:
                await self._runner.cleanup()
            current = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not current]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(run(), self._loop).result(_WAIT_SECS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_WAIT_SECS)


def _line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


def write_kubeconfig(path: Path, server: str) -> Path:
    """A kubeconfig naming `server`, with a token (the fake accepts anything)."""
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "gw", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "gw", "namespace": "default"}}]}))
    return path
