"""Shared pieces of the transport tests against real grpcio servers: a request builder, one
call's `Outcome`, and `Rig`, a per-test factory of mock workers, frame taps and clients that
closes them all at the end."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import grpc

from sglang_gw.errors import WorkerError
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.mock_worker import Faults, MockWorker, MockWorkerServer, Timing
from sglang_gw.testing.model_facts import ModelFacts
from sglang_gw.testing.replies import ReplyPolicy
from sglang_gw.workers.client import GenerateStream, GrpcWorkerClient
from sglang_gw.workers.link import LinkSettings
from tests.transport.tap import FrameTap

__all__ = ["TRANSPORTS", "Outcome", "Rig", "call", "crc_of", "read_all", "request", "wait_until"]

TRANSPORTS = ("h2", "grpcio")
MiB = 1 << 20


def request(rid: str, *, ids: Iterable[int] = (5, 6, 7), max_new: int = 8) -> pb.GenerateRequest:
    sp = pb.SamplingParams(temperature=1.0, max_new_tokens=max_new, ignore_eos=True)
    return pb.GenerateRequest(request_id=rid, tokenized=pb.TokenizedInput(input_ids=list(ids)),
                              sampling_params=sp, stream=True)


@dataclass(slots=True, frozen=True)
class Outcome:
    """How one call ended: "OK", "CANCELLED" (we cancelled it) or the gRPC status name; the
    tokens delivered, their crc32, the last finish_reason seen; the error text (not compared)."""

    code: str
    tokens: int
    crc: int = 0
    finish_reason: str = ""
    details: str = ""


async def call(client: GrpcWorkerClient, req: pb.GenerateRequest, *, timeout: float | None = 10.0,
               stop_after: int | None = None) -> Outcome:
    """One Generate call, read to its end (or cancelled after `stop_after` messages); a call
    that outlives its own deadline by 5 s raises TimeoutError rather than hang the test."""
    stream = client.generate(req, timeout=timeout)
    return await asyncio.wait_for(read_all(stream, stop_after=stop_after), (timeout or 10.0) + 5.0)


async def read_all(stream: GenerateStream, *, stop_after: int | None = None,
                   on_message: Callable[[int], object] | None = None) -> Outcome:
    """Read a call to its end; `cancel()` it after `stop_after` messages; `on_message(n)` after
    each (its awaitable result, if any, is awaited)."""
    ids: list[int] = []
    reason = ""
    messages = 0
    try:
        while (resp := await stream.read()) is not None:
            ids += resp.chunk.token_ids
            reason = resp.complete.finish_reason if resp.HasField("complete") else reason
            messages += 1
            if stop_after is not None and messages >= stop_after:
                stream.cancel()
                return Outcome("CANCELLED", len(ids), crc_of(ids), reason)
            if on_message is not None and asyncio.iscoroutine(done := on_message(messages)):
                await done
    except WorkerError as err:
        code: grpc.StatusCode = err.grpc_code  # type: ignore[attr-defined]
        return Outcome(code.name, len(ids), crc_of(ids), reason, str(err))
    return Outcome("OK" if stream.finished else "NOT_FINISHED", len(ids), crc_of(ids), reason)


def crc_of(ids: list[int]) -> int:
    """A fingerprint of token ids, to compare replies without keeping them."""
    return zlib.crc32(b"".join(i.to_bytes(4, "little") for i in ids))


async def wait_until(predicate: Callable[[], object], timeout: float = 30.0, step: float = 0.01) -> bool:
    """Poll `predicate()` until it is true or `timeout` passes; returns whether it became true."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() >= end:
            return False
        await asyncio.sleep(step)
    return True


class Rig:
    """Makes the servers, taps and clients of one test and closes them, clients first."""

    def __init__(self, facts: ModelFacts) -> None:
        self.facts = facts
        self._clients: list[GrpcWorkerClient] = []
        self._taps: list[FrameTap] = []
        self._servers: list[MockWorkerServer] = []

    async def worker(self, *, tokens: int = 8, timing: Timing | None = None, faults: Faults | None = None,
                     options: tuple[tuple[str, int], ...] = (), port: int = 0) -> MockWorkerServer:
        """A started mock worker replying `tokens` random tokens (fixed per request id)."""
        worker = MockWorker(self.facts, policy=ReplyPolicy(self.facts, mode="random", random_tokens=tokens),
                            served_model_name="transport-test", timing=timing, faults=faults)
        server = MockWorkerServer(worker, options=options, port=port)
        await server.start()
        self._servers.append(server)
        return server

    async def tap(self, port: int) -> FrameTap:
        tap = FrameTap(port)
        await tap.start()
        self._taps.append(tap)
        return tap

    def client(self, url: str, transport: str, **link: object) -> GrpcWorkerClient:
        client = GrpcWorkerClient(url, transport=transport, link=LinkSettings(transport=transport, **link))
        self._clients.append(client)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await asyncio.wait_for(client.close(), 5)
        for tap in self._taps:
            await tap.close()
        for server in self._servers:
            await asyncio.wait_for(server.stop(None), 5)
