"""The circuit breaker's state machine, driven by a fake clock."""

from __future__ import annotations

import pytest

from sglang_gw.errors import ConfigError
from sglang_gw.workers.breaker import BreakerConfig, CircuitBreaker, CircuitState

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, secs: float) -> None:
        self.now += secs


def make(**overrides: object) -> tuple[CircuitBreaker, FakeClock, list[tuple[str, str]]]:
    settings: dict[str, object] = {
        "failure_threshold": 3,
        "success_threshold": 2,
        "timeout_duration_secs": 10.0,
        "window_duration_secs": 30.0,
    }
    settings.update(overrides)
    clock = FakeClock()
    moves: list[tuple[str, str]] = []
    breaker = CircuitBreaker(
        BreakerConfig(**settings),  # type: ignore[arg-type]
        clock=clock,
        on_transition=lambda old, new: moves.append((old.value, new.value)),
    )
    return breaker, clock, moves


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.config.failure_threshold):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is OPEN


def test_defaults_are_smgs() -> None:
    config = BreakerConfig()
    assert (config.failure_threshold, config.success_threshold) == (10, 3)
    assert (config.timeout_duration_secs, config.window_duration_secs) == (60.0, 120.0)
    assert config.enabled and config.half_open_max_probes == 1


@pytest.mark.parametrize(
    "field, value",
    [("failure_threshold", 0), ("success_threshold", 0), ("half_open_max_probes", 0),
     ("timeout_duration_secs", 0), ("window_duration_secs", -1), ("same_cause_secs", -0.1)],
)
def test_bad_config_is_refused(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        BreakerConfig(**{field: value})  # type: ignore[arg-type]


def test_closed_allows_and_opens_at_the_threshold() -> None:
    breaker, _, moves = make()
    assert breaker.state is CLOSED and breaker.allow()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is OPEN
    assert moves == [("closed", "open")]


def test_a_success_resets_the_failure_count() -> None:
    breaker, _, _ = make()
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state is CLOSED


def test_failures_older_than_the_window_do_not_count() -> None:
    breaker, clock, _ = make()
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(30.0)  # both now exactly one window old
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CLOSED
    clock.advance(29.0)
    breaker.record_failure()  # three inside the last 30 s
    assert breaker.state is OPEN


def test_open_refuses_until_the_timeout_then_goes_half_open() -> None:
    breaker, clock, moves = make()
    trip(breaker)
    assert not breaker.allow() and not breaker.available
    clock.advance(9.99)
    assert not breaker.allow()
    assert breaker.state is OPEN
    clock.advance(0.01)
    assert breaker.state is HALF_OPEN
    assert moves == [("closed", "open"), ("open", "half_open")]


def test_half_open_admits_one_probe_at_a_time() -> None:
    breaker, clock, _ = make()
    trip(breaker)
    clock.advance(10.0)
    assert breaker.available  # a look does not reserve
    assert breaker.allow()
    assert not breaker.available and not breaker.allow()
    breaker.record_success()
    assert breaker.state is HALF_OPEN and breaker.allow()


def test_half_open_probe_limit_is_configurable() -> None:
    breaker, clock, _ = make(half_open_max_probes=2)
    trip(breaker)
    clock.advance(10.0)
    assert breaker.allow() and breaker.allow()
    assert not breaker.allow()


def test_half_open_closes_after_the_success_threshold() -> None:
    breaker, clock, moves = make()
    trip(breaker)
    clock.advance(10.0)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is HALF_OPEN
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is CLOSED
    assert moves == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    # Closed again with a clean count: it takes the full threshold to reopen.
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CLOSED


def test_a_half_open_failure_reopens_and_restarts_the_timer() -> None:
    breaker, clock, moves = make()
    trip(breaker)
    clock.advance(10.0)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.allow()
    clock.advance(3.0)
    breaker.record_failure()
    assert breaker.state is OPEN and not breaker.allow()
    clock.advance(9.0)
    assert breaker.state is OPEN
    clock.advance(1.0)
    assert breaker.state is HALF_OPEN
    assert moves[-3:] == [("open", "half_open"), ("half_open", "open"), ("open", "half_open")]


def test_successes_restart_from_zero_after_a_reopen() -> None:
    breaker, clock, _ = make()
    trip(breaker)
    clock.advance(10.0)
    breaker.allow()
    breaker.record_success()  # one of two
    breaker.allow()
    breaker.record_failure()
    clock.advance(10.0)
    breaker.allow()
    breaker.record_success()
    assert breaker.state is HALF_OPEN  # the earlier success was forgotten


def test_release_probe_frees_the_slot_without_an_outcome() -> None:
    breaker, clock, moves = make()
    trip(breaker)
    clock.advance(10.0)
    assert breaker.allow()
    breaker.release_probe()  # e.g. the client's own 400, or it hung up
    assert breaker.state is HALF_OPEN
    assert breaker.allow()
    assert len(moves) == 2


def test_release_probe_outside_half_open_is_harmless() -> None:
    breaker, _, moves = make()
    breaker.release_probe()
    assert breaker.state is CLOSED and breaker.allow() and moves == []


def test_late_outcomes_while_open_change_nothing() -> None:
    breaker, clock, moves = make()
    trip(breaker)
    clock.advance(5.0)
    breaker.record_success()  # a request admitted before the trip
    assert breaker.state is OPEN
    breaker.record_failure()  # must not push the timer out
    clock.advance(5.0)
    assert breaker.state is HALF_OPEN
    assert moves == [("closed", "open"), ("open", "half_open")]


def test_a_request_from_closed_finishing_in_half_open_does_not_free_a_probe() -> None:
    breaker, clock, _ = make(success_threshold=3)
    trip(breaker)
    clock.advance(10.0)
    assert breaker.allow()  # the one probe
    breaker.record_success()  # consumes it
    breaker.record_success()  # a straggler: counts as evidence, there is no probe to free
    assert breaker.allow()
    assert not breaker.allow()


def test_disabled_never_trips() -> None:
    breaker, clock, moves = make(enabled=False)
    for _ in range(100):
        assert breaker.allow()
        breaker.record_failure()
    clock.advance(1000.0)
    breaker.release_probe()
    assert breaker.state is CLOSED and breaker.available and moves == []


def test_state_values_are_metric_friendly() -> None:
    assert [s.value for s in CircuitState] == ["closed", "open", "half_open"]
    assert CircuitBreaker().state == "closed"


# -- failures that share one cause --------------------------------------------------------


def test_calls_open_when_the_worker_crashed_are_one_failure() -> None:
    """The defect: one crash with twenty streams open counted as twenty failures."""
    breaker, clock, moves = make()
    started = clock.now
    clock.advance(30.0)  # the streams ran a while; then the connection died under all of them
    for _ in range(20):
        breaker.record_failure(since=started)
        clock.advance(0.001)
    assert breaker.state is CLOSED and moves == []
    # The next failures are new calls failing: each its own event.
    for _ in range(2):
        clock.advance(0.001)
        breaker.record_failure(since=clock.now)
    assert breaker.state is OPEN


def test_an_old_call_failing_after_the_same_cause_window_is_a_new_event() -> None:
    breaker, clock, _ = make(failure_threshold=2, same_cause_secs=1.0)
    started = clock.now
    clock.advance(5.0)
    breaker.record_failure(since=started)
    clock.advance(1.5)
    breaker.record_failure(since=started)  # open then, but failing well after: its own cause
    assert breaker.state is OPEN


def test_failures_without_a_start_always_count() -> None:
    breaker, _, _ = make()
    for _ in range(3):
        breaker.record_failure()
    assert breaker.state is OPEN


def test_a_same_cause_failure_in_half_open_frees_a_probe_slot_and_changes_nothing() -> None:
    breaker, clock, _ = make()
    started = clock.now - 1
    trip(breaker)
    clock.advance(0.5)
    breaker.health_passed(clock.now)
    assert breaker.allow() and not breaker.allow()
    breaker.record_failure(since=started)  # a straggler of the crash, not the probe's failure
    assert breaker.state is HALF_OPEN and breaker.allow()


# -- a passing health check ------------------------------------------------------------------


def test_a_health_check_passing_after_the_trip_half_opens_at_once() -> None:
    breaker, clock, moves = make()
    trip(breaker)
    before_trip = clock.now - 1
    breaker.health_passed(before_trip)  # started before the circuit opened: proves nothing
    assert breaker.state is OPEN
    clock.advance(1.0)
    breaker.health_passed(clock.now)
    assert breaker.state is HALF_OPEN and breaker.allow()
    breaker.record_success()
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is CLOSED
    assert moves == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_a_passing_health_check_changes_nothing_unless_open() -> None:
    breaker, clock, moves = make()
    breaker.health_passed(clock.now)
    assert breaker.state is CLOSED
    trip(breaker)
    clock.advance(10.0)
    assert breaker.state is HALF_OPEN
    assert breaker.allow()
    breaker.health_passed(clock.now)  # half-open stays half-open: the probe decides
    assert not breaker.allow() and moves == [("closed", "open"), ("open", "half_open")]
