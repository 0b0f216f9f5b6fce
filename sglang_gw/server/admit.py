"""Admission at the HTTP edge: take a slot for a request or answer its refusal (429 or
408 with `Retry-After`), keeping the queue metrics current. The queue itself is
`sglang_gw/admission.py`."""

from __future__ import annotations

import asyncio
import math

from starlette.responses import Response

from sglang_gw import metrics
from sglang_gw.admission import Admission
from sglang_gw.errors import GatewayError, RateLimitError, RequestTimeoutError
from sglang_gw.server.errors import error_response

__all__ = ["admit", "refusal_response", "release"]


async def admit(admission: Admission, path: str = "", priority: int = 0) -> Response | None:
    """Take a slot for a request (queued at `priority` if it must wait): None when it has
    one (give it back with `release`), else the 429 or 408 answer (shaped for the route at
    `path`), with `Retry-After`. Keeps the queue-depth gauge current."""
    try:
        await admission.acquire(priority)
    except (RateLimitError, RequestTimeoutError) as err:
        metrics.record_queue_rejection(_reason(err))
        metrics.set_queue_depth(admission.queued)
        return refusal_response(err, path)
    except asyncio.CancelledError:  # the client left while queued: it left the queue too
        metrics.set_queue_depth(admission.queued)
        raise
    metrics.set_queue_depth(admission.queued)
    return None


def release(admission: Admission) -> None:
    queued = admission.queued
    admission.release()
    if admission.queued != queued:  # a waiter took the slot
        metrics.set_queue_depth(admission.queued)


def _reason(err: GatewayError) -> str:
    if isinstance(err, RequestTimeoutError):
        return "timeout"
    return "queue_full" if "queue" in err.message else "rate_limited"


def refusal_response(err: GatewayError, path: str) -> Response:
    """The error answer, with `Retry-After` from the error's `retry_after` (rounded up)."""
    response = error_response(err, path)
    retry_after = getattr(err, "retry_after", None)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response
