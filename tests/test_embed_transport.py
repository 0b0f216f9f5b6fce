"""`Embed` over both transports (our HTTP/2 client and grpc.aio) against the mock worker on
loopback: the same answers, the same errors, and through the gateway a worker fault in the
middle of a batch is one clear 5xx that leaves no call counted in flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from sglang_gw.errors import WorkerError, WorkerRejectedError, WorkerUnavailableError
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.mock_pooling import Pooling
from sglang_gw.testing.mock_worker import Faults, MockWorker, MockWorkerServer, ThreadedMockWorker, Timing
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.models import model_dir
from sglang_gw.workers.client import TRANSPORTS, GrpcWorkerClient
from sglang_gw.workers.link import LinkSettings
from tests.conftest import ThreadedServer, start_gateway


@pytest.fixture(scope="module")
def facts():
    return read_model_facts(model_dir("qwen3"))


@pytest.fixture
async def worker(facts) -> AsyncIterator[MockWorkerServer]:
    server = MockWorkerServer(MockWorker(facts, pooling=Pooling("embedding", dim=16)))
    await server.start()
    yield server
    await server.stop(None)


@pytest.fixture
async def clients(worker) -> AsyncIterator[dict[str, GrpcWorkerClient]]:
    made = {t: GrpcWorkerClient(worker.url, timeout=5, transport=t) for t in TRANSPORTS}
    yield made
    for c in made.values():
        await c.close()


def embed_request(rid: str, ids: list[int], texts: tuple[str, ...] = ()) -> pb.EmbedRequest:
    req = pb.EmbedRequest(request_id=rid, tokenized=pb.TokenizedInput(input_ids=ids, original_text="x"))
    req.texts.extend(texts)
    return req


async def test_both_transports_answer_alike(clients) -> None:
    requests = [embed_request(f"e{i}", list(range(1, 2 + i * 37))) for i in range(24)]
    answers = {t: await asyncio.gather(*(c.embed(r) for r in requests)) for t, c in clients.items()}
    h2, aio = answers["h2"], answers["grpcio"]
    assert [a.SerializeToString() for a in h2] == [a.SerializeToString() for a in aio]
    assert [a.prompt_tokens for a in h2] == [len(r.tokenized.input_ids) for r in requests]
    assert all(a.embedding_dim == len(a.embedding) == 16 for a in h2)


@pytest.mark.parametrize(("code", "error"), [
    (grpc.StatusCode.UNAVAILABLE, WorkerUnavailableError),
    (grpc.StatusCode.INVALID_ARGUMENT, WorkerRejectedError),
    (grpc.StatusCode.INTERNAL, WorkerError),
])
async def test_both_transports_fail_alike(clients, worker, code, error) -> None:
    seen = []
    for transport, client in clients.items():
        worker.worker.faults = Faults(reject_next=1, reject_code=code)
        with pytest.raises(error) as err:
            await client.embed(embed_request("bad", [1, 2, 3]))
        seen.append((type(err.value), err.value.grpc_code, "injected" in str(err.value)))  # type: ignore[attr-defined]
        assert await client.embed(embed_request("good", [1, 2, 3])), transport  # the channel still serves
    assert seen[0] == seen[1] == (error, code, True)


async def test_an_out_of_range_input_is_refused_alike(clients) -> None:
    for client in clients.values():
        with pytest.raises(WorkerRejectedError, match="out of range"):
            await client.embed(embed_request("empty", []))


async def test_a_cancelled_embed_ends_its_call(clients, worker) -> None:
    """The awaiting task cancelled before the answer (here while the connection opens): the
    call is dropped, never sent, and nothing stays open."""
    client = clients["h2"]
    task = asyncio.create_task(client.embed(embed_request("c1", [1, 2, 3])))
    await asyncio.sleep(0)  # the call is started, its answer not yet read
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await client.embed(embed_request("c2", [4, 5]))
    assert [r.request_id for r in worker.worker.records.embeds] == ["c2"]
    connection = client._h2._connection  # noqa: SLF001 -- the open streams are the point here
    assert connection is not None and connection.active == 0


# ---- through the gateway ---------------------------------------------------------------------


@pytest.fixture(scope="module", params=TRANSPORTS)
def fleet(request, qwen3_dir: Path) -> Iterator[tuple[ThreadedServer, ThreadedMockWorker]]:
    facts = read_model_facts(qwen3_dir)
    mock = ThreadedMockWorker(MockWorker(facts, served_model_name="embedding-model", pooling=Pooling("embedding")))
    server = start_gateway(qwen3_dir, [mock.url], link=LinkSettings(transport=request.param))
    yield server, mock
    server.stop()
    mock.stop()


def test_a_worker_fault_mid_batch_is_one_clear_5xx(fleet) -> None:
    server, mock = fleet
    url = f"http://127.0.0.1:{server.port}/v1/embeddings"
    texts = [f"input number {i}" for i in range(32)]
    mock.worker.faults = Faults(reject_next=1, reject_code=grpc.StatusCode.INTERNAL)  # not retryable
    try:
        r = httpx.post(url, json={"model": "embedding-model", "input": texts}, timeout=30)
    finally:
        mock.worker.faults = Faults()
    assert r.status_code == 502, r.text
    error = r.json()["error"]
    assert error["type"] == "upstream_error" and "injected: INTERNAL" in error["message"]
    assert all(w.inflight == 0 for w in server.gateway.pool.workers())
    ok = httpx.post(url, json={"model": "embedding-model", "input": texts, "encoding_format": "float"}, timeout=30)
    assert ok.status_code == 200 and [d["index"] for d in ok.json()["data"]] == list(range(32))
    assert all(w.inflight == 0 for w in server.gateway.pool.workers())


def test_a_client_hanging_up_mid_batch_ends_every_call(fleet) -> None:
    """40 inputs (more than one window of calls) on a slow worker; the client leaves while
    the first window is open: every open call is given up, none stays counted in flight."""
    server, mock = fleet
    url = f"http://127.0.0.1:{server.port}/v1/embeddings"
    before = len(mock.worker.records.embeds)
    mock.worker.timing = Timing(ttft=2.0)
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url, json={"model": "embedding-model", "input": [f"text {i}" for i in range(40)]},
                       timeout=httpx.Timeout(30, read=0.4))
        left = time.monotonic()
        workers = server.gateway.pool.workers()
        while any(w.inflight for w in workers) and time.monotonic() - left < 1.0:  # before any answer
            time.sleep(0.02)
        assert all(w.inflight == 0 for w in workers)
        time.sleep(max(0.0, 2.3 - (time.monotonic() - left)))  # past the answers the window would have had
        assert len(mock.worker.records.embeds) - before == 32  # the first window; the rest never sent
    finally:
        mock.worker.timing = Timing()
