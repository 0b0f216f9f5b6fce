"""The count of this gateway's open calls on each worker, kept in one place.

A `WorkerCall` is taken when a call is sent to a worker and ended once when it is over,
whatever ended it: the worker's answer, its error, a timeout, a retry elsewhere, the
client's hang-up, a stop string, a bug in a later stage. Taking it counts the call in
`Worker.inflight` (what routing and draining read), the running-requests gauge and the
processed-requests counter; ending it takes it back out. Only this module moves those
numbers, so they cannot disagree, and `end()` is idempotent, so a second cleanup path
cannot take a call out twice.
"""

from __future__ import annotations

import time

from sglang_gw import metrics
from sglang_gw.workers.pool import Worker

__all__ = ["WorkerCall"]


class WorkerCall:
    """One open call on `worker`, counted from construction to the first `end()`.

    `started` (on the worker's breaker's clock) tells the breaker which failures share a
    cause: a call open when the worker's connection died fails with every call open on it.
    """

    __slots__ = ("_open", "started", "worker")

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        breaker = worker.breaker
        self.started = breaker.now() if breaker is not None else time.monotonic()
        self._open = True
        worker.inflight += 1
        metrics.record_worker_request(worker.url)
        metrics.set_running_requests(worker.url, worker.inflight)

    @property
    def open(self) -> bool:
        return self._open

    def end(self) -> bool:
        """Take the call out of the counts; False (and nothing done) if it already was."""
        if not self._open:
            return False
        self._open = False
        worker = self.worker
        worker.inflight -= 1
        metrics.set_running_requests(worker.url, worker.inflight)
        return True
