"""The ``tenant`` label of the request metrics, from a bounded set.

Tenants named in the limits file always get their own label; others get one each in the
order they are first seen, up to ``max_labels``; the rest share ``other``. Requests with no
tenant are ``none``. So a flood of JWTs with made-up tenant claims costs at most
``max_labels`` series.

Not a top-N by traffic: a label once given stays, because a counter moved between labels
splits its history, and keeping a changing set bounded would mean deleting series, which
prometheus_client's multiprocess mode cannot do (docs/security.md#tenant-metrics).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["DEFAULT_MAX_TENANT_LABELS", "NO_TENANT", "OTHER", "TenantLabels"]

DEFAULT_MAX_TENANT_LABELS = 20
NO_TENANT = "none"
OTHER = "other"


class TenantLabels:
    def __init__(self, known: Iterable[str] = (), max_labels: int = DEFAULT_MAX_TENANT_LABELS) -> None:
        self._known = set(known)
        self._seen: set[str] = set()
        self.max_labels = max_labels

    def of(self, tenant: str | None) -> str:
        if tenant is None:
            return NO_TENANT
        if tenant in self._known or tenant in self._seen:
            return tenant
        if len(self._seen) < self.max_labels and tenant not in (NO_TENANT, OTHER):
            self._seen.add(tenant)
            return tenant
        return OTHER
