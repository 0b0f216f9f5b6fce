"""Admission control in front of the pipeline: a concurrency limit with a bounded FIFO queue,
and a token-bucket rate limit, as smg's `--max-concurrent-requests`, `--queue-size`,
`--queue-timeout-secs` and `--rate-limit-tokens-per-second`.

    async with admission.slot():       # or: await acquire() ... finally: release()
        ...                            # the whole response, streaming body included

A request is refused with `RateLimitError` (429) when the bucket is empty or the queue is
full, and with `RequestTimeoutError` (408) when it waited `queue_timeout_secs` without a
slot; each carries `retry_after` (seconds, a float: the HTTP layer rounds it up).

A released slot goes straight to the oldest waiter, so `running` never dips while someone
waits and a newcomer can never overtake the queue. Waiters are futures in an
`OrderedDict`: admit, release, time out and cancel are each O(1), with no polling.

Waiters may carry a priority (an int, higher first; 0 by default: tenants' priorities from
--tenant-rate-limit-config). A released slot goes to the oldest waiter of the highest
priority waiting, and a request that finds the queue full displaces the newest waiter of the
lowest priority below its own (that waiter gets the queue-full 429), else it is refused. With
no priorities there is one queue, and release costs what it did.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sglang_gw.errors import (
    ConfigError,
    GatewayError,
    RateLimitError,
    RequestTimeoutError,
)

__all__ = [
    "BUSY_RETRY_AFTER_SECS",
    "Admission",
    "AdmissionConfig",
    "TokenBucket",
    "max_concurrent_from_flag",
]

# What a client refused for a full queue or a queue timeout is told to wait: the gateway
# cannot know when a slot frees, and a second is long enough not to hammer it.
BUSY_RETRY_AFTER_SECS = 1.0
# How a waiter's future is resolved.
_TIMED_OUT, _ADMITTED, _DISPLACED = 0, 1, 2


def max_concurrent_from_flag(value: int) -> int | None:
    """smg's `--max-concurrent-requests` semantics → a limit: -1 (its default) derives one
    from the host (1024 per core, at least 4096), 0 disables it (None), n is n."""
    if value == 0:
        return None
    if value < 0:
        return max(4096, 1024 * (os.cpu_count() or 1))
    return value


@dataclass(slots=True, frozen=True)
class AdmissionConfig:
    """`max_concurrent_requests` None or ≤ 0 means unlimited (see `max_concurrent_from_flag`
    for smg's -1). `queue_size` 0 refuses at once when the limit is reached (smg's default
    100); `queue_timeout_secs` None waits forever (smg's default 60). The bucket refills
    `rate_limit_tokens_per_second` (None or 0 = off) and holds `rate_limit_burst` tokens,
    by default one second's worth (at least 1); smg bursts up to the concurrency limit, so
    pass that to match it."""

    max_concurrent_requests: int | None = None
    queue_size: int = 100
    queue_timeout_secs: float | None = 60.0
    rate_limit_tokens_per_second: float | None = None
    rate_limit_burst: float | None = None

    def __post_init__(self) -> None:
        if self.queue_size < 0:
            raise ConfigError("queue_size must be at least 0")
        if self.queue_timeout_secs is not None and not self.queue_timeout_secs > 0:
            raise ConfigError("queue_timeout_secs must be positive")
        rate = self.rate_limit_tokens_per_second
        if rate is not None and rate < 0:
            raise ConfigError("rate_limit_tokens_per_second must be at least 0")
        if self.rate_limit_burst is not None and self.rate_limit_burst < 1:
            raise ConfigError("rate_limit_burst must be at least 1")

    @property
    def limit(self) -> int | None:
        limit = self.max_concurrent_requests
        return limit if limit is not None and limit > 0 else None


class TokenBucket:
    """`rate` tokens a second up to `capacity`; refilled lazily when someone takes one."""

    __slots__ = ("_capacity", "_clock", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()

    def take(self) -> float:
        """Take a token: 0.0 on success, else the seconds until one will be there."""
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate


class Admission:
    """The gateway's admission gate; one per gateway, used on the event loop only."""

    def __init__(
        self, config: AdmissionConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self._limit = config.limit
        self._bucket = _make_bucket(config, clock)
        self._running = 0
        # Pending futures by priority, oldest first; resolved to _ADMITTED, _TIMED_OUT or
        # _DISPLACED. `_order` lists the priorities ever queued, highest first.
        self._queues: dict[int, OrderedDict[asyncio.Future[int], None]] = {}
        self._order: list[int] = []
        self._queued = 0

    @property
    def running(self) -> int:
        """Requests holding a slot."""
        return self._running

    @property
    def queued(self) -> int:
        """Requests waiting for a slot."""
        return self._queued

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    def try_acquire(self) -> bool:
        """Take a slot at once when one is free and no rate limit applies (no coroutine: the
        common case); False means `acquire` must decide."""
        if self._bucket is None and (self._limit is None or self._running < self._limit):
            self._running += 1
            return True
        return False

    async def acquire(self, priority: int = 0) -> None:
        """Take a slot, waiting in the queue at `priority` if need be; raises 429 or 408 as above."""
        must_wait = self._limit is not None and self._running >= self._limit
        full = must_wait and self._queued >= self.config.queue_size
        # A full queue refuses before the bucket is touched, so it costs no token; a waiter is
        # displaced only once the newcomer has its token.
        if full and not any(p < priority and self._queues[p] for p in self._order):
            raise _queue_full(self._running)
        self._take_token()
        if full and not self._displace_below(priority):
            raise _queue_full(self._running)  # the lower ones had all just left
        if must_wait:
            await self._wait(priority)
        else:
            self._running += 1

    def release(self) -> None:
        """Give a slot back: to the oldest live waiter of the highest priority, else to the pool."""
        if self._queued:
            for priority in self._order:
                waiters = self._queues[priority]
                while waiters:
                    fut, _ = waiters.popitem(last=False)
                    self._queued -= 1
                    if not fut.done():  # a cancelled waiter may not have removed itself yet
                        fut.set_result(_ADMITTED)
                        return
        self._running -= 1

    def _displace_below(self, priority: int) -> bool:
        """Free a queue place for `priority`: refuse the newest waiter of the lowest priority
        below it. False when every waiter's priority is at least `priority`."""
        for lower in reversed(self._order):
            if lower >= priority:
                return False
            waiters = self._queues[lower]
            while waiters:
                fut, _ = waiters.popitem(last=True)
                self._queued -= 1
                if not fut.done():
                    fut.set_result(_DISPLACED)
                    return True
        return False

    def _take_token(self) -> None:
        if self._bucket is None:
            return
        wait = self._bucket.take()
        if wait:
            rate = self.config.rate_limit_tokens_per_second
            message = f"rate limit of {rate:g} requests per second exceeded"
            raise _refusal(RateLimitError, message, wait)

    def _queue_of(self, priority: int) -> OrderedDict[asyncio.Future[int], None]:
        waiters = self._queues.get(priority)
        if waiters is None:  # a new priority: rare (they come from the limits file)
            waiters = self._queues[priority] = OrderedDict()
            self._order = sorted(self._queues, reverse=True)
        return waiters

    def _unqueue(self, fut: asyncio.Future[int], waiters: OrderedDict[asyncio.Future[int], None]) -> None:
        if waiters.pop(fut, 0) is None:  # still queued (values are None)
            self._queued -= 1

    async def _wait(self, priority: int) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        waiters = self._queue_of(priority)
        waiters[fut] = None
        self._queued += 1
        timeout = self.config.queue_timeout_secs
        timer = loop.call_later(timeout, self._expire, fut, waiters) if timeout is not None else None
        try:
            outcome = await fut
        except asyncio.CancelledError:
            self._unqueue(fut, waiters)
            # Cancelled just after a slot was handed to us: pass it on, or it leaks.
            if fut.done() and not fut.cancelled() and fut.result() == _ADMITTED:
                self.release()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if outcome == _DISPLACED:
            raise _queue_full(self._running)
        if outcome == _TIMED_OUT:
            message = f"server busy: no slot within {timeout:g}s in the queue"
            raise _refusal(RequestTimeoutError, message, BUSY_RETRY_AFTER_SECS)

    def _expire(self, fut: asyncio.Future[int], waiters: OrderedDict[asyncio.Future[int], None]) -> None:
        if not fut.done():
            self._unqueue(fut, waiters)
            fut.set_result(_TIMED_OUT)


def _make_bucket(config: AdmissionConfig, clock: Callable[[], float]) -> TokenBucket | None:
    rate = config.rate_limit_tokens_per_second
    if not rate:
        return None
    # Below one token a second the bucket must still hold a whole token to ever admit.
    capacity = config.rate_limit_burst or max(1.0, rate)
    return TokenBucket(rate, capacity, clock)


def _queue_full(running: int) -> GatewayError:
    message = f"server busy: {running} requests running, the queue is full"
    return _refusal(RateLimitError, message, BUSY_RETRY_AFTER_SECS)


def _refusal(cls: type[GatewayError], message: str, retry_after: float) -> GatewayError:
    err = cls(message)
    err.retry_after = retry_after  # type: ignore[attr-defined]  # the HTTP layer's Retry-After
    return err
