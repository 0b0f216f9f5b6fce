"""Metric updates gathered in plain Python and folded into prometheus_client when read.

A request updated some eighteen Prometheus series (stage timings, request and generation
figures, worker gauges). Each `observe` or `inc` of prometheus_client takes a lock and
walks a few Python frames: together 12% of a short request's instructions. Here an update
is a list index and an addition; `flush()` adds what was gathered to the real series.

`flush()` runs first in every collection of the default registry (a collector registered
before any series), so a scrape, `generate_latest()` or `REGISTRY.get_sample_value()` sees
every update made before it. Updates and scrapes all happen on the event loop's thread.

With several processes (`--workers N`, prometheus_client's multiprocess mode) a scrape
reads every process's files, and only the process that answers it would flush. There the
wrappers are not used: each update goes straight to the shared files, as before.

    STAGE = batched_histogram(STAGE_SECONDS.labels("prepare"))
    STAGE.observe(0.0012)
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.registry import Collector

__all__ = ["BATCHING", "batched_counter", "batched_gauge", "batched_histogram", "discard", "flush"]

# prometheus_client reads the same variable, also once at import, to choose its storage.
BATCHING = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")


class _Batched:
    __slots__ = ("child",)

    def __init__(self, child: Any) -> None:
        self.child = child

    def flush(self) -> None:
        raise NotImplementedError


class _Histogram(_Batched):
    __slots__ = ("_bounds", "_counts", "_sum")

    def __init__(self, child: Any) -> None:
        super().__init__(child)
        self._bounds = list(child._upper_bounds)  # ends with +Inf, so every amount has a bucket
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0

    def observe(self, amount: float) -> None:
        # A bucket counts amounts up to and including its bound, as prometheus_client does.
        self._counts[bisect_left(self._bounds, amount)] += 1
        self._sum += amount

    def flush(self) -> None:
        counts, total = self._counts, self._sum
        if not any(counts):
            return
        self._counts = [0] * len(counts)
        self._sum = 0.0
        self.child._sum.inc(total)
        for bucket, n in zip(self.child._buckets, counts, strict=True):
            if n:
                bucket.inc(n)


class _Counter(_Batched):
    __slots__ = ("_pending",)

    def __init__(self, child: Any) -> None:
        super().__init__(child)
        self._pending: float = 0

    def inc(self, amount: float = 1) -> None:
        self._pending += amount

    def flush(self) -> None:
        if self._pending:
            amount, self._pending = self._pending, 0
            self.child.inc(amount)


class _Gauge(_Batched):
    __slots__ = ("_value",)

    def __init__(self, child: Any) -> None:
        super().__init__(child)
        self._value: float | None = None

    def set(self, value: float) -> None:
        self._value = value

    def flush(self) -> None:
        if self._value is not None:
            value, self._value = self._value, None
            self.child.set(value)


_PENDING: dict[Any, _Batched] = {}  # by the wrapped child (compared by identity)


def _wrap(kind: type[_Batched], child: Any) -> Any:
    if not BATCHING:
        return child
    wrapper = _PENDING.get(child)
    if wrapper is None:
        wrapper = _PENDING[child] = kind(child)
    return wrapper


def batched_histogram(child: Any) -> Any:
    """A histogram (or labelled child) whose `observe` is gathered until the next flush."""
    return _wrap(_Histogram, child)


def batched_counter(child: Any) -> Any:
    return _wrap(_Counter, child)


def batched_gauge(child: Any) -> Any:
    """A gauge whose last `set` reaches the series at the next flush."""
    return _wrap(_Gauge, child)


def flush() -> None:
    for wrapper in list(_PENDING.values()):
        wrapper.flush()


def discard(metrics: Iterable[Any]) -> None:
    """Forget the wrappers of series about to be removed (given as wrappers or children)."""
    for metric in metrics:
        _PENDING.pop(metric.child if isinstance(metric, _Batched) else metric, None)


class _FlushFirst(Collector):
    """Registered before every other series of ours, so it is collected before them."""

    def collect(self) -> Iterable[Any]:
        flush()
        return ()


REGISTRY.register(_FlushFirst())
