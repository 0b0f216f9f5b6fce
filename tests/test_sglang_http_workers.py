"""SGLang HTTP workers beside gRPC ones: one model, both kinds, the same answers; PD over HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import openai
import pytest

from sglang_gw.config import GatewayConfig, ModelConfig, PdConfig, RoutingConfig, ServerConfig
from sglang_gw.testing.mock_http_worker import ThreadedMockHttpWorker
from sglang_gw.testing.mock_worker import MockWorker, ThreadedMockWorker
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.models import model_dir
from sglang_gw.testing.replies import ReplyPolicy
from tests.conftest import SCRIPT, ThreadedServer, free_port, wait_until
from tests.mixed_fleet import Mixed


def mock_worker(script: dict[str, str | list[str]] | None = None) -> MockWorker:
    facts = read_model_facts(model_dir("qwen3"))
    return MockWorker(facts, policy=ReplyPolicy(facts, mode="scripted", script=script or SCRIPT),
                      served_model_name="m")


@contextmanager
def mixed(policy: str = "round_robin") -> Iterator[Mixed]:
    grpc_mock, http_mock = ThreadedMockWorker(mock_worker()), ThreadedMockHttpWorker(mock_worker())
    config = GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(),
                           worker_urls=(grpc_mock.url, http_mock.url), routing=RoutingConfig(policy=policy))
    server = ThreadedServer(config)
    try:
        server.start()
        yield Mixed(grpc_mock, http_mock, server)
    finally:
        server.stop()
        grpc_mock.stop()
        http_mock.stop()


@pytest.fixture(scope="module")
def fleet() -> Iterator[Mixed]:
    with mixed() as fleet:
        yield fleet


def twice(fleet: Mixed, send) -> tuple[object, object]:  # noqa: ANN001
    """The same request sent twice under round robin: once to each kind of worker."""
    before = fleet.requests()
    first, second = send(), send()
    after = fleet.requests()
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
    return first, second


def sse_json(response: httpx.Response) -> list[dict]:
    events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def test_the_http_worker_is_registered_as_sglang_http(fleet: Mixed) -> None:
    listing = httpx.get(f"{fleet.url}/workers").json()
    modes = {w["url"]: w["connection_mode"] for w in listing["workers"]}
    assert modes == {fleet.grpc.url: "grpc", fleet.http.url: "http"}
    assert [m["id"] for m in httpx.get(f"{fleet.url}/v1/models").json()["data"]] == ["m"]


@pytest.mark.parametrize("prompt", ["hello there", "MULTIBYTE", "THINK", "THREE"])
def test_chat_answers_alike_from_both_kinds(fleet: Mixed, prompt: str) -> None:
    client = openai.OpenAI(base_url=f"{fleet.url}/v1", api_key="x", max_retries=0)
    messages = [{"role": "user", "content": prompt}]
    n = 3 if prompt == "THREE" else 1
    a, b = twice(fleet, lambda: client.chat.completions.create(model="m", messages=messages, n=n, seed=7))
    assert [c.message.content for c in a.choices] == [c.message.content for c in b.choices]
    assert a.usage == b.usage and a.choices[0].finish_reason == b.choices[0].finish_reason

    def streamed() -> list[str]:
        out = [""] * n
        for chunk in client.chat.completions.create(model="m", messages=messages, n=n, seed=7, stream=True):
            for c in chunk.choices:
                out[c.index] += c.delta.content or ""
        return out
    s1, s2 = twice(fleet, streamed)
    assert s1 == s2 == [c.message.content for c in a.choices]


def test_completions_and_stop_strings_alike(fleet: Mixed) -> None:
    client = openai.OpenAI(base_url=f"{fleet.url}/v1", api_key="x", max_retries=0)
    a, b = twice(fleet, lambda: client.completions.create(model="m", prompt="STOPTEST", stop=["gamma"]))
    assert a.choices[0].text == b.choices[0].text == "alpha beta "
    assert a.choices[0].finish_reason == b.choices[0].finish_reason == "stop"
    s1, s2 = twice(fleet, lambda: "".join(c.choices[0].text for c in client.completions.create(
        model="m", prompt="LONG", max_tokens=5, stream=True)))
    assert s1 == s2 and s1.startswith("word0")


def test_generate_alike_streamed_and_not(fleet: Mixed) -> None:
    body = {"model": "m", "text": "MULTIBYTE", "sampling_params": {"max_new_tokens": 64}}
    a, b = twice(fleet, lambda: httpx.post(f"{fleet.url}/generate", json=body).json())
    for key in ("text", "output_ids"):
        assert a[key] == b[key]
    assert a["meta_info"]["finish_reason"] == b["meta_info"]["finish_reason"]

    def streamed() -> list[dict]:
        with httpx.stream("POST", f"{fleet.url}/generate", json={**body, "stream": True}) as r:
            return sse_json(r)
    s1, s2 = twice(fleet, streamed)
    assert [e["text"] for e in s1] == [e["text"] for e in s2]
    assert s1[-1]["text"] == a["text"]


def test_tokenize_and_flush_cache_reach_http_workers(fleet: Mixed) -> None:
    tokens = httpx.post(f"{fleet.url}/v1/tokenize", json={"model": "m", "prompt": "hello"}).json()
    assert tokens["count"] == len(tokens["tokens"]) > 0
    answer = httpx.post(f"{fleet.url}/flush_cache").json()
    assert answer == {"success": True, "workers": {fleet.grpc.url: True, fleet.http.url: True}}


def test_loads_come_from_get_load(fleet: Mixed) -> None:
    entries = {e["url"]: e for e in httpx.get(f"{fleet.url}/get_loads").json()["workers"]}
    assert entries[fleet.http.url]["running"] == 0 and "error" not in entries[fleet.http.url]


def test_a_hang_up_aborts_the_http_worker(fleet: Mixed) -> None:
    fleet.http.worker.timing.token_delay = 0.01
    fleet.grpc.worker.timing.token_delay = 0.01
    try:
        for _ in range(2):  # one of the two goes to the HTTP worker
            with httpx.stream("POST", f"{fleet.url}/v1/completions",
                              json={"model": "m", "prompt": "LONG", "stream": True}) as r:
                for line in r.iter_lines():
                    if line.startswith("data: {"):
                        break
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (fleet.http.worker.running or fleet.grpc.worker.running):
            time.sleep(0.02)
        assert not fleet.http.worker.running and fleet.http.worker.records.cancelled
    finally:
        fleet.http.worker.timing.token_delay = 0.0
        fleet.grpc.worker.timing.token_delay = 0.0


def test_a_rejection_keeps_its_message_and_status(fleet: Mixed) -> None:
    fleet.http.worker.faults.reject_next = 2
    fleet.http.worker.faults.reject_code = __import__("grpc").StatusCode.INVALID_ARGUMENT
    try:
        answers = [httpx.post(f"{fleet.url}/v1/completions", json={"model": "m", "prompt": "hi"}) for _ in range(2)]
        rejected = [a for a in answers if a.status_code != 200]
        assert len(rejected) == 1 and rejected[0].status_code == 400
        assert "injected" in rejected[0].json()["error"]["message"]
    finally:
        fleet.http.worker.faults.reject_next = 0


def test_cache_aware_routes_http_prompts_by_prefix() -> None:
    with mixed(policy="cache_aware") as fleet:
        client = openai.OpenAI(base_url=f"{fleet.url}/v1", api_key="x", max_retries=0)
        for attempt in range(20):  # new prefixes until one lands on the HTTP worker...
            prefix = f"system prompt number {attempt} " * 40
            before = fleet.requests()
            client.completions.create(model="m", prompt=f"{prefix} question 0", max_tokens=2)
            if fleet.requests()[1] > before[1]:
                break
        else:
            pytest.fail("no prompt went to the HTTP worker")
        before = fleet.requests()
        for i in range(1, 6):  # ...then the prompts sharing that prefix follow it there
            client.completions.create(model="m", prompt=f"{prefix} question {i}", max_tokens=2)
        assert (fleet.requests()[0] - before[0], fleet.requests()[1] - before[1]) == (0, 5)


@dataclass
class Pd:
    prefill: ThreadedMockHttpWorker
    decode: ThreadedMockHttpWorker
    server: ThreadedServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


@pytest.fixture(scope="module")
def pd() -> Iterator[Pd]:
    """Two SGLang HTTP workers in PD mode; the prefill one reports its bootstrap port itself."""
    prefill = ThreadedMockHttpWorker(mock_worker({"PD": "from prefill", "SLOW": "x " * 300}),
                                     disaggregation_mode="prefill", bootstrap_port=8998)
    decode = ThreadedMockHttpWorker(mock_worker({"PD": "from decode", "SLOW": "y " * 300}),
                                    disaggregation_mode="decode")
    config = PdConfig(prefill=((prefill.url, None),), decode=(decode.url,))
    server = ThreadedServer(GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(), pd=config))
    try:
        server.start()
        yield Pd(prefill, decode, server)
    finally:
        server.stop()
        prefill.stop()
        decode.stop()


def test_pd_over_http_shares_the_room_and_streams_from_decode(pd: Pd) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "PD"}]}
    answer = httpx.post(f"{pd.url}/v1/chat/completions", json=body).json()
    assert answer["choices"][0]["message"]["content"] == "from decode"
    with httpx.stream("POST", f"{pd.url}/v1/chat/completions", json={**body, "stream": True}) as r:
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in sse_json(r) if e["choices"])
    assert text == "from decode"
    # The answer comes from decode: the prefill leg may still be on its way.
    assert wait_until(lambda: len(pd.prefill.worker.records.requests) == 2)
    pairs = list(zip(pd.prefill.worker.records.requests, pd.decode.worker.records.requests, strict=True))
    assert len(pairs) == 2
    for p_req, d_req in pairs:
        assert p_req.disaggregated_params == d_req.disaggregated_params
        # The bootstrap port was discovered from the prefill worker's /get_server_info.
        assert p_req.disaggregated_params.bootstrap_port == 8998
        assert p_req.disaggregated_params.bootstrap_host == "127.0.0.1"
    assert pairs[0][1].disaggregated_params.bootstrap_room != pairs[1][1].disaggregated_params.bootstrap_room


def test_pd_over_http_a_decode_failure_aborts_the_prefill_leg(pd: Pd) -> None:
    prefill, decode = pd.prefill.worker, pd.decode.worker
    prefill.timing.token_delay = decode.timing.token_delay = 0.01
    decode.faults.fail_after_tokens = 3
    try:
        body = {"model": "m", "messages": [{"role": "user", "content": "SLOW"}], "stream": True}
        with httpx.stream("POST", f"{pd.url}/v1/chat/completions", json=body) as r:
            events = sse_json(r)
        assert "error" in events[-1]
        rid = prefill.records.requests[-1].request_id
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (prefill.running or rid not in prefill.records.aborts
                                               or any(w.inflight for w in pd.server.gateway.pool.workers())):
            time.sleep(0.02)
        assert rid in prefill.records.aborts
        assert not prefill.running
        assert all(w.inflight == 0 for w in pd.server.gateway.pool.workers())
    finally:
        prefill.timing.token_delay = decode.timing.token_delay = 0.0
        decode.faults.fail_after_tokens = None


def test_the_http_mock_speaks_sglangs_format(fleet: Mixed) -> None:
    url = fleet.http.url
    body = {"text": "hello there", "sampling_params": {"max_new_tokens": 16}, "stream": True}
    with httpx.stream("POST", f"{url}/generate", json=body) as r:
        events = sse_json(r)
    texts = [e["text"] for e in events]
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))  # cumulative
    assert texts[-1] == "hello there" and events[-1]["meta_info"]["finish_reason"]["type"] == "stop"
    whole = httpx.post(f"{url}/generate", json={**body, "stream": False}).json()
    assert events[-1]["output_ids"] == whole["output_ids"]
    chat = httpx.post(f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": "hello there"}]})
    assert chat.json()["choices"][0]["message"]["content"] == "hello there"
    assert httpx.get(f"{url}/get_model_info").json()["model_path"]
    assert httpx.post(f"{url}/generate", json={"input_ids": []}).status_code == 400


def test_logprobs_alike_from_both_kinds(fleet: Mixed) -> None:
    client = openai.OpenAI(base_url=f"{fleet.url}/v1", api_key="x", max_retries=0)
    messages = [{"role": "user", "content": "hello there"}]
    a, b = twice(fleet, lambda: client.chat.completions.create(model="m", messages=messages, logprobs=True,
                                                               top_logprobs=2))
    assert a.choices[0].logprobs.content and a.choices[0].logprobs == b.choices[0].logprobs

    def streamed() -> list:
        chunks = client.chat.completions.create(model="m", messages=messages, logprobs=True, top_logprobs=2,
                                                stream=True)
        return [c.choices[0].logprobs.content for c in chunks if c.choices and c.choices[0].logprobs]
    s1, s2 = twice(fleet, streamed)
    assert s1 == s2 and [t for part in s1 for t in part] == a.choices[0].logprobs.content


def test_embeddings_alike_from_both_kinds() -> None:
    from sglang_gw.testing.mock_pooling import Pooling

    facts = read_model_facts(model_dir("qwen3"))
    grpc_mock = ThreadedMockWorker(MockWorker(facts, served_model_name="e", pooling=Pooling("embedding")))
    http_mock = ThreadedMockHttpWorker(MockWorker(facts, served_model_name="e", pooling=Pooling("embedding")))
    config = GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(),
                           worker_urls=(grpc_mock.url, http_mock.url), routing=RoutingConfig(policy="round_robin"))
    server = ThreadedServer(config)
    try:
        server.start()
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="x", max_retries=0)
        a, b = (client.embeddings.create(model="e", input="the same words") for _ in range(2))
        assert a.data[0].embedding == b.data[0].embedding and len(a.data[0].embedding) == 32
        assert len(grpc_mock.worker.records.embeds) == len(http_mock.worker.records.embeds) == 1
    finally:
        server.stop()
        grpc_mock.stop()
        http_mock.stop()


def test_post_workers_takes_a_connection_mode() -> None:
    grpc_mock, http_mock, other = (ThreadedMockWorker(mock_worker()), ThreadedMockHttpWorker(mock_worker()),
                                   ThreadedMockHttpWorker(mock_worker()))
    # An SGLang worker whose model has no tokenizer here: found by asking, then proxied.
    remote = ThreadedMockHttpWorker(MockWorker(read_model_facts(model_dir("qwen3")), served_model_name="remote",
                                               model_path="org/not-in-any-local-cache"))
    server = ThreadedServer(GatewayConfig(server=ServerConfig(port=free_port()), model=ModelConfig(),
                                          worker_urls=(grpc_mock.url,)))
    try:
        server.start()
        url = f"http://127.0.0.1:{server.port}"
        bad = httpx.post(f"{url}/workers", json={"url": grpc_mock.url, "connection_mode": "http"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "connection_mode"
        assert httpx.post(f"{url}/workers", json={"url": http_mock.url, "connection_mode": "http"}).status_code == 202
        # The same kind of server, proxied at the OpenAI level when told so.
        assert httpx.post(f"{url}/workers", json={"url": other.url, "connection_mode": "openai"}).status_code == 202
        assert httpx.post(f"{url}/workers", json={"url": remote.url}).status_code == 202
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(server.gateway.pool.workers()) < 4:
            time.sleep(0.05)
        modes = {w["url"]: w["connection_mode"] for w in httpx.get(f"{url}/workers").json()["workers"]}
        assert modes == {grpc_mock.url: "grpc", http_mock.url: "http", other.url: "openai", remote.url: "openai"}
        body = {"model": "remote", "messages": [{"role": "user", "content": "hello there"}]}
        assert httpx.post(f"{url}/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"] \
            == "hello there"  # the worker's own /v1/chat/completions answered
        assert len(remote.worker.records.requests) == 1
    finally:
        server.stop()
        for mock in (grpc_mock, http_mock, other, remote):
            mock.stop()


def test_generate_body_speaks_sglangs_names() -> None:
    from sglang_gw.proto import sglang_scheduler_pb2 as pb
    from sglang_gw.workers.sglang_http import generate_body

    request = pb.GenerateRequest(request_id="r1", sampling_params=pb.SamplingParams(
        temperature=0.5, top_k=-1, max_new_tokens=8, ebnf_grammar="root ::= 'a'", stop_token_ids=[7]))
    request.tokenized.input_ids.extend([1, 2, 3])
    request.disaggregated_params.CopyFrom(pb.DisaggregatedParams(bootstrap_host="h", bootstrap_port=9,
                                                                 bootstrap_room=42))
    body = generate_body(request)
    assert body["input_ids"] == [1, 2, 3] and body["rid"] == "r1" and body["stream"] is True
    assert (body["bootstrap_host"], body["bootstrap_port"], body["bootstrap_room"]) == ("h", 9, 42)
    params = body["sampling_params"]
    assert params["ebnf"] == "root ::= 'a'" and params["max_new_tokens"] == 8 and params["stop_token_ids"] == [7]
    assert params["temperature"] == 0.5 and params["top_k"] == -1 and "stop" not in params


def test_responses_and_messages_alike_from_both_kinds(fleet: Mixed) -> None:
    def responses() -> str:
        body = {"model": "m", "input": "hello there", "store": False}
        return httpx.post(f"{fleet.url}/v1/responses", json=body, timeout=30).json()["output"][-1]["content"][0]["text"]

    def messages() -> str:
        body = {"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "THINK"}]}
        return httpx.post(f"{fleet.url}/v1/messages", json=body, timeout=30).json()["content"]
    r1, r2 = twice(fleet, responses)
    assert r1 == r2 == "hello there"
    m1, m2 = twice(fleet, messages)
    assert m1 == m2 and m1


def _events(ids: list[int], *, incremental: bool, finish: dict | None) -> list[dict]:
    """SGLang's events for `ids`, two tokens a step: cumulative (its default) or deltas."""
    out = []
    for end in range(2, len(ids) + 2, 2):
        part = ids[end - 2:end] if incremental else ids[:end]
        last = end >= len(ids)
        out.append({"text": "", "output_ids": part, "meta_info": {
            "prompt_tokens": 4, "completion_tokens": min(end, len(ids)), "cached_tokens": 1,
            "finish_reason": finish if last else None}})
    return out


@pytest.mark.parametrize("incremental", [False, True])
def test_stream_state_reads_cumulative_and_incremental_streams(incremental: bool) -> None:
    from sglang_gw.workers.sglang_http import StreamState

    state = StreamState("r", stream=True, url="http://w")
    ids = [5, 6, 7, 8, 9]
    messages = [m for e in _events(ids, incremental=incremental, finish={"type": "stop", "matched": 2})
                for m in state.messages(e)]
    chunks = [m.chunk for m in messages if m.HasField("chunk")]
    assert [t for c in chunks for t in c.token_ids] == ids
    assert [c.completion_tokens for c in chunks] == [2, 4, 5]
    done = messages[-1].complete
    assert list(done.output_ids) == ids and done.finish_reason == "stop" and done.matched_token_id == 2
    assert (done.prompt_tokens, done.cached_tokens) == (4, 1)
    quiet = StreamState("r", stream=False, url="http://w")  # a non-streaming request: the end only
    assert [m.WhichOneof("response") for e in _events(ids, incremental=incremental, finish={"type": "length"})
            for m in quiet.messages(e)] == ["complete"]


def test_stream_state_error_events() -> None:
    from sglang_gw.errors import WorkerError, WorkerRejectedError
    from sglang_gw.workers.sglang_http import StreamState

    with pytest.raises(WorkerRejectedError, match="too long"):
        StreamState("r", stream=True, url="http://w").messages({"error": {"message": "too long"}})
    state = StreamState("r", stream=True, url="http://w")
    state.messages(_events([1, 2, 3], incremental=False, finish=None)[0])
    with pytest.raises(WorkerError, match="stream failed: boom") as caught:
        state.messages({"error": {"message": "boom"}})
    assert not isinstance(caught.value, WorkerRejectedError)


def test_model_info_and_loads_from_sglangs_endpoints(fleet: Mixed) -> None:
    from sglang_gw.workers.sglang_http import SglangHttpClient

    async def ask() -> tuple:
        client = SglangHttpClient(fleet.http.url)
        try:
            return await client.model_info(), await client.loads(), await client.health()
        finally:
            await client.close()
    info, loads, health = asyncio.run(ask())
    facts = fleet.http.worker.facts
    assert (info.served_model_name, info.max_context_length, info.is_generation) == ("m", facts.max_context_length,
                                                                                      True)
    assert info.model_path == str(facts.path)
    assert [(x.num_running_reqs, x.num_waiting_reqs) for x in loads.loads] == [(0, 0)] and health.healthy


async def _h2c_server(seen: list[str]) -> asyncio.Server:
    """A server that speaks only HTTP/2 (h2c): 200 and `{}` to every request; records paths."""
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        seen.append(dict(event.headers)[b":path"].decode())
                        conn.send_headers(event.stream_id, [(":status", "200"), ("content-type", "application/json")])
                        conn.send_data(event.stream_id, b"{}", end_stream=True)
                writer.write(conn.data_to_send())
        except h2.exceptions.ProtocolError:  # an HTTP/1.1 client
            seen.append("refused")
        finally:
            writer.close()
    return await asyncio.start_server(serve, "127.0.0.1", 0)


def test_upstream_http2_speaks_h2c_to_http_workers() -> None:
    from sglang_gw.workers.sglang_http import SglangHttpClient

    async def run() -> tuple[list[str], bool, bool]:
        seen: list[str] = []
        server = await _h2c_server(seen)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            plain, h2 = SglangHttpClient(url), SglangHttpClient(url, http2=True)
            healthy = [(await c.health(timeout=5)).healthy for c in (plain, h2)]
            await plain.close()
            await h2.close()
        finally:
            server.close()
        return seen, *healthy
    seen, plain_ok, h2_ok = asyncio.run(run())
    assert (plain_ok, h2_ok) == (False, True)
    assert seen == ["refused", "/health"]


def test_the_upstream_http2_flag_reaches_the_link() -> None:
    from sglang_gw.cli import parse_args
    from sglang_gw.cli_config import config_from_args

    on = config_from_args(parse_args(["launch", "--worker-urls", "grpc://w:1", "--upstream-http2"]))
    off = config_from_args(parse_args(["launch", "--worker-urls", "grpc://w:1"]))
    assert on.link.upstream_http2 and not off.link.upstream_http2
