"""Our gateway's event-loop lag, read from its Prometheus listener before and after a window.

The gateway exports a histogram of lag samples (one per 10 ms timer) and a gauge of the
largest since start. The window's largest lag is exact when the gauge rose during the
window; otherwise it is at most the smaller of the gauge and the upper bound of the
highest histogram bucket that gained samples, and is marked as a bound.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from benchlib.settings import HOST

__all__ = ["LagReading", "lag_in_window", "merged_lag", "read_loop_lag", "unchunk"]

LAG = "sgl_router_event_loop_lag_seconds"
LAG_MAX = "sgl_router_event_loop_lag_max_seconds"
STALL_S = 0.02  # issue 7's target: no stall over 20 ms


@dataclass(slots=True, frozen=True)
class LagReading:
    buckets: tuple[tuple[float, float], ...]  # (upper bound, cumulative count), ascending
    count: float
    max_s: float


async def _get(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode())
        data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"GET {path} on port {port}: {head[:100]!r}")
    if b"transfer-encoding: chunked" in head.lower():
        body = unchunk(body)
    return body


def unchunk(body: bytes) -> bytes:
    """A chunked HTTP/1.1 body (RFC 9112 §7.1) joined; the raw-socket readers use it."""
    out, rest = [], body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        rest = rest[size + 2:]
    return b"".join(out)


async def read_loop_lag(port: int) -> LagReading:
    from prometheus_client.parser import text_string_to_metric_families

    text = (await _get(port, "/metrics")).decode()
    text = "\n".join(line for line in text.splitlines() if "sgl_router_event_loop_lag" in line) + "\n"
    buckets: list[tuple[float, float]] = []
    count = max_s = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == f"{LAG}_bucket":
                buckets.append((float(s.labels["le"]), s.value))
            elif s.name == f"{LAG}_count":
                count = s.value
            elif s.name == LAG_MAX:
                max_s = s.value
    if not buckets:
        raise RuntimeError(f"the gateway on port {port} exports no {LAG}")
    return LagReading(tuple(sorted(buckets)), count, max_s)


def lag_in_window(before: LagReading, after: LagReading) -> dict[str, Any]:
    """The window's lag figures: samples, how many were over 20 ms, and the largest."""
    samples = after.count - before.count
    grown = [(le, a - b) for (le, a), (_, b) in zip(after.buckets, before.buckets, strict=True)]
    within = dict(grown)
    out: dict[str, Any] = {"loop_lag_samples": int(samples),
                           "loop_lag_over_20ms": int(samples - within.get(STALL_S, samples))}
    if samples <= 0:
        return out | {"loop_lag_max_ms": None, "loop_lag_max_exact": False}
    if after.max_s > before.max_s:
        return out | {"loop_lag_max_ms": after.max_s * 1000, "loop_lag_max_exact": True}
    bound = next((le for le, n in grown if n >= samples), math.inf)
    return out | {"loop_lag_max_ms": min(bound, before.max_s) * 1000, "loop_lag_max_exact": False}


def merged_lag(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The lag figures of a window measured in slices, from each slice's (lag_in_window)."""
    measured = [r for r in rows if r.get("loop_lag_max_ms") is not None]
    top = max(measured, key=lambda r: r["loop_lag_max_ms"], default=None)
    return {"loop_lag_samples": sum(r["loop_lag_samples"] for r in rows),
            "loop_lag_over_20ms": sum(r["loop_lag_over_20ms"] for r in rows),
            "loop_lag_max_ms": top["loop_lag_max_ms"] if top else None,
            "loop_lag_max_exact": top["loop_lag_max_exact"] if top else False}
