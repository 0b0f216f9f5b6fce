"""One measured window: closed-loop users, an optional side client beside them, and the
figures both leave behind."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from benchlib.http_client import Tally
from benchlib.settings import REQUEST_TIMEOUT

__all__ = ["Send", "SideClient", "drive", "figures", "percentile", "side_figures"]

Send = Callable[[int, int, Tally], Awaitable[None]]  # (user, request index, tally)
MS = 1000.0


async def _one(send: Send, user: int, i: int, tally: Tally) -> None:
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):  # no extra task per request, unlike wait_for
            await send(user, i, tally)
    except Exception as err:  # noqa: BLE001 — a failed request is a figure, not a crash
        tally.fail(f"{type(err).__name__}: {err}")


async def drive(send: Send, concurrency: int, first: int, count: int, seconds: float) -> tuple[Tally, float]:
    """`concurrency` users issue requests first..first+count-1 until those run out or the
    time is up, then finish what is in flight. Returns the tally and the elapsed time."""
    tally, next_index = Tally(), first
    deadline = time.perf_counter() + seconds

    async def user(u: int) -> None:
        nonlocal next_index
        while next_index < first + count and time.perf_counter() < deadline:
            i, next_index = next_index, next_index + 1
            await _one(send, u, i, tally)

    start = time.perf_counter()
    await asyncio.gather(*(user(u) for u in range(concurrency)))
    return tally, time.perf_counter() - start


@dataclass(slots=True)
class SideClient:
    """One more client beside a window's users: one request at a time, starting one at
    most every `every` seconds, so every target faces the same side load as long as it
    keeps up. Request indices continue across runs (warm-up, then the window)."""

    send: Send
    every: float
    limit: int  # requests built for it; it stops early rather than repeat one
    next_index: int = 0
    tally: Tally = field(default_factory=Tally)

    def start(self, stop: asyncio.Event, count: int) -> asyncio.Task[None]:
        """Run up to `count` more requests, or until `stop` is set; a fresh tally."""
        self.tally = Tally()
        return asyncio.create_task(self._run(stop, min(self.limit, self.next_index + count)), name="side-client")

    async def _run(self, stop: asyncio.Event, end: int) -> None:
        while not stop.is_set() and self.next_index < end:
            i, self.next_index = self.next_index, self.next_index + 1
            started = time.perf_counter()
            await _one(self.send, 0, i, self.tally)
            rest = self.every - (time.perf_counter() - started)
            if rest > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(rest):
                        await stop.wait()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _scaled(value: float | None, by: float) -> float | None:
    return None if value is None else value * by


def figures(tally: Tally, elapsed: float, cpu: dict[str, float]) -> dict[str, Any]:
    n = max(tally.ok, 1)
    out: dict[str, Any] = {
        "requests": tally.ok, "errors": tally.errors, "first_error": tally.first_error or None,
        "elapsed_s": round(elapsed, 3), "rps": tally.ok / elapsed, "out_tok_s": tally.tokens / elapsed,
        "tokens_per_req": tally.tokens / n, "chunks_per_req": tally.chunks / n,
        "ttft_p50_ms": _scaled(percentile(tally.ttft, 0.5), MS),
        "ttft_p99_ms": _scaled(percentile(tally.ttft, 0.99), MS),
        "itl_p50_ms": _scaled(percentile(tally.gaps, 0.5), MS), "itl_p99_ms": _scaled(percentile(tally.gaps, 0.99), MS),
        "itl_max_ms": _scaled(max(tally.gaps, default=None), MS),
        "core0_util": (cpu["worker"] + cpu["loadgen"]) / elapsed,
        "worker_cpu_ms_per_req": cpu["worker"] * MS / n,
        # CPU that none of the benchmark's processes used: other work on a shared machine
        "other_load": (cpu["system"] - cpu["worker"] - cpu["loadgen"] - cpu.get("gateway", 0.0)) / elapsed,
    }
    if "gateway" in cpu:
        out |= {"gw_cpu_s": cpu["gateway"], "gw_cpu_ms_per_req": cpu["gateway"] * MS / n,
                "gw_cpu_us_per_tok": cpu["gateway"] * 1e6 / max(tally.tokens, 1),
                "gw_cpu_util": cpu["gateway"] / elapsed}
    return out


def side_figures(tally: Tally) -> dict[str, Any]:
    """The side client's own view: how many long prompts went through, and how slowly."""
    n = max(tally.ok, 1)
    return {"requests": tally.ok, "errors": tally.errors, "first_error": tally.first_error or None,
            "prompt_tokens_mean": tally.prompt_tokens / n if tally.ok else None,
            "latency_p50_ms": _scaled(percentile(tally.ttft, 0.5), MS),
            "latency_max_ms": _scaled(max(tally.ttft, default=None), MS)}
