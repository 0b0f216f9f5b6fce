"""A per-worker circuit breaker: closed → open → half-open → closed, as smg's `--cb-*` flags.

    closed     every request goes through; failures inside the window are counted and a
               success clears them; `failure_threshold` of them opens the circuit.
    open       every request is refused until `timeout_duration_secs` have passed since the
               circuit opened; then the next look at the breaker finds it half-open.
    half_open  at most `half_open_max_probes` requests (probes) in flight at once;
               `success_threshold` successes in a row close the circuit, one failure
               reopens it and restarts the open timer.

The caller classifies outcomes. Only failures that say something about the worker — it was
unreachable, overloaded, timed out, broke the stream — are `record_failure()`; a request
the client got wrong (4xx, `WorkerRejectedError`) is neither success nor failure: the
caller ends it with `release_probe()`, so it never trips (or closes) a circuit.

In half-open, `allow()` reserves a probe slot. Every `allow()` that returned True must be
followed by exactly one of `record_success()`, `record_failure()` or `release_probe()`
(in a `finally`), or the slot stays taken and the circuit stays half-open.

Failures that share one cause are one event. A worker that crashes fails every call open
on it at once: twenty streams are one crash, not twenty failures. So a failure of a call
that was already open when the last counted failure happened, and that fails within
`same_cause_secs` of it, is not counted again (`record_failure(since=...)`, the call's
start). A new call that fails is a new event, however soon.

A health check that passes, started after the circuit opened, moves it to half-open at
once (`health_passed`): a worker back from a crash gets its probes within one health
interval, not after the whole open timeout.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sglang_gw.errors import ConfigError, WorkerError, WorkerRejectedError

__all__ = ["BreakerConfig", "CircuitBreaker", "CircuitState", "record_outcome"]

log = logging.getLogger(__name__)


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# The members as module names: on Python 3.11 reading one through the class takes
# `EnumType.__getattr__`'s slow path, and the breaker is asked on every request.
CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


@dataclass(slots=True, frozen=True)
class BreakerConfig:
    """Defaults are smg's: `--cb-failure-threshold 10`, `--cb-success-threshold 3`,
    `--cb-timeout-duration-secs 60`, `--cb-window-duration-secs 120`;
    `--disable-circuit-breaker` is `enabled=False`. `half_open_max_probes` has no smg flag
    (smg does not bound probes); one at a time keeps a recovering worker from a stampede.
    `same_cause_secs` has none either: how long after a counted failure the failures of
    calls already open then count as the same event (a dead connection fails its calls
    within milliseconds; a second leaves room for a busy loop)."""

    failure_threshold: int = 10
    success_threshold: int = 3
    timeout_duration_secs: float = 60.0
    window_duration_secs: float = 120.0
    enabled: bool = True
    half_open_max_probes: int = 1
    same_cause_secs: float = 1.0

    def __post_init__(self) -> None:
        for name in ("failure_threshold", "success_threshold", "half_open_max_probes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"circuit breaker {name} must be at least 1")
        for name in ("timeout_duration_secs", "window_duration_secs"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"circuit breaker {name} must be positive")
        if self.same_cause_secs < 0:
            raise ConfigError("circuit breaker same_cause_secs must be at least 0")


Transition = Callable[[CircuitState, CircuitState], None]


class CircuitBreaker:
    """One worker's breaker. Not thread-safe: it lives on the event loop like the rest.

    `on_transition(old, new)` is called on every state change (for metrics); it must not
    raise. `name` (the worker's url) only labels the log lines. Time comes from `clock`
    (monotonic seconds) so tests can drive it.
    """

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Transition | None = None,
        name: str = "",
    ) -> None:
        self.config = config or BreakerConfig()
        self.name = name  # the worker's url, for logs
        self._clock = clock
        self._on_transition = on_transition
        self._state = CLOSED
        self._failures: deque[float] = deque()  # times of failures in the current closed run
        self._successes = 0  # consecutive probe successes while half-open
        self._probes = 0  # probes in flight while half-open
        self._opened_at = 0.0
        self._last_event: float | None = None  # when the last counted failure happened

    def now(self) -> float:
        """The breaker's clock: callers stamp call starts and health checks with it."""
        return self._clock()

    @property
    def state(self) -> CircuitState:
        """The current state; an open circuit whose timeout passed is half-open from here."""
        if self._state is OPEN:
            if self._clock() - self._opened_at >= self.config.timeout_duration_secs:
                self._move(HALF_OPEN)
        return self._state

    @property
    def available(self) -> bool:
        """Whether `allow()` would admit a request now, without reserving anything
        (for filtering candidates before picking one)."""
        if not self.config.enabled:
            return True
        state = self.state
        if state is HALF_OPEN:
            return self._probes < self.config.half_open_max_probes
        return state is CLOSED

    def allow(self) -> bool:
        """Admit one request to this worker; in half-open this takes a probe slot."""
        if not self.available:
            return False
        if self.config.enabled and self._state is HALF_OPEN:
            self._probes += 1
        return True

    def record_success(self) -> None:
        if not self.config.enabled:
            return
        state = self.state
        if state is CLOSED:
            self._failures.clear()  # smg: a success resets the failure count
        elif state is HALF_OPEN:
            self._end_probe()
            self._successes += 1
            if self._successes >= self.config.success_threshold:
                self._move(CLOSED)
        # Open: a request admitted before the trip finished late; it proves nothing now.

    def record_failure(self, *, since: float | None = None) -> None:
        """A failure of a call started at `since` (the breaker's clock; None: unknown, so
        it is counted)."""
        if not self.config.enabled:
            return
        state = self.state
        if self._same_cause(since):
            self.release_probe()
            return
        if state is CLOSED:
            self._last_event = self._clock()
            self._count_failure()
        elif state is HALF_OPEN:
            self._last_event = self._clock()
            self._end_probe()
            self._move(OPEN)
        # Open: a late failure must not push the recovery timer further out.

    def health_passed(self, since: float) -> None:
        """A health check started at `since` passed: an open circuit that opened before it
        goes half-open now, so real requests probe the worker without waiting out the
        open timeout."""
        if self.config.enabled and self._state is OPEN and since >= self._opened_at:
            self._move(HALF_OPEN)

    def release_probe(self) -> None:
        """End a request without an outcome (client error, cancellation)."""
        if self._state is HALF_OPEN:
            self._end_probe()

    def _same_cause(self, since: float | None) -> bool:
        """The call was open at the last counted failure, and fails soon after it."""
        last = self._last_event
        if since is None or last is None or since > last:
            return False
        return self._clock() - last <= self.config.same_cause_secs

    def _count_failure(self) -> None:
        now = self._clock()
        failures = self._failures
        failures.append(now)
        horizon = now - self.config.window_duration_secs
        while failures[0] <= horizon:
            failures.popleft()
        if len(failures) >= self.config.failure_threshold:
            self._move(OPEN)

    def _end_probe(self) -> None:
        # A request admitted while closed may finish in half-open: never go below zero.
        if self._probes:
            self._probes -= 1

    def _move(self, new: CircuitState) -> None:
        old = self._state
        self._state = new
        self._failures.clear()
        self._successes = 0
        self._probes = 0
        if new is OPEN:
            self._opened_at = self._clock()
        log.info("circuit breaker %s: %s -> %s", self.name, old.value, new.value)
        if self._on_transition is not None:
            self._on_transition(old, new)


def record_outcome(breaker: CircuitBreaker | None, failure: WorkerError | None, *,
                   since: float | None = None) -> None:
    """A call (started at `since`) that did not succeed: worker faults count against the
    breaker; the client's own errors (a rejected request) and cancellations only free the
    probe slot, if any."""
    if breaker is None:
        return
    if failure is None or isinstance(failure, WorkerRejectedError):
        breaker.release_probe()
    else:
        breaker.record_failure(since=since)
