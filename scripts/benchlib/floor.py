"""The floor: this process sends the gateway's gRPC requests straight to the worker."""

from __future__ import annotations

import time

from benchlib.http_client import Tally
from benchlib.settings import REQUEST_TIMEOUT
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.workers.client import GrpcWorkerClient

__all__ = ["floor_call"]


async def floor_call(client: GrpcWorkerClient, req: pb.GenerateRequest, tally: Tally) -> None:
    start = prev = time.perf_counter()
    first = True
    async for resp in client.generate(req, timeout=REQUEST_TIMEOUT):
        now = time.perf_counter()
        if resp.HasField("chunk"):
            tally.tokens += len(resp.chunk.token_ids)
            tally.chunks += 1
        elif req.stream:
            continue  # the closing `complete` of a stream carries no new tokens
        else:
            tally.tokens += resp.complete.completion_tokens
        if first:
            tally.ttft.append(now - start)
            first = False
        else:
            tally.gaps.append(now - prev)
        prev = now
    tally.prompt_tokens += len(req.tokenized.input_ids)
    tally.ok += 1
