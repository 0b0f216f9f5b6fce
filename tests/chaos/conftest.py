"""Fixtures for the chaos tests: worker processes and gateways, stopped whatever happens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.chaos.rig import Gateway, WorkerProcess, gateway


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def make(**kwargs: object) -> WorkerProcess:
        worker = WorkerProcess(tmp_path, **kwargs)  # type: ignore[arg-type]
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()


@pytest.fixture
def serve() -> Iterator[Callable[..., Gateway]]:
    started: list[Gateway] = []

    def make(workers: list[WorkerProcess], **config: object) -> Gateway:
        gw = gateway(workers, **config)
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.server.stop()
