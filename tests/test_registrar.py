"""Registration jobs run side by side, each with its own timeout; failed ones expire.

Waits are bounded by `BOUND`, well under the start-up timeouts the tests give, so a job
that waited behind another one would fail the test rather than slow it down.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import SimpleNamespace

import pytest

from sglang_gw.config import GatewayConfig
from sglang_gw.gateway import Gateway
from sglang_gw.testing.mock_worker import MockWorker, MockWorkerServer
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.models import model_dir
from sglang_gw.workers.pool import Worker
from sglang_gw.workers.registrar import FAILED_JOB_TTL_SECS, Registrar, WorkerSpec
from tests.conftest import free_port

BOUND = 10.0


async def served_name(client, spec, window) -> str:  # noqa: ANN001
    return (await client.model_info()).served_model_name


@asynccontextmanager
async def mock_worker(name: str = "m") -> AsyncIterator[MockWorkerServer]:
    server = MockWorkerServer(MockWorker(read_model_facts(model_dir("qwen3")), served_model_name=name))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(None)


@asynccontextmanager
async def registrar(load_model=served_name, **kwargs: object) -> AsyncIterator[tuple[Registrar, list[Worker]]]:  # noqa: ANN001
    added: list[Worker] = []
    reg = Registrar(load_model, added.append, **kwargs)  # type: ignore[arg-type]
    reg.start()
    try:
        yield reg, added
    finally:
        await reg.stop()
        for w in added:
            await w.client.close()


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that takes connections (the kernel's backlog) and never says a word: a worker
    still starting."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


async def test_an_unreachable_worker_does_not_delay_the_next_registration() -> None:
    """The defect: jobs ran one at a time, so this one waited out the first's timeout."""
    with silent_port() as port:
        async with mock_worker() as good, registrar(startup_timeout=60) as (reg, added):
            stuck = reg.submit(WorkerSpec(url=f"grpc://127.0.0.1:{port}"))
            ready = reg.submit(WorkerSpec(url=good.url))
            await asyncio.wait_for(ready.done.wait(), BOUND)
            assert (ready.state, ready.model) == ("active", "m")
            assert [w.url for w in added] == [good.url]
            assert stuck.state == "connecting" and not stuck.done.is_set()


async def test_each_job_has_its_own_timeout_and_loading_is_bounded_too() -> None:
    hang = asyncio.Event()

    async def load_model(client, spec, window) -> str:  # noqa: ANN001
        await hang.wait()  # a worker whose model never loads
        return "never"

    async with mock_worker() as slow, registrar(load_model, startup_timeout=0.5) as (reg, added):
        job = reg.submit(WorkerSpec(url=slow.url))
        await asyncio.wait_for(job.done.wait(), BOUND)
        assert job.state == "failed" and "did not load" in (job.error or "")
        assert added == []


async def test_a_loader_lifts_the_window_for_its_own_work() -> None:
    """The start-up timeout bounds waiting for the worker; a loader that has its answers lifts
    it for its own work (the gateway builds the model in a thread, which a timeout could not
    stop half-way), and that work may then outlast the timeout."""
    async def load_model(client, spec, window) -> str:  # noqa: ANN001
        await client.model_info()  # the worker's part, inside the window
        deadline = window.when()
        window.reschedule(None)
        while asyncio.get_running_loop().time() < deadline + 0.2:  # past the window's end
            await asyncio.sleep(0.05)
        return "m"

    async with mock_worker() as server, registrar(load_model, startup_timeout=2.0) as (reg, added):
        job = reg.submit(WorkerSpec(url=server.url))
        await asyncio.wait_for(job.done.wait(), BOUND)
        assert job.state == "active", job.error
        assert [w.url for w in added] == [server.url]


async def test_failed_jobs_stay_listed_with_their_error_then_expire() -> None:
    now = [1000.0]
    closed = free_port()
    async with registrar(startup_timeout=0, failed_job_ttl=600, clock=lambda: now[0]) as (reg, _):
        job = reg.submit(WorkerSpec(url=f"grpc://127.0.0.1:{closed}"))
        await asyncio.wait_for(job.done.wait(), BOUND)
        assert job.state == "failed" and job.error
        now[0] += 599
        assert reg.jobs[job.spec.url].error == job.error
        now[0] += 1
        assert job.spec.url not in reg.jobs


def test_failed_jobs_are_kept_ten_minutes_by_default() -> None:
    assert FAILED_JOB_TTL_SECS == 600


async def test_two_workers_of_a_new_model_load_it_once_and_other_models_do_not_wait(
        monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    gates = {"a": asyncio.Event(), "b": asyncio.Event()}

    async def fake_load(client, *, tokenizer_spec, name, chat_template, **_):  # noqa: ANN001, ANN003
        loads.append(name)
        await gates[name].wait()
        return SimpleNamespace(attach_parsers=lambda *args: None)

    monkeypatch.setattr("sglang_gw.gateway.load_served_model", fake_load)
    monkeypatch.setattr("sglang_gw.gateway.freeze_heap", lambda: None)
    gateway = Gateway(GatewayConfig())

    def client(name: str) -> SimpleNamespace:
        async def model_info() -> SimpleNamespace:
            return SimpleNamespace(served_model_name=name, model_path=name)
        return SimpleNamespace(model_info=model_info)

    spec = WorkerSpec(url="unused")
    a1 = asyncio.create_task(gateway._load_model(client("a"), spec))  # type: ignore[arg-type]
    a2 = asyncio.create_task(gateway._load_model(client("a"), spec))  # type: ignore[arg-type]
    b = asyncio.create_task(gateway._load_model(client("b"), spec))  # type: ignore[arg-type]
    gates["b"].set()
    assert await asyncio.wait_for(b, BOUND) == "b"  # while model a is still loading
    assert not a1.done() and not a2.done()
    gates["a"].set()
    assert await asyncio.wait_for(asyncio.gather(a1, a2), BOUND) == ["a", "a"]
    assert sorted(loads) == ["a", "b"]


async def test_a_worker_that_answers_unhealthy_is_waited_for_until_healthy() -> None:
    async with mock_worker() as server, registrar(startup_timeout=BOUND) as (reg, added):
        server.worker.faults.unhealthy = True  # up, but still loading (or sick)
        job = reg.submit(WorkerSpec(url=server.url))
        await asyncio.sleep(0.7)
        assert job.state == "connecting" and added == []
        server.worker.faults.unhealthy = False
        await asyncio.wait_for(job.done.wait(), BOUND)
        assert job.state == "active" and [w.url for w in added] == [server.url]


async def test_a_worker_that_stays_unhealthy_fails_its_job_saying_so() -> None:
    async with mock_worker() as server, registrar(startup_timeout=0.6) as (reg, added):
        server.worker.faults.unhealthy = True
        job = reg.submit(WorkerSpec(url=server.url))
        await asyncio.wait_for(job.done.wait(), BOUND)
        assert job.state == "failed" and "did not report healthy" in (job.error or "") and added == []
