"""Kubernetes pods → workers: list, then watch, with kubernetes_asyncio.

One watch per pool (regular, prefill, decode), each by its label selector. The loop:

1. list the pods (the list's `resourceVersion` is where the watch starts) and hand the
   complete set of ready ones to the reconciler (so pods that went away while nobody
   watched are drained);
2. watch from that version, asking for bookmarks, applying each event (a pod is wanted
   while Running and Ready and not terminating);
3. when the API server ends the watch (its timeout), watch again from the last version
   seen, bookmarks included; when it answers 410 Gone (the version is too old), go to 1;
   when the connection drops or is refused, wait (exponential backoff) and watch again from
   the last version (which answers 410 if it has gone meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from sglang_gw import metrics
from sglang_gw.background import BackgroundTask
from sglang_gw.discovery.config import PROTOCOL_ANNOTATION, KubernetesConfig, Selector
from sglang_gw.discovery.reconcile import Reconciler
from sglang_gw.discovery.registry import Body
from sglang_gw.errors import ConfigError

__all__ = ["KubernetesSource", "pod_body"]

log = logging.getLogger(__name__)

SOURCE = "kubernetes"
_LIST_TIMEOUT = 30.0  # seconds for a list, and to connect for a watch


def _selector_text(selector: Selector) -> str:
    return ",".join(f"{k}={v}" for k, v in selector)


def _pod_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp") or status.get("phase") != "Running":
        return False
    conditions = status.get("conditions") or ()
    return bool(status.get("podIP")) and any(c.get("type") == "Ready" and c.get("status") == "True"
                                              for c in conditions)


def pod_body(pod: dict[str, Any], worker_type: str, cfg: KubernetesConfig) -> Body | None:
    """The `POST /workers` body for a ready pod, or None while it is not ready."""
    if not _pod_ready(pod):
        return None
    meta = pod.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    protocol = annotations.get(PROTOCOL_ANNOTATION, cfg.protocol)
    if protocol not in ("grpc", "http"):
        raise ValueError(f"pod {meta.get('name')}: annotation {PROTOCOL_ANNOTATION} must be grpc or http, "
                         f"got {protocol!r}")
    ip = pod["status"]["podIP"]
    host = f"[{ip}]" if ":" in ip else ip
    body: dict[str, Any] = {"url": f"{protocol}://{host}:{cfg.port}", "worker_type": worker_type,
                            "labels": {"pod": str(meta.get("name", "")), "namespace": str(meta.get("namespace", ""))}}
    if worker_type == "prefill" and cfg.bootstrap_port_annotation in annotations:
        raw = annotations[cfg.bootstrap_port_annotation]
        if not str(raw).isdigit():
            raise ValueError(f"pod {meta.get('name')}: annotation {cfg.bootstrap_port_annotation} must be a "
                             f"port number, got {raw!r}")
        body["bootstrap_port"] = int(raw)
    return body


def _key(pod: dict[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


async def _api_client(cfg: KubernetesConfig) -> client.ApiClient:
    """In-cluster config when running in a pod (and no kubeconfig was named), else kubeconfig."""
    conf = client.Configuration()
    try:
        if cfg.kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=conf,
                                         token_filename=os.path.join(cfg.service_account_dir, "token"),
                                         cert_filename=os.path.join(cfg.service_account_dir, "ca.crt"))
        else:
            await config.load_kube_config(config_file=cfg.kubeconfig, client_configuration=conf)
    except (config.ConfigException, OSError) as err:
        raise ConfigError(f"--service-discovery: no Kubernetes configuration ({err})") from None
    return client.ApiClient(configuration=conf)


class _PoolWatch:
    """List + watch of one pool's pods, feeding the pool's share of the reconciler."""

    def __init__(self, api: client.CoreV1Api, cfg: KubernetesConfig, worker_type: str, selector: Selector,
                 reconciler: Reconciler) -> None:
        self._api, self._cfg, self.worker_type = api, cfg, worker_type
        self._selector = _selector_text(selector)
        self._reconciler = reconciler
        self._urls: dict[str, str] = {}  # pod key → url it was registered under
        self.version: str | None = None

    def _call(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"label_selector": self._selector}
        if self._cfg.namespace is None:
            return self._api.list_pod_for_all_namespaces, kwargs
        return self._api.list_namespaced_pod, {"namespace": self._cfg.namespace, **kwargs}

    async def relist(self) -> None:
        func, kwargs = self._call()
        listing = await func(**kwargs, _preload_content=False, _request_timeout=_LIST_TIMEOUT)
        data = await listing.json()
        self.version = data["metadata"]["resourceVersion"]
        seen = set()
        for pod in data.get("items") or ():
            pod.setdefault("metadata", {})
            seen.add(_key(pod))
            self._apply(pod)
        for key in [k for k in self._urls if k not in seen]:
            self._reconciler.drop(self._urls.pop(key))
        log.info("discovery (kubernetes): %s pods %s: %d ready at resourceVersion %s", self.worker_type,
                 self._selector, len(self._urls), self.version)

    async def watch_once(self) -> None:
        """One watch request, from `version` until the server ends it (or an error)."""
        func, kwargs = self._call()
        async with watch.Watch() as w:
            # The server ends the watch after timeout_seconds; a connection silent for longer
            # than that (a peer gone without a FIN) is cut by the read timeout and resumed.
            quiet = aiohttp.ClientTimeout(sock_connect=_LIST_TIMEOUT, sock_read=self._cfg.watch_timeout_secs + 30)
            stream = w.stream(func, **kwargs, resource_version=self.version, allow_watch_bookmarks=True,
                              timeout_seconds=self._cfg.watch_timeout_secs, _request_timeout=quiet)
            async for event in stream:
                kind, raw = event["type"], event["raw_object"]
                if kind != "BOOKMARK":
                    if kind == "DELETED":
                        self._forget(_key(raw))
                    else:
                        self._apply(raw)
                self.version = w.resource_version or self.version
                if kind == "BOOKMARK":
                    log.debug("discovery (kubernetes): %s watch bookmark at resourceVersion %s", self.worker_type,
                              self.version)

    def _apply(self, pod: dict[str, Any]) -> None:
        key = _key(pod)
        try:
            body = pod_body(pod, self.worker_type, self._cfg)
        except ValueError as err:
            log.error("discovery (kubernetes): %s", err)
            metrics.record_discovery_event(SOURCE, "error")
            body = None
        old = self._urls.get(key)
        if body is None:
            self._forget(key)
            return
        if old is not None and old != body["url"]:
            self._reconciler.drop(old)  # a new IP for the same pod name
        self._urls[key] = body["url"]
        self._reconciler.put(body["url"], body)

    def _forget(self, key: str) -> None:
        url = self._urls.pop(key, None)
        if url is not None:
            self._reconciler.drop(url)


class KubernetesSource(BackgroundTask):
    """Runs one `_PoolWatch` loop per pool until stopped."""

    def __init__(self, cfg: KubernetesConfig, reconciler: Reconciler) -> None:
        super().__init__("discovery-kubernetes")
        self._cfg = cfg
        self._reconciler = reconciler
        self._api_client: client.ApiClient | None = None

    async def start(self) -> None:
        self._api_client = await _api_client(self._cfg)
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        if self._api_client is not None:
            await self._api_client.close()

    async def _run(self) -> None:
        assert self._api_client is not None
        api = client.CoreV1Api(self._api_client)
        pools = [_PoolWatch(api, self._cfg, kind, sel, self._reconciler) for kind, sel in self._cfg.pools()]
        await asyncio.gather(*(self._follow(pool) for pool in pools))

    async def _follow(self, pool: _PoolWatch) -> None:
        delay = 0.0
        while True:
            listed = pool.version is None
            try:
                if listed:
                    await pool.relist()
                await pool.watch_once()
                delay = 0.0  # the server ended the watch: resume from the last version at once
                continue
            except ApiException as err:
                if err.status == 410:
                    log.info("discovery (kubernetes): resourceVersion %s expired (410 Gone); listing again",
                             pool.version)
                    metrics.record_watch_restart(SOURCE, "expired")
                    pool.version = None
                    if not listed:
                        continue
                why = f"the API server answered {err.status} {err.reason}"
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as err:
                why = f"lost ({err or type(err).__name__})"
            except Exception as err:  # the client's own errors (a malformed event): the watch outlives them
                log.debug("discovery (kubernetes): watch failed", exc_info=True)
                why = f"failed ({type(err).__name__}: {err})"
            delay = self._backoff(delay)
            log.warning("discovery (kubernetes): watch of %s pods %s; again in %.1fs", pool.worker_type, why, delay)
            metrics.record_watch_restart(SOURCE, "disconnected")
            await asyncio.sleep(delay)

    def _backoff(self, delay: float) -> float:
        return min(self._cfg.backoff_max_secs, max(self._cfg.backoff_initial_secs, delay * 2))
