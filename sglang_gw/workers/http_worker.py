"""An OpenAI-compatible HTTP worker seen through the pool's worker interface.

The pool, the health checker and the load monitor talk to every worker the same way; this
adapter gives an `HttpBackend` that shape (health as `HealthStatus`, no loads, no cache to
flush) and keeps the backend itself for the proxy path.
"""

from __future__ import annotations

from sglang_gw.errors import WorkerError
from sglang_gw.workers.client import HealthStatus
from sglang_gw.workers.http_backend import HttpBackend

__all__ = ["HttpWorkerClient"]


class HttpWorkerClient:
    kind = "http"

    def __init__(self, backend: HttpBackend) -> None:
        self.backend = backend
        self.url = backend.url

    async def health(self, *, timeout: float | None = None) -> HealthStatus:
        return await self.backend.health_status(timeout=timeout)

    async def loads(self):  # noqa: ANN201 - the OpenAI API reports no load
        raise WorkerError(f"worker {self.url}: an OpenAI-compatible worker reports no load")

    async def flush_cache(self) -> bool:
        return False

    async def abort(self, request_id: str, reason: str = "") -> bool:
        return False  # closing the HTTP response is what stops an upstream request

    async def close(self) -> None:
        await self.backend.aclose()
