"""Prefill/decode disaggregation: one request, two workers, one KV hand-off.

The prefill worker computes the prompt's KV cache and ships it to the decode worker, which
generates. Both legs get the same `disaggregated_params` (the prefill worker's bootstrap
host and port, and a random room id that pairs them) and are sent at once; the client's
stream is read from the decode leg. The prefill leg's own answer is drained and ignored.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sglang_gw.errors import WorkerError
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.workers.calls import WorkerCall
from sglang_gw.workers.client import GenerateStream
from sglang_gw.workers.pool import Worker

__all__ = ["PrefillLeg", "open_prefill", "pair_requests"]

log = logging.getLogger(__name__)
_ROOM_MAX = 2**31 - 1  # bootstrap_room is an int32 on the wire


@dataclass(slots=True)
class PrefillLeg:
    worker: Worker
    stream: GenerateStream
    drain: asyncio.Task[None]


def pair_requests(request: pb.GenerateRequest, prefill: Worker) -> tuple[pb.GenerateRequest, pb.GenerateRequest]:
    """The prefill and decode copies of one request, sharing one bootstrap room."""
    host = urlsplit(prefill.url if "://" in prefill.url else f"grpc://{prefill.url}").hostname or ""
    params = pb.DisaggregatedParams(bootstrap_host=host, bootstrap_port=prefill.bootstrap_port or 0,
                                    bootstrap_room=random.randint(0, _ROOM_MAX))
    prefill_req, decode_req = pb.GenerateRequest(), pb.GenerateRequest()
    for copy in (prefill_req, decode_req):
        copy.CopyFrom(request)
        copy.disaggregated_params.CopyFrom(params)
    return prefill_req, decode_req


async def _drain(stream: GenerateStream) -> None:
    try:
        while await stream.read() is not None:
            pass
    except WorkerError as err:
        log.info("prefill leg ended with %s", err.message)


def open_prefill(worker: Worker, request: pb.GenerateRequest, timeout: float | None,
                 metadata: Sequence[tuple[str, str]] = ()) -> PrefillLeg:
    """Send the prefill leg; it counts as a call on its worker until its drain ends.
    `metadata`: the leg's trace context, when traced."""
    stream = worker.client.generate(request, timeout=timeout, metadata=metadata) if metadata else \
        worker.client.generate(request, timeout=timeout)
    call = WorkerCall(worker)
    task = asyncio.get_running_loop().create_task(_drain(stream))
    task.add_done_callback(lambda _: call.end())
    return PrefillLeg(worker, stream, task)
