"""Per-tenant limits: requests per second (a token bucket bursting to twice the rate),
requests running at once, and a priority in the gateway's admission queue, from
``--tenant-rate-limit-config FILE`` (YAML or JSON)::

    {"tenants": {"team-a": {"requests_per_second": 2, "max_concurrent_requests": 32, "priority": 10}}}

``priority`` (an integer, 0 by default, higher first) orders the requests waiting for a
gateway-wide slot (admission.py); it limits nothing.

Tenants not listed, and requests with no tenant, are not limited here (the gateway-wide
admission still applies). Each tenant has its own bucket and counter, so one tenant's
burst never takes another's share. A refusal is a 429 whose ``retry_after`` says when the
bucket will hold a token again (1 s for the concurrency limit). State is per gateway
process: with ``--workers N`` each process enforces the limits on its own share.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sglang_gw.admission import BUSY_RETRY_AFTER_SECS, TokenBucket
from sglang_gw.errors import ConfigError, RateLimitError

__all__ = ["TenantLimit", "TenantLimits", "load_tenant_limits"]


@dataclass(slots=True, frozen=True)
class TenantLimit:
    requests_per_second: float | None = None
    max_concurrent_requests: int | None = None
    priority: int = 0


def _positive(value: Any, what: str, kind: type) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 or (kind is int and value % 1):
        raise ConfigError(f"{what} must be a positive {'integer' if kind is int else 'number'}, got {value!r}")
    return kind(value)


def _priority(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what} must be an integer, got {value!r}")
    return value


_FIELDS = ("requests_per_second", "max_concurrent_requests", "priority")


def parse_tenant_limits(document: Any, where: str) -> dict[str, TenantLimit]:
    tenants = document.get("tenants") if isinstance(document, dict) else None
    if not isinstance(tenants, dict):
        raise ConfigError(f"{where}: expected a mapping 'tenants' of NAME: "
                          "{requests_per_second, max_concurrent_requests, priority}")
    limits = {}
    for name, entry in tenants.items():
        if not isinstance(entry, dict) or set(entry) - set(_FIELDS):
            raise ConfigError(f"{where}: tenant {name!r} takes {', '.join(_FIELDS)} only")
        limits[str(name)] = TenantLimit(
            _positive(entry.get("requests_per_second"), f"{where}: {name}.requests_per_second", float),
            _positive(entry.get("max_concurrent_requests"), f"{where}: {name}.max_concurrent_requests", int),
            _priority(entry.get("priority", 0), f"{where}: {name}.priority"))
    return limits


def load_tenant_limits(path: Path) -> dict[str, TenantLimit]:
    """Read ``--tenant-rate-limit-config``; JSON is YAML too."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"--tenant-rate-limit-config {path}: {err}") from None
    return parse_tenant_limits(document, f"--tenant-rate-limit-config {path}")


class _Tenant:
    __slots__ = ("bucket", "limit", "running")

    def __init__(self, limit: TenantLimit, clock: Callable[[], float]) -> None:
        self.limit = limit
        rate = limit.requests_per_second
        self.bucket = TokenBucket(rate, max(1.0, 2 * rate), clock) if rate else None
        self.running = 0


class TenantLimits:
    """One bucket and one running count per listed tenant; used on the event loop only."""

    def __init__(self, limits: Mapping[str, TenantLimit], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._tenants = {name: _Tenant(limit, clock) for name, limit in limits.items()}

    @property
    def tenants(self) -> frozenset[str]:
        return frozenset(self._tenants)

    def acquire(self, tenant: str | None) -> bool:
        """Take a slot for a request of ``tenant``: True if one was taken (give it back with
        :meth:`release`), False if the tenant is not limited; raises a 429 if over a limit."""
        state = self._tenants.get(tenant) if tenant is not None else None
        if state is None:
            return False
        cap = state.limit.max_concurrent_requests
        if cap is not None and state.running >= cap:  # refused before the bucket: costs no token
            err = RateLimitError(f"tenant {tenant!r} has {cap} requests running, its limit")
            err.retry_after = BUSY_RETRY_AFTER_SECS  # type: ignore[attr-defined]
            raise err
        if state.bucket is not None:
            wait = state.bucket.take()
            if wait:
                err = RateLimitError(f"tenant {tenant!r} is over its limit of "
                                     f"{state.limit.requests_per_second:g} requests per second")
                err.retry_after = wait  # type: ignore[attr-defined]
                raise err
        state.running += 1
        return True

    def priority(self, tenant: str | None) -> int:
        """The tenant's place in the admission queue (0 for tenants not listed)."""
        state = self._tenants.get(tenant) if tenant is not None else None
        return state.limit.priority if state is not None else 0

    def release(self, tenant: str) -> None:
        self._tenants[tenant].running -= 1

    def running(self, tenant: str) -> int:
        return self._tenants[tenant].running
