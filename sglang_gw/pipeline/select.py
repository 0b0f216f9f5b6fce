"""Select stage: which worker (or, disaggregated, which prefill/decode pair) serves an attempt.

The policy (cache_aware by default, routing/) picks among the model's routable workers,
less those that already failed this request; a plugin's `select` hook may wrap that pick.
The chosen worker's circuit breaker has the last word: a worker whose breaker refuses is
excluded, and the dispatcher's next attempt picks again. Dispatch (dispatch.py) gets a
typed `WorkerChoice` and never looks at the policy, the breaker or the pairing itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sglang_gw.errors import NoHealthyWorkerError
from sglang_gw.metrics import observe_stage
from sglang_gw.plugins import HookRegistry
from sglang_gw.routing.base import RouteRequest
from sglang_gw.workers.pool import Worker, WorkerPool

__all__ = ["Selector", "WorkerChoice"]


@dataclass(slots=True, frozen=True)
class WorkerChoice:
    """Where one attempt goes: `worker` generates; `prefill`, when set, computes the
    prompt's KV cache first and hands it to `worker` (prefill/decode disaggregation)."""

    worker: Worker
    prefill: Worker | None = None


class Selector:
    """Picks a worker per attempt for one request."""

    __slots__ = ("_pool", "_route", "_hooks", "pd")

    def __init__(self, pool: WorkerPool, route: RouteRequest, hooks: HookRegistry | None) -> None:
        self._pool = pool
        self._route = route
        self._hooks = hooks
        # Disaggregated when the model has decode workers: every request then takes two legs.
        self.pd = pool.has_type(route.model, "decode")

    async def choose(self, exclude: list[str]) -> WorkerChoice | None:
        """A worker (or pair) for the next attempt, avoiding `exclude` while others are
        left; None when the pick's breaker refuses it, which adds it to `exclude`."""
        start = time.perf_counter()
        if self.pd:
            prefill = self._pool.select(self._route, exclude, worker_type="prefill")
            choice = WorkerChoice(self._pool.select(self._route, exclude, worker_type="decode"), prefill)
        else:
            choice = WorkerChoice(await self._pick(exclude))
        observe_stage("select", time.perf_counter() - start)
        breaker = choice.worker.breaker
        if breaker is not None and not breaker.allow():
            exclude.append(choice.worker.url)  # its breaker just opened, or its probe slot is taken
            return None
        return choice

    async def _pick(self, exclude: list[str]) -> Worker:
        candidates = self._pool.candidates(self._route, exclude)
        if self._hooks is None or not self._hooks.has("select"):
            return self._pool.choose(candidates, self._route)
        chosen = await self._hooks.run("select", self._pool.choose, candidates, self._route)
        if chosen not in candidates:  # a plugin may only pick among the routable workers
            raise NoHealthyWorkerError("a select hook chose a worker that is not routable")
        return chosen
