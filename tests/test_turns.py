"""Request starts take turns with the loop (runtime/turns.py), alone and at the edge middleware."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from sglang_gw.admission import Admission, AdmissionConfig
from sglang_gw.runtime.turns import StartBudget
from sglang_gw.server.middleware import EdgeMiddleware

PATH = "/v1/chat/completions"


def scope() -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": PATH, "raw_path": PATH.encode(), "query_string": b"",
            "headers": [(b"content-length", b"2")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}


async def receive() -> Message:
    return {"type": "http.request", "body": b"{}", "more_body": False}


class Starts:
    """The app behind the edge: notes the order requests reach it, and answers 200."""

    def __init__(self) -> None:
        self.order: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.order.append(scope["i"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def edge(app: Starts, budget: StartBudget, admission: Admission | None = None) -> EdgeMiddleware:
    return EdgeMiddleware(app, starts=budget, admission=admission, admission_paths={PATH},
                          record=lambda *_: None)


async def burst(middleware: EdgeMiddleware, n: int) -> list[int]:
    """n requests whose first steps all fall in one iteration of the loop; their statuses."""
    statuses: list[int] = []

    async def one(i: int) -> None:
        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await middleware({**scope(), "i": i}, receive, send)

    await asyncio.gather(*(one(i) for i in range(n)))
    return statuses


async def test_a_timer_due_during_a_burst_runs_before_its_last_start() -> None:
    app = Starts()
    fired_after: list[int] = []  # how many requests had started when the timer ran
    loop = asyncio.get_running_loop()

    class Timing(Starts):
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if not app.order:
                loop.call_later(0, lambda: fired_after.append(len(app.order)))
            await app(scope, receive, send)

    await burst(edge(Timing(), StartBudget(0)), 8)
    assert fired_after and fired_after[0] < 8  # all 8 in one iteration would leave the timer behind them


async def test_starts_keep_their_order_and_all_answer() -> None:
    app = Starts()
    budget = StartBudget(0)
    statuses = await burst(edge(app, budget), 20)
    assert app.order == list(range(20))
    assert statuses == [200] * 20
    assert budget.deferred == 19  # each but the first waited for a later iteration


async def test_waiting_starts_hold_no_slot_and_leak_none() -> None:
    admission = Admission(AdmissionConfig(max_concurrent_requests=4, queue_size=100))
    app = Starts()
    running: list[int] = []

    class Watching(Starts):
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            running.append(admission.running)
            await asyncio.sleep(0)  # the slot is held across a loop iteration
            await app(scope, receive, send)

    statuses = await burst(edge(Watching(), StartBudget(0), admission), 12)
    assert statuses == [200] * 12
    # One start per iteration, the one before it still holding its slot: had the waiting
    # ones taken theirs before waiting, the last would see 12 taken.
    assert max(running) <= 2
    assert (admission.running, admission.queued) == (0, 0)


async def test_a_start_cancelled_while_waiting_frees_its_turn() -> None:
    app = Starts()
    budget = StartBudget(0)
    recorded: list[int] = []
    middleware = EdgeMiddleware(app, starts=budget,
                                record=lambda _route, _method, status, _secs: recorded.append(status))

    async def one(i: int) -> None:
        await middleware({**scope(), "i": i}, receive, _ignore)

    tasks = [asyncio.create_task(one(i)) for i in range(3)]
    await asyncio.sleep(0)  # the first started, the other two wait for their turn
    tasks[1].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[1], asyncio.CancelledError)
    assert app.order == [0, 2]
    assert sorted(recorded) == [200, 200, 499]


async def test_a_turn_given_to_a_start_cancelled_before_it_ran_passes_on() -> None:
    app = Starts()
    budget = StartBudget(0)
    middleware = edge(app, budget)

    async def one(i: int) -> None:
        await middleware({**scope(), "i": i}, receive, _ignore)

    tasks = [asyncio.create_task(one(i)) for i in range(4)]
    await asyncio.sleep(0)  # the first started, the other three queued
    await asyncio.sleep(0)  # the window closed: the next two were given a turn, not yet run
    tasks[1].cancel()
    tasks[2].cancel()
    await asyncio.wait_for(tasks[3], 1.0)  # their turns went on to the last
    assert app.order == [0, 3]
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_lone_start_never_waits() -> None:
    budget = StartBudget(0)
    for _ in range(3):
        assert not budget.over()  # the first start of an iteration
        await asyncio.sleep(0)  # the loop's next iteration: the window closed
    assert budget.deferred == 0


def test_a_window_left_open_by_a_closed_loop_is_not_waited_for() -> None:
    budget = StartBudget(0)

    loop = asyncio.new_event_loop()
    loop.call_soon(budget.over)  # the window's end is scheduled on this loop...
    loop.call_soon(loop.stop)  # ...which stops, and closes, before it runs
    loop.run_forever()
    loop.close()

    async def next_start() -> None:
        assert not budget.over()  # the old window is not this loop's
        assert budget.over()  # a second start in this iteration: the new window is

    asyncio.run(next_start())


async def _ignore(message: Message) -> None:
    pass
