"""/v1/responses on the real stores: a conversation continued across a gateway restart (SQLite)
and across two gateways sharing one PostgreSQL, and a storage outage answered 503."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest

from sglang_gw.history import HistoryConfig
from sglang_gw.testing.mock_worker import MockWorker, ThreadedMockWorker
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.models import model_dir
from sglang_gw.testing.replies import ReplyPolicy
from tests.conftest import RunningGateway, start_gateway
from tests.history_stores import TcpProxy, storage

TOOL = {"type": "function", "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
SCRIPT = {"RESULT": "It is sunny.",
          "WEATHER": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'}


def _gateway(factory, history: HistoryConfig) -> RunningGateway:
    return factory(script=SCRIPT, history=history, tool_call_parser="hermes", reasoning_parser="none")


@contextmanager
def _running(history: HistoryConfig) -> Iterator[openai.OpenAI]:
    """A gateway and its worker, stopped on exit (a restart is two of these in turn)."""
    folder = model_dir("qwen3")
    facts = read_model_facts(folder)
    mock = ThreadedMockWorker(MockWorker(facts, policy=ReplyPolicy(facts, mode="scripted", script=SCRIPT),
                                         served_model_name="test-model"))
    server = start_gateway(folder, [mock.url], history=history, tool_call_parser="hermes", reasoning_parser="none")
    try:
        yield openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="k", max_retries=0, timeout=30)
    finally:
        server.stop()
        mock.stop()


def test_continued_after_a_restart_on_sqlite(tmp_path: Path) -> None:
    history = HistoryConfig(backend="sqlite", sqlite_path=tmp_path / "history.sqlite3")
    with _running(history) as before:
        first = before.responses.create(model="test-model", input="WEATHER?", tools=[TOOL])
    with _running(history) as after:  # the gateway restarted on the same file
        call = first.output[0]
        done = after.responses.create(model="test-model", previous_response_id=first.id, tools=[TOOL],
                                      input=[{"type": "function_call_output", "call_id": call.call_id,
                                              "output": "RESULT"}])
        assert done.output_text == "It is sunny."
        assert [i.type for i in after.responses.input_items.list(done.id).data] == ["function_call_output"]
        assert after.responses.retrieve(first.id).output[0].call_id == call.call_id


async def test_two_gateways_share_one_postgres(gateway_factory, tmp_path: Path) -> None:
    async with storage("postgres", tmp_path) as history:
        one, two = await asyncio.gather(asyncio.to_thread(_gateway, gateway_factory, history),
                                        asyncio.to_thread(_gateway, gateway_factory, history))

        def run() -> None:
            first = one.client.responses.create(model="test-model", input="WEATHER?", tools=[TOOL])
            call = first.output[0]
            done = two.client.responses.create(model="test-model", previous_response_id=first.id, tools=[TOOL],
                                               input=[{"type": "function_call_output", "call_id": call.call_id,
                                                       "output": "RESULT"}])
            assert done.output_text == "It is sunny."
            assert one.client.responses.retrieve(done.id).previous_response_id == first.id

        await asyncio.to_thread(run)


async def test_a_storage_outage_is_503_and_nothing_is_half_written(gateway_factory, tmp_path: Path) -> None:
    async with storage("postgres", tmp_path) as config, TcpProxy(config.postgres_db_url) as proxy:  # type: ignore[arg-type]
        history = dataclasses.replace(config, postgres_db_url=proxy.url, postgres_wait_secs=1.0)
        gw = await asyncio.to_thread(_gateway, gateway_factory, history)
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
            first = (await http.post("/v1/responses", json={"model": "test-model", "input": "hello"})).json()
            await proxy.stop()
            for body in ({"input": "more", "previous_response_id": first["id"]}, {"input": "hello again"}):
                resp = await http.post("/v1/responses", json={"model": "test-model", **body})
                assert resp.status_code == 503, resp.text
                assert resp.json()["error"]["type"] == "service_unavailable"
            lookup = await http.get(f"/v1/responses/{first['id']}")
            assert lookup.status_code == 503
            # A stream has sent its 200 before the store fails at the end: response.failed, not kept.
            async with http.stream("POST", "/v1/responses", json={"model": "test-model", "input": "hi",
                                                                   "stream": True}) as stream:
                lines = [line async for line in stream.aiter_lines() if line.startswith("event: ")]
            assert lines[-1] == "event: response.failed"
            await proxy.start()
            # The pool reconnects on its own backoff (psycopg_pool: 1 s, doubling): wait for it.
            deadline = asyncio.get_running_loop().time() + 60
            while (again := await http.get(f"/v1/responses/{first['id']}")).status_code == 503:
                assert asyncio.get_running_loop().time() < deadline, again.text
                await asyncio.sleep(0.1)
            assert again.status_code == 200, again.text
            assert again.json()["output"] == first["output"]


def test_none_keeps_nothing(gateway_factory) -> None:
    gw = _gateway(gateway_factory, HistoryConfig(backend="none"))
    resp = gw.client.responses.create(model="test-model", input="hello")
    assert resp.output_text == "hello"
    with pytest.raises(openai.BadRequestError) as err:
        gw.client.responses.create(model="test-model", input="more", previous_response_id=resp.id)
    assert err.value.code == "previous_response_not_found"
