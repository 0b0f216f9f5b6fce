"""Our HTTP/2 client of `Generate` (workers/h2) against the real grpc.aio mock worker:
flow control, stream limits, deadlines, resets, lost and restarted workers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import grpc
import pytest

from sglang_gw.errors import WorkerTimeoutError, WorkerUnavailableError
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.mock_worker import MockWorker, MockWorkerServer, Timing
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.models import model_dir
from sglang_gw.testing.replies import ReplyPolicy
from sglang_gw.workers.client import GENERATE_PATH, GrpcWorkerClient
from sglang_gw.workers.h2.call import CallError
from sglang_gw.workers.h2.channel import Http2Channel
from sglang_gw.workers.link import Backoff, LinkSettings


@pytest.fixture(scope="module")
def facts():
    return read_model_facts(model_dir("qwen3"))


def make_server(facts, **kwargs) -> MockWorkerServer:
    worker = MockWorker(facts, policy=ReplyPolicy(facts, mode="random", random_tokens=8),
                        served_model_name="h2-test", timing=kwargs.pop("timing", None))
    return MockWorkerServer(worker, **kwargs)


@pytest.fixture
async def server(facts) -> AsyncIterator[MockWorkerServer]:
    srv = make_server(facts)
    await srv.start()
    yield srv
    await srv.stop(None)


def request(ids: list[int], rid: str = "r", max_new: int = 8) -> pb.GenerateRequest:
    sp = pb.SamplingParams(temperature=1.0, max_new_tokens=max_new, ignore_eos=True)
    return pb.GenerateRequest(request_id=rid, tokenized=pb.TokenizedInput(input_ids=ids), sampling_params=sp,
                              stream=True)


async def tokens_of(client: GrpcWorkerClient, req: pb.GenerateRequest, timeout: float | None = 10) -> list[int]:
    out: list[int] = []
    stream = client.generate(req, timeout=timeout)
    while (resp := await stream.read()) is not None:
        out += resp.chunk.token_ids if resp.HasField("chunk") else []
    assert stream.finished
    return out


async def test_a_prompt_larger_than_the_flow_control_window_arrives_whole(server) -> None:
    ids = [1000 + i % 5000 for i in range(30_000)]  # ~90 kB on the wire, past 64 KiB
    client = GrpcWorkerClient(server.url, api_key="k-123")
    try:
        assert len(await tokens_of(client, request(ids, max_new=2))) == 2
    finally:
        await client.close()
    assert list(server.worker.records.requests[-1].tokenized.input_ids) == ids
    assert server.worker.records.metadata[-1]["authorization"] == "Bearer k-123"


async def test_calls_beyond_the_workers_stream_limit_wait_their_turn(facts) -> None:
    srv = make_server(facts, options=(("grpc.max_concurrent_streams", 2),), timing=Timing(token_delay=0.002))
    await srv.start()
    client = GrpcWorkerClient(srv.url)
    try:
        results = await asyncio.gather(*(tokens_of(client, request([5, 6, 7], f"r{i}")) for i in range(7)))
    finally:
        await client.close()
        await srv.stop(None)
    assert [len(r) for r in results] == [8] * 7


async def test_a_deadline_ends_the_call_and_resets_the_stream(server) -> None:
    server.worker.faults.hang_after_tokens = 1
    client = GrpcWorkerClient(server.url)
    try:
        with pytest.raises(WorkerTimeoutError):
            await tokens_of(client, request([5, 6], "slow"), timeout=0.3)
        for _ in range(200):  # the worker sees the reset just after we do
            if "slow" in server.worker.records.cancelled:
                break
            await asyncio.sleep(0.01)
        assert server.worker.records.cancelled == ["slow"]
        server.worker.faults.hang_after_tokens = None
        assert len(await tokens_of(client, request([5, 6], "after"))) == 8  # the connection lives on
    finally:
        await client.close()


async def test_an_unreachable_worker_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: the connect is refused
        client = GrpcWorkerClient(f"grpc://127.0.0.1:{port}")
        try:
            with pytest.raises(WorkerUnavailableError):
                await tokens_of(client, request([5]))
        finally:
            await client.close()


async def test_a_restarted_worker_is_reached_again(facts) -> None:
    srv = make_server(facts)
    await srv.start()
    port = srv.port
    client = GrpcWorkerClient(srv.url)
    try:
        assert len(await tokens_of(client, request([5]))) == 8
        await srv.stop(None)
        with pytest.raises(WorkerUnavailableError):
            await tokens_of(client, request([5]))
        srv = make_server(facts, port=port)
        await srv.start()
        # The failed connect set a reconnect backoff (0.2 s ± 20%): calls inside it fail at
        # once, as grpcio's do; the first call after it connects.
        await asyncio.sleep(client._h2.link.backoff.initial_secs * 1.25)
        assert len(await tokens_of(client, request([5]))) == 8
    finally:
        await client.close()
        await srv.stop(None)


async def test_a_graceful_stop_lets_running_streams_finish(facts) -> None:
    srv = make_server(facts, timing=Timing(token_delay=0.02))
    await srv.start()
    client = GrpcWorkerClient(srv.url)
    try:
        running = asyncio.ensure_future(tokens_of(client, request([5], "inflight")))
        while not srv.worker.running:
            await asyncio.sleep(0.005)
        await srv.stop(5.0)  # GOAWAY, then the in-flight stream runs to its end
        assert len(await running) == 8
    finally:
        await client.close()


async def test_an_unknown_method_fails_with_its_grpc_status(server) -> None:
    channel = Http2Channel(server.url.removeprefix("grpc://"))
    try:
        call = channel.unary_stream("/no.Such/Method", b"", pb.GenerateResponse.FromString, 5)
        with pytest.raises(CallError) as err:
            await call.read()
        assert err.value.code is grpc.StatusCode.UNIMPLEMENTED
        call = channel.unary_stream(GENERATE_PATH, request([5]).SerializeToString(), pb.GenerateResponse.FromString, 5)
        assert (await call.read()) is not None  # the connection survives a failed call
    finally:
        await channel.close()


async def test_a_failed_connect_backs_off_then_tries_again(facts) -> None:
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()  # nothing listens there now: connects are refused
    # A backoff long enough that starting the worker and a second call fit inside it, even
    # on a loaded machine (it was 0.3 s, which a slow `srv.start()` alone could outlast).
    link = LinkSettings(backoff=Backoff(initial_secs=3.0, maximum_secs=3.0, jitter=0.0))
    client = GrpcWorkerClient(f"grpc://127.0.0.1:{number}", link=link)
    srv = make_server(facts, port=number)
    try:
        with pytest.raises(WorkerUnavailableError, match="cannot connect"):
            await tokens_of(client, request([5]))
        await srv.start()  # the worker is up now, but the channel waits out its backoff first
        with pytest.raises(WorkerUnavailableError, match="next try in"):
            await tokens_of(client, request([5]))
        await asyncio.sleep(3.05)  # past the backoff, however late the line above ran
        assert len(await tokens_of(client, request([5]))) == 8
    finally:
        await client.close()
        await srv.stop(None)
