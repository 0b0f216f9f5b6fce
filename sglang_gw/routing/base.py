"""The routing-policy contract: pick one worker among eligible ones for one request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

__all__ = ["Policy", "PolicyConfig", "RouteRequest", "RoutableWorker"]


class RoutableWorker(Protocol):
    """What a policy may read of a worker (sglang_gw.workers.pool.Worker has these)."""

    url: str
    inflight: int  # this gateway's open calls on it
    load: int      # the worker's own running + waiting requests (GetLoads), 0 when unknown


@dataclass(slots=True, frozen=True)
class RouteRequest:
    model: str
    prompt_ids: Sequence[int] = ()
    routing_key: str | None = None  # the x-smg-routing-key header (or another configured header)
    lora: str | None = None  # a LoRA adapter's name: only workers holding it may serve


@dataclass(slots=True, frozen=True)
class PolicyConfig:
    """smg's flags of the same names."""

    cache_threshold: float = 0.3
    balance_abs_threshold: int = 64
    balance_rel_threshold: float = 1.5
    eviction_interval_secs: float = 120.0
    max_tree_size: int = 2 ** 24  # tokens kept per cache_aware tree before eviction
    prefix_token_count: int = 256
    block_size: int = 16  # kv_aware: tokens per KV page when the worker's events do not say


class Policy:
    """Base of every policy. `select` gets a non-empty list of healthy, eligible workers
    and must be cheap: it runs once per request on the event loop."""

    name: ClassVar[str] = ""

    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()

    def select(self, workers: Sequence[RoutableWorker], request: RouteRequest) -> RoutableWorker:
        raise NotImplementedError

    def remove_worker(self, url: str) -> None:
        """Forget per-worker state (a worker left the fleet)."""
