"""gRPC status codes → the gateway's worker errors (one table, used by every RPC)."""

from __future__ import annotations

import grpc

from sglang_gw.errors import (
    WorkerError,
    WorkerOverloadedError,
    WorkerRejectedError,
    WorkerTimeoutError,
    WorkerUnavailableError,
)

__all__ = ["from_grpc_error", "from_status"]

_BY_CODE: dict[grpc.StatusCode, type[WorkerError]] = {
    grpc.StatusCode.UNAVAILABLE: WorkerUnavailableError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: WorkerOverloadedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: WorkerTimeoutError,
    grpc.StatusCode.INVALID_ARGUMENT: WorkerRejectedError,
    grpc.StatusCode.OUT_OF_RANGE: WorkerRejectedError,
    grpc.StatusCode.FAILED_PRECONDITION: WorkerRejectedError,
}


def from_grpc_error(err: grpc.aio.AioRpcError, url: str) -> WorkerError:
    """Translate a failed RPC into our error; the worker's own text is kept for the client."""
    return from_status(err.code(), err.details() or "", url)


def from_status(code: grpc.StatusCode, details: str, url: str) -> WorkerError:
    cls = _BY_CODE.get(code, WorkerError)
    detail = details or code.name
    exc = cls(f"worker {url}: {code.name}: {detail}")
    exc.grpc_code = code  # type: ignore[attr-defined]
    return exc
