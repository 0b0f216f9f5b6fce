"""KV-event routing on loopback: mock workers with real block caches stream their events to
the gateway's feed; the index converges after restarts, drops, gaps and eviction storms."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
from prometheus_client import REGISTRY

from sglang_gw.config import GatewayConfig, ModelConfig, PdConfig, RoutingConfig, ServerConfig
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.routing import PolicyConfig, RouteRequest
from sglang_gw.routing.kv_aware import KvAwarePolicy
from sglang_gw.routing.kv_index import KvIndexes
from sglang_gw.testing.mock_worker import MockWorker, MockWorkerServer, ThreadedMockWorker
from sglang_gw.testing.model_facts import ModelFacts, read_model_facts
from sglang_gw.workers.client import GrpcWorkerClient
from sglang_gw.workers.health import LoadMonitor
from sglang_gw.workers.kv_events import KvEventFeed
from sglang_gw.workers.pool import Worker
from tests.conftest import ThreadedServer, free_port

PAGE = 4
_ids = itertools.count()


@pytest.fixture(scope="module")
def facts(qwen3_dir: Path) -> ModelFacts:
    return read_model_facts(qwen3_dir)


@dataclass
class Node:
    """One mock worker on loopback and the gateway's `Worker` for it."""

    server: MockWorkerServer
    worker: Worker

    @property
    def mock(self) -> MockWorker:
        return self.server.worker

    async def restart(self, facts: ModelFacts, blocks: int) -> None:
        """A new worker process on the same port: empty cache, new sequence numbers."""
        port = self.server.port
        await self.server.stop(None)
        self.server = MockWorkerServer(new_mock(facts, blocks), port=port)
        await self.server.start()


def new_mock(facts: ModelFacts, blocks: int) -> MockWorker:
    mock = MockWorker(facts, served_model_name="m", kv_cache_blocks=blocks, kv_page_size=PAGE)
    if mock.kv is not None:
        mock.kv.log.load_interval = 0.05
    return mock


async def start_node(facts: ModelFacts, blocks: int = 256, transport: str = "h2") -> Node:
    server = MockWorkerServer(new_mock(facts, blocks))
    await server.start()
    client = GrpcWorkerClient(server.url, timeout=5, transport=transport)
    return Node(server, Worker(url=server.url, client=client, model="m"))


@pytest.fixture(params=["h2", "grpcio"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def nodes(facts: ModelFacts, transport: str) -> AsyncIterator[list[Node]]:
    made = [await start_node(facts, transport=transport) for _ in range(3)]
    yield made
    for node in made:
        await node.worker.client.close()
        await node.server.stop(None)


def start_feed(nodes: list[Node]) -> tuple[KvEventFeed, KvAwarePolicy]:
    policy = KvAwarePolicy(PolicyConfig(block_size=PAGE), seed=1)
    feed = KvEventFeed(policy.indexes, lambda: [n.worker for n in nodes], reconcile_secs=0.02,
                       backoff_initial_secs=0.02, backoff_max_secs=0.2)
    return feed, policy


async def generate(node: Node, ids: list[int]) -> int:
    """One real Generate on the node; the cached tokens it reports."""
    req = pb.GenerateRequest(request_id=f"r{next(_ids)}", tokenized=pb.TokenizedInput(input_ids=ids),
                             sampling_params=pb.SamplingParams(max_new_tokens=1, temperature=1.0, top_p=1.0,
                                                               top_k=-1, repetition_penalty=1.0))
    stream = node.worker.client.generate(req, timeout=5)
    cached = 0
    while (resp := await stream.read()) is not None:
        if resp.HasField("complete"):
            cached = resp.complete.cached_tokens
    return cached


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "did not converge"
        await asyncio.sleep(0.01)


def converged(indexes: KvIndexes, node: Node) -> bool:
    state = indexes.model("m").workers.get(node.worker.url)
    return state is not None and state.live and node.mock.kv is not None and state.held() == node.mock.kv.held()


async def all_converged(indexes: KvIndexes, nodes: list[Node]) -> None:
    await until(lambda: all(converged(indexes, n) for n in nodes))


def prompt(seed: int, n: int = 64) -> list[int]:
    return [(seed * 7919 + i * 31) % 150000 for i in range(n)]


def matches(policy: KvAwarePolicy, nodes: list[Node], ids: list[int]) -> dict[str, int]:
    return policy.indexes.model("m").matches([n.worker.url for n in nodes], ids)


async def test_routing_follows_the_blocks_workers_report(nodes: list[Node]) -> None:
    feed, policy = start_feed(nodes)
    await feed.start()
    try:
        a = prompt(1)
        assert await generate(nodes[1], a) == 0
        await all_converged(policy.indexes, nodes)
        workers = [n.worker for n in nodes]
        chosen = policy.select(workers, RouteRequest(model="m", prompt_ids=a + [5, 6]))
        assert chosen is nodes[1].worker
        assert await generate(nodes[1], a + [5, 6]) == 64  # the worker's own count agrees
        assert policy.indexes.model("m").worker(chosen.url).block_size == PAGE
    finally:
        await feed.stop()


async def test_worker_restart_empties_its_index(nodes: list[Node], facts: ModelFacts) -> None:
    feed, policy = start_feed(nodes)
    await feed.start()
    try:
        a = prompt(2)
        await generate(nodes[0], a)
        await generate(nodes[2], a)
        await all_converged(policy.indexes, nodes)
        url = nodes[0].worker.url
        assert REGISTRY.get_sample_value("sgl_router_kv_indexed_blocks", {"worker": url}) == 16
        await nodes[0].restart(facts, 256)
        await all_converged(policy.indexes, nodes)
        assert REGISTRY.get_sample_value("sgl_router_kv_indexed_blocks", {"worker": url}) == 0
        assert REGISTRY.get_sample_value("sgl_router_kv_stream_up", {"worker": url}) == 1
        assert matches(policy, nodes, a) == {nodes[0].worker.url: 0, nodes[1].worker.url: 0, nodes[2].worker.url: 64}
        picks = {policy.select([n.worker for n in nodes], RouteRequest(model="m", prompt_ids=a)).url
                 for _ in range(10)}
        assert picks == {nodes[2].worker.url}
    finally:
        await feed.stop()


async def test_dropped_stream_resumes_from_the_next_sequence_number(nodes: list[Node]) -> None:
    feed, policy = start_feed(nodes)
    await feed.start()
    try:
        await all_converged(policy.indexes, nodes)
        log = nodes[0].mock.kv.log  # type: ignore[union-attr]
        snapshots = log.snapshots
        log.drop_streams()
        await generate(nodes[0], prompt(3))  # while the gateway reconnects, or after
        await all_converged(policy.indexes, nodes)
        assert log.snapshots == snapshots  # replayed from the buffer, no snapshot needed
        assert matches(policy, nodes, prompt(3))[nodes[0].worker.url] == 64
    finally:
        await feed.stop()


def resyncs(url: str) -> float:
    return REGISTRY.get_sample_value("sgl_router_kv_resyncs_total", {"worker": url}) or 0.0


async def test_a_gap_in_sequence_numbers_resyncs_from_a_snapshot(nodes: list[Node]) -> None:
    feed, policy = start_feed(nodes)
    await feed.start()
    try:
        await all_converged(policy.indexes, nodes)
        url = nodes[0].worker.url
        before = resyncs(url)
        nodes[0].mock.kv.log.skip = 1  # type: ignore[union-attr]
        await generate(nodes[0], prompt(4))  # withheld from the stream
        await generate(nodes[0], prompt(5))
        await all_converged(policy.indexes, nodes)
        assert resyncs(url) == before + 1
        assert matches(policy, nodes, prompt(4))[url] == 64
    finally:
        await feed.stop()


async def test_gateway_restart_starts_from_a_snapshot(nodes: list[Node]) -> None:
    a = prompt(6)
    await generate(nodes[2], a)
    feed, policy = start_feed(nodes)
    await feed.start()
    await all_converged(policy.indexes, nodes)
    await feed.stop()
    feed, policy = start_feed(nodes)  # a new process: nothing carried over
    await feed.start()
    try:
        await all_converged(policy.indexes, nodes)
        assert policy.select([n.worker for n in nodes], RouteRequest(model="m", prompt_ids=a)) is nodes[2].worker
    finally:
        await feed.stop()


async def test_eviction_storm_never_leaves_a_worker_preferred_for_evicted_blocks(facts: ModelFacts) -> None:
    small, big = await start_node(facts, blocks=24), await start_node(facts, blocks=4096)
    nodes = [small, big]
    feed, policy = start_feed(nodes)
    await feed.start()
    try:
        a = prompt(7)
        await generate(small, a)
        await generate(big, a)
        await all_converged(policy.indexes, nodes)
        assert matches(policy, nodes, a) == {small.worker.url: 64, big.worker.url: 64}
        for i in range(40):
            await generate(small, prompt(100 + i))
        await all_converged(policy.indexes, nodes)
        assert small.mock.kv.evictions > 0  # type: ignore[union-attr]
        assert matches(policy, nodes, a)[small.worker.url] == 0
        picks = {policy.select([n.worker for n in nodes], RouteRequest(model="m", prompt_ids=a)).url
                 for _ in range(10)}
        assert picks == {big.worker.url}
    finally:
        await feed.stop()
        for node in nodes:
            await node.worker.client.close()
            await node.server.stop(None)


async def test_pushed_load_replaces_polling_while_the_stream_is_up(nodes: list[Node]) -> None:
    feed, policy = start_feed(nodes)
    await feed.start()
    node = nodes[0]
    node.mock.faults.hang_after_tokens = 0  # one request stays running on the worker
    req = pb.GenerateRequest(request_id="hang", tokenized=pb.TokenizedInput(input_ids=[1, 2, 3]),
                             sampling_params=pb.SamplingParams(max_new_tokens=4))
    stream = node.worker.client.generate(req, timeout=10)
    reader = asyncio.ensure_future(stream.read())
    monitor = LoadMonitor(60, lambda: [node.worker])
    try:
        await until(lambda: node.worker.load == 1 and node.worker.load_pushed)
        node.worker.load = 7  # a poll would overwrite this with the worker's 1
        await monitor.run_once()
        assert node.worker.load == 7
        await feed.stop()
        assert not node.worker.load_pushed
        await monitor.run_once()
        assert node.worker.load == 1
    finally:
        reader.cancel()
        stream.cancel()
        await feed.stop()


async def test_worker_without_kv_events_is_guessed_for(facts: ModelFacts, nodes: list[Node]) -> None:
    plain = await start_node(facts, blocks=0)  # SubscribeKvEvents is UNIMPLEMENTED there
    fleet = [*nodes[:1], plain]
    feed, policy = start_feed(fleet)
    await feed.start()
    try:
        await all_converged(policy.indexes, fleet[:1])
        state = policy.indexes.model("m").workers.get(plain.worker.url)
        assert state is None or not state.live
        a = prompt(8)
        workers = [n.worker for n in fleet]
        first = policy.select(workers, RouteRequest(model="m", prompt_ids=a))
        if first is plain.worker:  # the tree remembers what it sent there, as cache_aware does
            assert policy.select(workers, RouteRequest(model="m", prompt_ids=a)) is plain.worker
    finally:
        await feed.stop()
        await plain.worker.client.close()
        await plain.server.stop(None)


def test_gateway_routes_with_kv_aware_and_workers_report_the_hits(facts: ModelFacts) -> None:
    mocks = [ThreadedMockWorker(new_mock(facts, 512)) for _ in range(2)]
    cfg = GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(),
                        worker_urls=tuple(m.url for m in mocks), routing=RoutingConfig(policy="kv_aware"))
    server = ThreadedServer(cfg)
    try:
        server.start()
        assert server.gateway.kv_events is not None
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="x", max_retries=0)
        messages = [{"role": "user", "content": "tell me about the sea " * 20}]
        first = client.chat.completions.create(model="m", messages=messages, max_tokens=2)
        assert first.usage.prompt_tokens_details.cached_tokens == 0
        indexes = server.gateway.kv_events.indexes
        for _ in range(100):  # the stored blocks reach the index in a few milliseconds
            if sum(s.blocks for s in indexes.model("m").workers.values()):
                break
            time.sleep(0.02)
        again = client.chat.completions.create(model="m", messages=messages, max_tokens=2)
        assert again.usage.prompt_tokens_details.cached_tokens >= again.usage.prompt_tokens - PAGE
        served = [len(m.worker.records.requests) for m in mocks]
        assert sorted(served) == [0, 2]
    finally:
        server.stop()
        for m in mocks:
            m.stop()


def test_prefill_leg_follows_the_prefill_workers_caches(facts: ModelFacts) -> None:
    prefills = [ThreadedMockWorker(new_mock(facts, 512)) for _ in range(2)]
    decode = ThreadedMockWorker(new_mock(facts, 0))
    pd = PdConfig(prefill=tuple((m.url, None) for m in prefills), decode=(decode.url,),
                  prefill_policy="kv_aware", decode_policy="round_robin")
    cfg = GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(), pd=pd,
                        routing=RoutingConfig(policy="kv_aware"))
    server = ThreadedServer(cfg)
    try:
        server.start()
        gateway = server.gateway
        assert gateway.pool.policies["prefill"].indexes is gateway.pool.policy.indexes  # one index, one feed
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="x", max_retries=0)
        messages = [{"role": "user", "content": "a long shared question about rivers " * 20}]
        client.chat.completions.create(model="m", messages=messages, max_tokens=2)
        indexes = gateway.kv_events.indexes
        for _ in range(100):
            if sum(s.blocks for s in indexes.model("m").workers.values()):
                break
            time.sleep(0.02)
        for _ in range(3):
            client.chat.completions.create(model="m", messages=messages, max_tokens=2)
        # The answer comes from decode: a prefill leg may still be on its way when it is back.
        for _ in range(250):
            if sum(len(m.worker.records.requests) for m in prefills) >= 4:
                break
            time.sleep(0.02)
        assert sorted(len(m.worker.records.requests) for m in prefills) == [0, 4]
    finally:
        server.stop()
        for m in [*prefills, decode]:
            m.stop()


async def test_an_adapters_blocks_match_only_requests_for_that_adapter(nodes: list[Node]) -> None:
    feed, policy = start_feed(nodes)
    await feed.start()
    try:
        loaded = nodes[0].mock.loras.load(pb.LoadLoRAAdapterRequest(lora_name="ad1", lora_path="/x"))
        assert loaded.success
        a = prompt(9)
        req = pb.GenerateRequest(request_id="lora", tokenized=pb.TokenizedInput(input_ids=a),
                                 sampling_params=pb.SamplingParams(max_new_tokens=1),
                                 lora_id=nodes[0].mock.loras.ids()[0])
        stream = nodes[0].worker.client.generate(req, timeout=5)
        while await stream.read() is not None:
            pass
        await all_converged(policy.indexes, nodes)
        index = policy.indexes.model("m")
        urls = [n.worker.url for n in nodes]
        assert index.matches(urls, a, "ad1")[nodes[0].worker.url] == 64
        assert index.matches(urls, a)[nodes[0].worker.url] == 0  # the base model holds none of it
    finally:
        await feed.stop()
