"""Every RPC of the worker client against the mock worker over real gRPC on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sglang_gw.errors import WorkerError, WorkerRejectedError, WorkerUnavailableError
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.mock_worker import MockWorker, MockWorkerServer
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.models import model_dir
from sglang_gw.testing.replies import ReplyPolicy
from sglang_gw.workers.client import TRANSPORTS, GrpcWorkerClient

IM_END = 151645  # Qwen3 eos


@pytest.fixture(scope="module")
def facts():
    return read_model_facts(model_dir("qwen3"))


@pytest.fixture
async def mock(facts) -> AsyncIterator[MockWorkerServer]:
    script = {"THINK": "<think>plan</think>The answer is 42.", "MULTI": ["first reply", "second reply"]}
    worker = MockWorker(facts, policy=ReplyPolicy(facts, mode="scripted", script=script),
                        served_model_name="qwen3-test")
    server = MockWorkerServer(worker)
    await server.start()
    yield server
    await server.stop(None)


@pytest.fixture(params=TRANSPORTS)
async def client(mock, request) -> AsyncIterator[GrpcWorkerClient]:
    c = GrpcWorkerClient(mock.url, timeout=5, transport=request.param)
    yield c
    await c.close()


async def until(predicate, timeout: float = 2.0) -> bool:
    """Server-side clean-up runs just after the client sees the end: poll briefly."""
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


def chat_ids(facts, user: str) -> list[int]:
    text = f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    return facts.tokenizer.encode(text, add_special_tokens=False).ids


def request(facts, user: str, rid: str = "r1", **sampling) -> pb.GenerateRequest:
    sp = pb.SamplingParams(temperature=1.0, top_p=1.0, top_k=-1, repetition_penalty=1.0, **sampling)
    return pb.GenerateRequest(request_id=rid, tokenized=pb.TokenizedInput(input_ids=chat_ids(facts, user)),
                              sampling_params=sp, stream=True)


async def collect(client, req) -> tuple[dict[int, list[int]], dict[int, pb.GenerateComplete]]:
    tokens: dict[int, list[int]] = {}
    done: dict[int, pb.GenerateComplete] = {}
    async for resp in client.generate(req):
        if resp.HasField("chunk"):
            tokens.setdefault(resp.chunk.index, []).extend(resp.chunk.token_ids)
        else:
            done[resp.complete.index] = resp.complete
    return tokens, done


async def test_model_info_reports_real_facts(client, facts) -> None:
    info = await client.model_info()
    gen = json.loads((model_dir("qwen3") / "generation_config.json").read_text())
    expected_eos = gen["eos_token_id"] if isinstance(gen["eos_token_id"], list) else [gen["eos_token_id"]]
    assert list(info.eos_token_ids) == expected_eos
    assert IM_END in info.eos_token_ids
    assert info.served_model_name == "qwen3-test"
    assert info.vocab_size == facts.vocab_size > 151_000
    assert info.max_context_length == facts.max_context_length > 0


async def test_echo_reply_ends_with_eos(client, facts) -> None:
    tokens, done = await collect(client, request(facts, "Hello, 世界 👋"))
    assert facts.tokenizer.decode(tokens[0][:-1]) == "Hello, 世界 👋"
    assert tokens[0][-1] == IM_END
    assert done[0].finish_reason == "stop" and done[0].matched_token_id == IM_END
    assert list(done[0].output_ids) == tokens[0]
    assert done[0].prompt_tokens == len(chat_ids(facts, "Hello, 世界 👋"))
    assert done[0].completion_tokens == len(tokens[0])


async def test_n2_streams_one_index_per_choice(client, facts) -> None:
    tokens, done = await collect(client, request(facts, "MULTI please", n=2))
    assert sorted(done) == [0, 1]
    assert facts.tokenizer.decode(tokens[0], skip_special_tokens=True) == "first reply"
    assert facts.tokenizer.decode(tokens[1], skip_special_tokens=True) == "second reply"


async def test_max_new_tokens_gives_length(client, facts) -> None:
    tokens, done = await collect(client, request(facts, "one two three four five six", max_new_tokens=3))
    assert len(tokens[0]) == 3 and done[0].finish_reason == "length"
    assert not done[0].HasField("matched_token_id")


async def test_stop_token_ids_end_the_choice(client, facts) -> None:
    reply = facts.tokenizer.encode("<think>plan</think>The answer is 42.", add_special_tokens=False).ids
    think_end = facts.tokenizer.token_to_id("</think>")
    tokens, done = await collect(client, request(facts, "THINK", stop_token_ids=[think_end]))
    assert tokens[0] == reply[: reply.index(think_end) + 1]
    assert done[0].finish_reason == "stop" and done[0].matched_token_id == think_end


async def test_ignore_eos_runs_to_max(client, facts) -> None:
    tokens, done = await collect(client, request(facts, "hi", ignore_eos=True, max_new_tokens=20))
    assert len(tokens[0]) == 20 and IM_END not in tokens[0]
    assert done[0].finish_reason == "length"


async def test_stream_interval_batches_tokens(client, facts) -> None:
    sizes = []
    async for resp in client.generate(request(facts, "a b c d e f g h i j", stream_interval=3)):
        if resp.HasField("chunk"):
            sizes.append(len(resp.chunk.token_ids))
    assert sizes[:-1] and all(s == 3 for s in sizes[:-1])


async def test_string_stop_is_rejected_like_a_real_worker(client, facts) -> None:
    with pytest.raises(WorkerRejectedError) as err:
        await collect(client, request(facts, "hi", stop=["x"]))
    assert err.value.status == 400


async def test_injected_unavailable(client, mock, facts) -> None:
    mock.worker.faults.unavailable_rate = 1.0
    with pytest.raises(WorkerUnavailableError) as err:
        await collect(client, request(facts, "hi"))
    assert err.value.retryable and err.value.status == 503


async def test_mid_stream_failure_after_tokens(client, mock, facts) -> None:
    mock.worker.faults.fail_after_tokens = 2
    seen: list[int] = []
    with pytest.raises(WorkerError) as err:
        async for resp in client.generate(request(facts, "one two three four five")):
            seen.extend(resp.chunk.token_ids)
    assert len(seen) == 2 and "INTERNAL" in err.value.message
    assert await until(lambda: not mock.worker.running)


async def test_abort_is_recorded_and_ends_the_stream(client, mock, facts) -> None:
    mock.worker.faults.hang_after_tokens = 1
    stream = client.generate(request(facts, "one two three", rid="abort-me"))
    it = aiter(stream)
    first = await anext(it)
    assert first.HasField("chunk")
    assert await client.abort("abort-me", "client gone")
    assert mock.worker.records.aborts == ["abort-me"]
    rest = [r async for r in it]
    mock.worker.faults.hang_after_tokens = None
    assert rest[-1].complete.finish_reason == "abort"
    assert await until(lambda: not mock.worker.running)


async def test_cancel_frees_the_slot(client, mock, facts) -> None:
    mock.worker.faults.hang_after_tokens = 1
    stream = client.generate(request(facts, "one two three", rid="cancel-me"))
    it = aiter(stream)
    await anext(it)
    stream.cancel()
    assert await until(lambda: not mock.worker.running)
    assert mock.worker.records.cancelled == ["cancel-me"]


async def test_worker_death_mid_stream(client, mock, facts) -> None:
    mock.worker.on_die = lambda: asyncio.get_running_loop().create_task(mock.stop(None))
    mock.worker.faults.die_after_tokens = 2
    with pytest.raises(WorkerError):
        await collect(client, request(facts, "one two three four five"))


async def test_management_rpcs(client, mock) -> None:
    assert (await client.health()).healthy
    mock.worker.faults.unhealthy = True
    assert not (await client.health()).healthy
    info = await client.server_info()
    assert info.server_type == "grpc" and info.server_args["served_model_name"] == "qwen3-test"
    loads = await client.loads()
    assert loads.loads[0].num_running_reqs == 0 and loads.dp_rank_count == 1
    assert await client.flush_cache()


async def test_get_tokenizer_streams_a_verified_zip(client) -> None:
    data = await client.get_tokenizer()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        assert {"tokenizer.json", "tokenizer_config.json"} <= names
        assert zf.read("tokenizer.json") == (model_dir("qwen3") / "tokenizer.json").read_bytes()


async def test_standard_grpc_health_service(mock) -> None:
    async with grpc.aio.insecure_channel(mock.url.removeprefix("grpc://")) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        resp = await stub.Check(health_pb2.HealthCheckRequest(service="sglang.grpc.scheduler.SglangScheduler"))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING


async def test_embed_on_a_generative_worker_is_refused(client, facts) -> None:
    req = pb.EmbedRequest(request_id="e1", tokenized=pb.TokenizedInput(input_ids=[1, 2, 3]))
    with pytest.raises(WorkerError):
        await client.embed(req)


async def test_embed_and_lora_rpcs(facts) -> None:
    from sglang_gw.testing.mock_pooling import Pooling

    server = MockWorkerServer(MockWorker(facts, pooling=Pooling("embedding", dim=8), lora_capacity=1))
    await server.start()
    client = GrpcWorkerClient(server.url, timeout=5)
    try:
        info = await client.model_info()
        assert not info.is_generation
        out = await client.embed(pb.EmbedRequest(request_id="e1", tokenized=pb.TokenizedInput(input_ids=[5, 6])))
        assert out.embedding_dim == len(out.embedding) == 8 and out.prompt_tokens == 2
        loaded = await client.load_lora(pb.LoadLoRAAdapterRequest(lora_name="a", lora_path="/a"))
        assert loaded.success and len(loaded.loaded_lora_ids) == 1
        listed = await client.list_loras()
        assert [(x.lora_name, x.lora_path) for x in listed.loaded_adapters] == [("a", "/a")]
        gone = await client.unload_lora(pb.UnloadLoRAAdapterRequest(lora_name="a"))
        assert gone.success and not gone.loaded_lora_ids
    finally:
        await client.close()
        await server.stop(None)
