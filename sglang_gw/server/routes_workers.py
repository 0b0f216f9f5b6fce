"""Control plane: add, list, inspect and remove workers at run time (smg's /workers API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sglang_gw.api.protocol import decode_body
from sglang_gw.errors import ConfigError, ConflictError, InvalidRequestError, NotFoundError
from sglang_gw.gateway import Gateway
from sglang_gw.providers import resolve_provider
from sglang_gw.server.handling import gateway_of, json_response
from sglang_gw.workers.client import is_http_url, is_tls_url, normalize_url
from sglang_gw.workers.link import TlsSettings
from sglang_gw.workers.registrar import WorkerSpec
from sglang_gw.workers.tls import load_worker_tls

__all__ = ["routes", "spec_from_body"]


class AddWorkerBody(msgspec.Struct, kw_only=True):
    url: str | None = None         # required unless `provider` gives it
    provider: str | None = None    # a preset (openai, crusoe, xai, together, ...): base URL and key variable
    api_key: str | None = None
    worker_type: str = "regular"
    labels: dict[str, str] = {}
    bootstrap_port: Annotated[int, Meta(ge=0, le=65535)] | None = None
    tokenizer_path: str | None = None
    # http(s):// workers: "http" (SGLang's native API) or "openai" (proxied); absent: asked of the worker.
    connection_mode: Literal["grpc", "http", "openai"] | None = None
    # A grpcs:// worker's own certificates; any of them replaces all three of the gateway's.
    ca_cert_paths: list[str] | None = None
    client_cert_path: str | None = None
    client_key_path: str | None = None


def _changeable(request: Request) -> Gateway:
    """The gateway, if its worker list may change at run time.

    With `--workers N` each process keeps its own worker list, and a request reaches just
    one of them: an add or remove would hold there and nowhere else, and clients would see
    a fleet that depends on which process answered. So such changes are refused.
    """
    gw = gateway_of(request)
    if gw.config.server.processes > 1:
        raise ConflictError(f"this gateway runs {gw.config.server.processes} processes (--workers), each with its "
                            "own worker list: change the fleet with --worker-urls and a restart, or run "
                            "--workers 1 to manage workers at run time")
    return gw


def _spec(body: AddWorkerBody) -> WorkerSpec:
    if body.provider is not None:
        try:
            resolved = resolve_provider(body.provider, api_key=body.api_key, base_url=body.url)
        except ConfigError as err:
            raise InvalidRequestError(err.message, param="provider") from None
        body = msgspec.structs.replace(body, url=resolved.base_url, api_key=resolved.api_key)
    if not body.url:
        raise InvalidRequestError("`url` (or `provider`) is required", param="url")
    if body.worker_type not in ("regular", "prefill", "decode"):
        raise InvalidRequestError("worker_type must be regular, prefill or decode", param="worker_type")
    if not is_http_url(body.url):
        try:
            normalize_url(body.url)
        except ValueError as err:
            raise InvalidRequestError(str(err), param="url") from None
    mode = body.connection_mode
    if body.provider is not None:
        mode = "openai"
    elif mode is not None and (mode == "grpc") == is_http_url(body.url):
        raise InvalidRequestError(f"connection_mode {mode!r} does not fit the url {body.url!r}: grpc is for "
                                  "grpc(s):// urls, http and openai for http(s):// urls", param="connection_mode")
    return WorkerSpec(url=body.url, api_key=body.api_key, worker_type=body.worker_type, labels=body.labels,
                      bootstrap_port=body.bootstrap_port, tokenizer_path=body.tokenizer_path, tls=_tls(body),
                      connection_mode=None if mode == "grpc" else mode)


def spec_from_body(body: Mapping[str, Any]) -> WorkerSpec:
    """A `POST /workers` body given as data (discovery's sources), checked as the API checks it."""
    return _spec(decode_body(msgspec.json.encode(body), AddWorkerBody))


def _tls(body: AddWorkerBody) -> TlsSettings | None:
    """The worker's own TLS settings, checked now so that a bad path is this request's 400."""
    if body.ca_cert_paths is None and body.client_cert_path is None and body.client_key_path is None:
        return None
    if not is_tls_url(body.url or ""):
        raise InvalidRequestError("ca_cert_paths, client_cert_path and client_key_path are for grpcs:// workers",
                                  param="url")
    tls = TlsSettings(ca_cert_paths=tuple(body.ca_cert_paths or ()), client_cert_path=body.client_cert_path,
                      client_key_path=body.client_key_path)
    try:
        load_worker_tls(tls, as_flags=False)
    except ConfigError as err:
        raise InvalidRequestError(err.message, param=err.param) from None
    return tls


async def add_worker(request: Request) -> Response:
    job = _changeable(request).add_worker(_spec(decode_body(await request.body(), AddWorkerBody)))
    return json_response(job.to_json(), status=202)


def _listing(gw: Gateway) -> dict[str, Any]:
    active = [gw.worker_status(w) for w in gw.pool.workers()]
    known = {w["url"] for w in active}
    jobs = [j.to_json() for url, j in gw.registrar.jobs.items() if url not in known]
    return {"workers": active + jobs, "total": len(active)}


async def list_workers(request: Request) -> Response:
    return json_response(_listing(gateway_of(request)))


async def get_worker(request: Request) -> Response:
    gw = gateway_of(request)
    url = request.path_params["url"]
    worker = gw.pool.get(url)
    if worker is not None:
        return json_response(gw.worker_status(worker))
    job = gw.registrar.jobs.get(url)
    if job is None:
        raise NotFoundError(f"no worker {url!r}", param="url")
    return json_response(job.to_json())


async def delete_worker(request: Request) -> Response:
    url = request.path_params["url"]
    if not await _changeable(request).remove_worker(url):
        raise NotFoundError(f"no worker {url!r}", param="url")
    return json_response({"removed": url})


async def legacy_add(request: Request) -> Response:
    url = request.query_params.get("url")
    if not url:
        raise InvalidRequestError("query parameter `url` is required", param="url")
    job = _changeable(request).add_worker(_spec(AddWorkerBody(url=url)))
    return json_response(job.to_json(), status=202)


async def legacy_remove(request: Request) -> Response:
    url = request.query_params.get("url", "")
    if not await _changeable(request).remove_worker(url):
        raise NotFoundError(f"no worker {url!r}", param="url")
    return json_response({"removed": url})


async def legacy_list(request: Request) -> Response:
    return json_response({"urls": [w.url for w in gateway_of(request).pool.workers()]})


routes = [
    Route("/workers", add_worker, methods=["POST"]),
    Route("/workers", list_workers, methods=["GET"]),
    Route("/workers/{url:path}", get_worker, methods=["GET"]),
    Route("/workers/{url:path}", delete_worker, methods=["DELETE"]),
    Route("/add_worker", legacy_add, methods=["POST"]),
    Route("/remove_worker", legacy_remove, methods=["POST"]),
    Route("/list_workers", legacy_list, methods=["GET"]),
]
