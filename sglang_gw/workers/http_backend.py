"""An OpenAI-compatible HTTP worker (vLLM, TGI, SGLang's HTTP server, managed clouds).

Such a worker is proxied at the OpenAI level: the request body goes upstream as JSON, the
answer comes back as JSON or as raw SSE ``data:`` payloads, and nothing is tokenized here.
One `httpx.AsyncClient` per backend keeps connections alive between requests.

Upstream failures leave as the gateway's worker errors, never as raw httpx exceptions:

    connect refused / connect timeout   WorkerUnavailableError  retryable (nothing was sent)
    pool exhausted                      WorkerOverloadedError   retryable (nothing was sent)
    dropped before any response         WorkerUnavailableError  retryable (stale keep-alive)
    read timeout                        WorkerTimeoutError
    dropped mid-body / mid-stream       WorkerError
    HTTP 429                            WorkerOverloadedError   retryable
    HTTP 408                            WorkerTimeoutError
    HTTP 401 / 403                      WorkerError             (the gateway's key, not the client's)
    other HTTP 4xx                      WorkerRejectedError     upstream message, param and code kept;
                                                                status kept for 400/404/413/422
    HTTP 502 / 503                      WorkerUnavailableError  retryable
    HTTP 504                            WorkerTimeoutError
    other HTTP 5xx, any 3xx             WorkerError             (redirects are not followed)

The API key goes only into the ``Authorization`` header; it is never logged, never in a
``repr``, and scrubbed from upstream error messages that echo it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec

from sglang_gw import tracing
from sglang_gw.errors import (
    ConfigError,
    WorkerError,
    WorkerOverloadedError,
    WorkerRejectedError,
    WorkerTimeoutError,
    WorkerUnavailableError,
)
from sglang_gw.workers.client import HealthStatus

__all__ = ["SGLANG_INFO_PATHS", "HttpBackend", "UpstreamEvents", "data_payloads", "get_json_object", "pooled_client",
           "split_base_url", "status_error", "transport_error"]

log = logging.getLogger(__name__)

# SGLang's own servers answer these with the served model; anything else falls to /v1/models.
SGLANG_INFO_PATHS: tuple[str, ...] = ("/get_model_info", "/get_server_info", "/server_info")
_ERROR_BODY_LIMIT = 64 * 1024  # an error body is read this far for its message, no further
_MESSAGE_LIMIT = 500
_KEPT_STATUSES = frozenset({400, 404, 413, 422})
_DONE = b"[DONE]"


def split_base_url(base_url: str) -> tuple[str, str | None]:
    """`(api_root, server_root)`: where `/models` and `/chat/completions` live, and where
    SGLang's native endpoints live (None when the URL's path is the provider's own).

    `http://h:30000` → (`http://h:30000/v1`, `http://h:30000`);
    `https://api.x.ai/v1/` → (`https://api.x.ai/v1`, `https://api.x.ai`);
    `https://h/openai/v2` → (`https://h/openai/v2`, None).
    """
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as err:
        raise ConfigError(f"bad worker url: {err}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError("an HTTP worker url must look like http(s)://host[:port][/path]")
    # httpx logs request URLs at INFO: credentials or tokens in them would reach the logs.
    if url.userinfo or url.query:
        raise ConfigError(f"HTTP worker {url.scheme}://{url.host}: give the key as the worker's API key, "
                          "not in the url (no user:password@, no ?query)")
    root = str(url.copy_with(fragment=None)).rstrip("/")
    path = url.path.rstrip("/")
    if not path:
        return root + "/v1", root
    if path.endswith("/v1"):
        return root, root[: -len("/v1")]
    return root, None


def pooled_client(timeout: httpx.Timeout, max_connections: int, *, http2: bool = False) -> httpx.AsyncClient:
    """The connection pool of one HTTP worker: keep-alive, redirects not followed (a bearer key
    must not travel to another host). `http2` (`--upstream-http2`): HTTP/2 with prior
    knowledge on http:// (the worker must speak h2c), negotiated by ALPN on https://."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=min(max_connections, 64),
                          keepalive_expiry=30.0)
    if not http2:
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False, limits=limits)
    mounts = {"http://": httpx.AsyncHTTPTransport(http1=False, http2=True, limits=limits),
              "https://": httpx.AsyncHTTPTransport(http2=True, limits=limits)}
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, limits=limits, mounts=mounts)


async def get_json_object(client: httpx.AsyncClient, url: str, worker: str, *,
                          headers: dict[str, str] | None = None, timeout: Any = httpx.USE_CLIENT_DEFAULT,
                          ) -> dict[str, Any]:
    """A GET's JSON object (an SGLang info endpoint); empty when the server has no such
    endpoint or answers something else. Unreachable raises `transport_error`."""
    try:
        response = await client.get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError as err:
        raise transport_error(err, worker) from None
    if response.status_code != 200:
        return {}
    try:
        value = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


class HttpBackend:
    """One OpenAI-compatible HTTP worker.

    `timeout` bounds each read (for a stream: the gap between two events); `connect_timeout`
    bounds connecting. Pass `client` to share a pool (then `aclose` leaves it open).
    `probe_sglang=False` skips SGLang's native endpoints (managed providers have none).
    """

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 600.0,
                 connect_timeout: float = 10.0, max_connections: int = 512, probe_sglang: bool = True,
                 client: httpx.AsyncClient | None = None, http2: bool = False) -> None:
        self._api, server = split_base_url(base_url)
        self.url = base_url.rstrip("/")  # checked free of credentials: safe to log, the pool's identity
        self._server = server if probe_sglang else None
        self._key = api_key or None
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Waiting for a pooled connection is bounded like connecting: a full pool is overload.
        connect = min(connect_timeout, timeout)
        self._timeout = httpx.Timeout(timeout, connect=connect, pool=connect)
        # Discovery is a quick GET: it must not hang start-up for a generation's timeout.
        self._info_timeout = httpx.Timeout(min(timeout, 30.0), connect=connect, pool=connect)
        self._health_url: str | None = None
        self._owns_client = client is None
        self._client = client or pooled_client(self._timeout, max_connections, http2=http2)

    def __repr__(self) -> str:
        return f"HttpBackend(url={self.url!r}, api_key={'set' if self._key else 'none'})"

    # -- discovery and health -----------------------------------------------------------

    async def discover_models(self) -> list[str]:
        """Served model names; the first is the routing key. SGLang's native endpoints
        first (one name: `served_model_name`, which only the server-info endpoints carry,
        else `model_path`), then `GET /v1/models`."""
        model_path = None
        for path in SGLANG_INFO_PATHS if self._server is not None else ():
            info = await self._sglang_info(f"{self._server}{path}")
            model_path = model_path or _str_field(info, "model_path")
            if served := _str_field(info, "served_model_name"):
                log.debug("worker %s: model %s from %s", self.url, served, path)
                return [served]
        return [model_path] if model_path else await self._listed_models()

    async def _sglang_info(self, url: str) -> dict[str, Any]:
        return await get_json_object(self._client, url, self.url, headers=self._headers, timeout=self._info_timeout)

    async def _listed_models(self) -> list[str]:
        body = await self._get_json(self._api + "/models")
        data = body.get("data")
        # Entries without `object` are taken too: some servers leave it out.
        names = [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)
                 and m.get("object", "model") == "model"] if isinstance(data, list) else []
        if not names:
            raise WorkerError(f"worker {self.url}: /models lists no model")
        return names

    async def health(self, *, timeout: float | None = None) -> bool:
        """True when the worker answers: SGLang/vLLM `GET /health`, else `GET /v1/models`."""
        url = self._health_url or (self._server + "/health" if self._server else self._api + "/models")
        limit = httpx.Timeout(timeout or min(self._info_timeout.read or 5.0, 5.0))
        try:
            response = await self._client.get(url, headers=self._headers, timeout=limit)
        except httpx.HTTPError as err:
            log.debug("health of %s: %s", self.url, type(err).__name__)
            return False
        if response.status_code in (404, 405) and url.endswith("/health"):
            self._health_url = self._api + "/models"
            return await self.health(timeout=timeout)
        if response.is_success:
            self._health_url = url
        return response.is_success

    async def health_status(self, *, timeout: float | None = None) -> HealthStatus:
        """`health` in the shape `workers.health.HealthChecker` reads from gRPC clients."""
        ok = await self.health(timeout=timeout)
        return HealthStatus(ok, "ok" if ok else "not answering")

    # -- generation ---------------------------------------------------------------------

    async def chat(self, body: dict[str, Any], *, stream: bool) -> dict[str, Any] | UpstreamEvents:
        """`POST /v1/chat/completions`: the JSON answer, or the stream of its SSE payloads."""
        return await self._generate("/chat/completions", body, stream)

    async def completions(self, body: dict[str, Any], *, stream: bool) -> dict[str, Any] | UpstreamEvents:
        """`POST /v1/completions`: the JSON answer, or the stream of its SSE payloads."""
        return await self._generate("/completions", body, stream)

    async def embeddings(self, body: dict[str, Any], *, stream: bool = False) -> dict[str, Any] | UpstreamEvents:
        """`POST /v1/embeddings`: the JSON answer (`stream` is ignored: never streamed)."""
        request = self._client.build_request("POST", self._api + "/embeddings", json=body,
                                             headers=self._headers, timeout=self._timeout)
        return await self._read_json(await self._send(request))

    async def _generate(self, path: str, body: dict[str, Any], stream: bool) -> dict[str, Any] | UpstreamEvents:
        headers = self._headers
        if tracing.ENABLED and (trace := tracing.current()) is not None:
            headers = {**headers, **dict(trace.headers())}  # the trace goes on upstream
        request = self._client.build_request("POST", self._api + path, json={**body, "stream": stream},
                                             headers=headers, timeout=self._timeout)
        response = await self._send(request)
        if not stream:
            return await self._read_json(response)
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            # A server that ignored `stream` would otherwise look like an empty answer.
            await response.aclose()
            raise WorkerError(f"worker {self.url}: asked for a stream, got {response.headers.get('content-type')!r}")
        return UpstreamEvents(response, self.url)

    async def _get_json(self, url: str) -> dict[str, Any]:
        request = self._client.build_request("GET", url, headers=self._headers, timeout=self._info_timeout)
        return await self._read_json(await self._send(request))

    async def _read_json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = await response.aread()
        except httpx.HTTPError as err:
            raise transport_error(err, self.url, sent=True) from None
        finally:
            await response.aclose()
        return _json_object(data, self.url)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send and wait for the status line; an error status is raised here, its body read
        (bounded) for the upstream message, so nothing has been committed to the client."""
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as err:
            raise transport_error(err, self.url) from None
        if response.status_code < 300:
            return response
        try:
            body = await _read_bounded(response)
        except httpx.HTTPError:
            body = b""
        finally:
            await response.aclose()
        raise status_error(response.status_code, self._scrub(body), self.url)

    def _scrub(self, body: bytes) -> bytes:
        # Some servers echo the key they refused; it must not reach clients or logs.
        return body.replace(self._key.encode(), b"***") if self._key else body

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def close(self) -> None:
        """Alias of `aclose`: the pool closes every worker client with `close()`."""
        await self.aclose()


class UpstreamEvents:
    """The raw SSE `data:` payloads of one upstream stream, one event per item, `[DONE]`
    excluded. `finished` is true once the stream ended normally ([DONE] or a clean EOF).

    Cancelling a task reading it, or `aclose()`, closes the upstream response, which the
    upstream server sees as a client disconnect and stops generating.
    """

    __slots__ = ("_events", "_response", "_url", "finished")

    def __init__(self, response: httpx.Response, url: str) -> None:
        self._response = response
        self._url = url
        self.finished = False
        self._events = self._iterate()

    @property
    def status_code(self) -> int:
        return self._response.status_code

    def __aiter__(self) -> UpstreamEvents:
        return self

    async def __anext__(self) -> bytes:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()
        await self._response.aclose()

    async def __aenter__(self) -> UpstreamEvents:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _iterate(self) -> AsyncIterator[bytes]:
        try:
            async for payload in data_payloads(self._response.aiter_bytes()):
                if payload == _DONE:
                    # Read on to EOF (it follows at once) so the connection goes back to the pool.
                    self.finished = True
                elif not self.finished:
                    yield payload
            self.finished = True
        except httpx.HTTPError as err:
            raise transport_error(err, self._url, sent=True) from None
        finally:
            await self._response.aclose()


async def data_payloads(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """SSE framing over bytes: each event's `data:` lines joined by newlines; comments,
    `event:`, `id:` and `retry:` fields are dropped. Lines end in LF or CRLF."""
    buffer = b""
    data: list[bytes] = []
    async for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            line = line.removesuffix(b"\r")
            if not line:
                if data:
                    yield b"\n".join(data)
                    data = []
            elif line.startswith(b"data:"):
                data.append(line[6:] if line.startswith(b"data: ") else line[5:])
    if buffer.startswith(b"data:"):  # a last event without its blank line
        data.append(buffer.removesuffix(b"\r")[5:].removeprefix(b" "))
    if data:
        yield b"\n".join(data)


async def _read_bounded(response: httpx.Response) -> bytes:
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= _ERROR_BODY_LIMIT:
            break
    return body[:_ERROR_BODY_LIMIT]


def _json_object(data: bytes, url: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise WorkerError(f"worker {url}: answer is not JSON") from None
    if not isinstance(value, dict):
        raise WorkerError(f"worker {url}: answer is not a JSON object")
    return value


def transport_error(err: httpx.HTTPError, url: str, *, sent: bool = False) -> WorkerError:
    """An httpx failure → our error. `sent`: the upstream already answered with a status,
    so the failure is mid-body and a retry could repeat work the client saw begin."""
    name = type(err).__name__
    if isinstance(err, httpx.TimeoutException) and not isinstance(err, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return WorkerTimeoutError(f"worker {url}: {name}")
    if sent:
        return WorkerError(f"worker {url}: connection lost mid-answer ({name})")
    if isinstance(err, httpx.PoolTimeout):
        return WorkerOverloadedError(f"worker {url}: all connections busy")
    if isinstance(err, (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ProxyError)):
        return WorkerUnavailableError(f"worker {url}: unreachable ({name})")
    return WorkerError(f"worker {url}: {name}: {err}")


def status_error(status: int, body: bytes, url: str) -> WorkerError:
    """An upstream error status → our error, carrying the upstream message (and for 4xx its
    `param` and `code`); `upstream_status` keeps the status as sent."""
    message, param, code = _error_fields(body)
    exc: WorkerError
    if status == 429:
        exc = WorkerOverloadedError(message)
    elif status in (408, 504):
        exc = WorkerTimeoutError(f"worker {url}: HTTP {status}: {message}")
    elif status in (401, 403):
        exc = WorkerError(f"worker {url} refused the gateway's credentials (HTTP {status}): {message}",
                          code="worker_auth_failed")
    elif 400 <= status < 500:
        exc = WorkerRejectedError(message, param=param, code=code)
        exc.status = status if status in _KEPT_STATUSES else 400
    elif status in (502, 503):
        exc = WorkerUnavailableError(f"worker {url}: HTTP {status}: {message}")
    else:
        exc = WorkerError(f"worker {url}: HTTP {status}: {message}")
    exc.upstream_status = status  # type: ignore[attr-defined]
    return exc


def _error_fields(body: bytes) -> tuple[str, str | None, str | None]:
    """(message, param, code) from an OpenAI `{"error": {...}}` body, vLLM's flat
    `{"message": ...}`, FastAPI's `{"detail": ...}`, or plain text."""
    try:
        obj = msgspec.json.decode(body)
    except msgspec.DecodeError:
        obj = None
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, str):
            return err[:_MESSAGE_LIMIT], None, None
        if isinstance(err, dict):
            message = err.get("message", err.get("detail"))
            if isinstance(message, str) and message:
                return message[:_MESSAGE_LIMIT], _str_or_none(err.get("param")), _str_or_none(err.get("code"))
    text = body.decode("utf-8", "replace").strip()
    return (text[:_MESSAGE_LIMIT] or "no message"), None, None


def _str_field(obj: dict[str, Any], name: str) -> str | None:
    return _str_or_none(obj.get(name))


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
