"""The workers the gateway knows, by model, and the choice of one for a request.

`select` filters to routable workers (healthy, not draining, breaker not open, not just
failed on this request) and lets the routing policy choose among them. `servable_models`
says which models routing can serve at all, for the readiness probe.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from sglang_gw import metrics
from sglang_gw.errors import LoraNotFoundError, NoHealthyWorkerError
from sglang_gw.routing.base import Policy, RouteRequest
from sglang_gw.workers.breaker import BreakerConfig, CircuitBreaker, CircuitState
from sglang_gw.workers.client import WorkerClient

__all__ = ["Worker", "WorkerPool"]


@dataclass(eq=False, slots=True)
class Worker:
    """One worker as the gateway sees it. `inflight` counts this gateway's open calls;
    `load` is the worker's own running + waiting requests from its last GetLoads."""

    url: str
    client: WorkerClient
    model: str
    healthy: bool = True
    inflight: int = 0
    load: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    worker_type: str = "regular"  # or "prefill" / "decode" (PD disaggregation)
    bootstrap_port: int | None = None
    draining: bool = False
    breaker: CircuitBreaker | None = None
    # "grpc"; "sglang_http": an SGLang worker over its native HTTP API, tokens in and out like
    # gRPC; "http": an OpenAI-compatible worker, proxied at the API level.
    kind: str = "grpc"
    # LoRA adapters loaded on the worker: name → the worker's own id for it (ListLoadedLoRAAdapters).
    adapters: dict[str, str] = field(default_factory=dict)
    load_pushed: bool = False  # `load` comes from the live KV event stream (workers/kv_events.py)

    @property
    def routable(self) -> bool:
        return self.healthy and not self.draining and (self.breaker is None or self.breaker.available)

    @property
    def serving(self) -> bool:
        """Routing sends it requests: `routable`, except that a half-open breaker whose probe
        slots are all taken for the moment still counts (readiness must not flap on that)."""
        breaker = self.breaker
        return self.healthy and not self.draining and (breaker is None or breaker.state is not CircuitState.OPEN)


class WorkerPool:
    """Workers grouped by model; `select` asks the policy among the routable ones."""

    def __init__(self, policy: Policy | None = None, *, breaker: BreakerConfig | None = None,
                 on_breaker_transition: Callable[[Worker, str, str], None] | None = None) -> None:
        from sglang_gw.routing import POLICIES

        self._by_model: dict[str, list[Worker]] = {}
        self.policy = policy or POLICIES.get("round_robin")()
        self.policies: dict[str, Policy] = {}  # per worker type (PD: prefill / decode policies)
        self._breaker = breaker
        self._on_transition = on_breaker_transition

    def add(self, worker: Worker) -> None:
        if self._breaker is not None and self._breaker.enabled and worker.breaker is None:
            worker.breaker = CircuitBreaker(self._breaker, name=worker.url, on_transition=self._transition(worker))
        self._by_model.setdefault(worker.model, []).append(worker)
        metrics.register_worker(worker.url, healthy=worker.healthy)
        self.update_active()

    def update_active(self) -> None:
        metrics.set_active_workers(sum(1 for w in self.workers() if w.healthy and not w.draining))

    def _transition(self, worker: Worker) -> Callable[[object, object], None]:
        hook = self._on_transition

        def changed(old: object, new: object) -> None:
            metrics.record_circuit_transition(worker.url, str(old), str(new))
            if hook is not None:
                hook(worker, str(old), str(new))
        return changed

    def remove(self, url: str) -> Worker | None:
        for model, workers in self._by_model.items():
            for w in workers:
                if w.url == url:
                    workers.remove(w)
                    if not workers:
                        del self._by_model[model]
                    for policy in (self.policy, *self.policies.values()):
                        policy.remove_worker(url)
                    metrics.forget_worker(url)
                    self.update_active()
                    return w
        return None

    def get(self, url: str) -> Worker | None:
        return next((w for w in self.workers() if w.url == url), None)

    def workers(self, model: str | None = None) -> list[Worker]:
        if model is not None:
            return list(self._by_model.get(model, ()))
        return [w for ws in self._by_model.values() for w in ws]

    def select(self, route: RouteRequest | str, exclude: Collection[str] = (), *,
               worker_type: str = "regular") -> Worker:
        """A routable worker of `worker_type` for the request, not one in `exclude` (those
        that just failed it) unless only those are left: a retry on them beats giving up."""
        if isinstance(route, str):
            route = RouteRequest(model=route)
        return self.choose(self.candidates(route, exclude, worker_type=worker_type), route, worker_type)

    def candidates(self, route: RouteRequest, exclude: Collection[str] = (), *,
                   worker_type: str = "regular") -> list[Worker]:
        """The routable workers a request may go to (never empty: raises instead); for an
        adapter, those holding it."""
        routable = [w for w in self._by_model.get(route.model, ())
                    if w.routable and w.worker_type == worker_type]
        if not routable:
            kind = "" if worker_type == "regular" else f"{worker_type} "
            raise NoHealthyWorkerError(f"no healthy {kind}worker serves model {route.model!r}")
        if route.lora is not None:
            routable = [w for w in routable if route.lora in w.adapters]
            if not routable:
                raise LoraNotFoundError(f"no worker of model {route.model!r} has the LoRA adapter "
                                        f"{route.lora!r} loaded", param="model")
        return [w for w in routable if w.url not in exclude] or routable

    def adapters(self, model: str) -> set[str]:
        """The LoRA adapters some worker of `model` holds."""
        return {name for w in self._by_model.get(model, ()) for name in w.adapters}

    def choose(self, workers: list[Worker], route: RouteRequest, worker_type: str = "regular") -> Worker:
        """The policy's pick among `workers`."""
        if len(workers) == 1:
            return workers[0]
        policy = self.policies.get(worker_type, self.policy)
        return policy.select(workers, route)  # type: ignore[return-value]

    def servable_models(self) -> list[str]:
        """The models a request can be routed for now: one serving worker, or with prefill/
        decode disaggregation one serving worker of each leg."""
        servable = []
        for model, workers in self._by_model.items():
            kinds = {w.worker_type for w in workers if w.serving}
            needed = {"prefill", "decode"} if any(w.worker_type == "decode" for w in workers) else {"regular"}
            if needed <= kinds:
                servable.append(model)
        return servable

    def has_type(self, model: str, worker_type: str) -> bool:
        return any(w.worker_type == worker_type for w in self._by_model.get(model, ()))
