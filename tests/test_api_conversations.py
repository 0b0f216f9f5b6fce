"""/v1/conversations through the real openai client, on a gateway with each history backend
that keeps history (memory, sqlite, postgres), and on `none`."""

from __future__ import annotations

import copy
import dataclasses
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from sglang_gw.history import HistoryConfig
from tests.conftest import RunningGateway, start_gateway, wait_until
from tests.history_stores import STORING_BACKENDS, ThreadedTcpProxy, history_config


@pytest.fixture(scope="module", params=STORING_BACKENDS)
def history_gw(request: pytest.FixtureRequest, gateway_factory: Callable[..., RunningGateway],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with history_config(request.param, tmp_path_factory.mktemp("history")) as config:
        yield gateway_factory(history=config)


@pytest.fixture
def client(history_gw: RunningGateway) -> openai.OpenAI:
    return history_gw.client


def other_owner(gw: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="another-key", max_retries=0, timeout=30)


def http(gw: RunningGateway) -> httpx.Client:
    return httpx.Client(base_url=gw.url, headers={"authorization": "Bearer unused"}, timeout=30)


def test_create_retrieve_update_delete(client: openai.OpenAI) -> None:
    conv = client.conversations.create(metadata={"topic": "demo"},
                                       items=[{"type": "message", "role": "user", "content": "Grüße, 世界 👋"}])
    assert conv.id.startswith("conv_") and conv.object == "conversation" and conv.metadata == {"topic": "demo"}
    got = client.conversations.retrieve(conv.id)
    assert (got.id, got.created_at, got.metadata) == (conv.id, conv.created_at, {"topic": "demo"})
    updated = client.conversations.update(conv.id, metadata={"topic": "changed", "more": "x"})
    assert updated.metadata == {"topic": "changed", "more": "x"}
    assert client.conversations.retrieve(conv.id).metadata == {"topic": "changed", "more": "x"}
    deleted = client.conversations.delete(conv.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (conv.id, "conversation.deleted", True)
    with pytest.raises(openai.NotFoundError) as err:
        client.conversations.retrieve(conv.id)
    assert err.value.body["type"] == "not_found_error" and conv.id in err.value.body["message"]  # type: ignore[index]


def test_items_create_list_retrieve_delete(client: openai.OpenAI) -> None:
    conv = client.conversations.create(items=[{"type": "message", "role": "user", "content": "first"}])
    added = client.conversations.items.create(conv.id, items=[
        {"type": "message", "role": "assistant", "content": "second"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Zürich"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ])
    assert added.object == "list" and [i.type for i in added.data] == ["message", "function_call",
                                                                       "function_call_output"]
    assert added.first_id == added.data[0].id and added.last_id == added.data[-1].id and not added.has_more
    call = added.data[1]
    assert call.id.startswith("fc_") and call.arguments == '{"city": "Zürich"}' and call.status == "completed"
    message = added.data[0]
    assert message.id.startswith("msg_") and message.role == "assistant" and message.status == "completed"
    assert message.content[0].type == "output_text" and message.content[0].text == "second"

    listed = client.conversations.items.list(conv.id)  # newest first by default
    assert [i.type for i in listed.data] == ["function_call_output", "function_call", "message", "message"]
    assert listed.data[-1].content[0].type == "input_text" and listed.data[-1].content[0].text == "first"
    oldest_first = client.conversations.items.list(conv.id, order="asc", limit=2)
    assert [i.id for i in oldest_first.data] == [listed.data[3].id, listed.data[2].id] and oldest_first.has_more
    rest = client.conversations.items.list(conv.id, order="asc", limit=2, after=oldest_first.last_id)
    assert [i.id for i in rest.data] == [listed.data[1].id, listed.data[0].id] and not rest.has_more
    # The SDK's pager follows has_more and last_id: one item a page, all four in order.
    assert [i.id for i in client.conversations.items.list(conv.id, order="asc", limit=1)] == \
        [i.id for i in reversed(listed.data)]

    got = client.conversations.items.retrieve(call.id, conversation_id=conv.id)
    assert got.type == "function_call" and got.call_id == "call_1"
    after_delete = client.conversations.items.delete(call.id, conversation_id=conv.id)
    assert after_delete.id == conv.id and after_delete.object == "conversation"
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(call.id, conversation_id=conv.id)
    assert len(client.conversations.items.list(conv.id).data) == 3


def test_another_key_sees_nothing(history_gw: RunningGateway, client: openai.OpenAI) -> None:
    conv = client.conversations.create(items=[{"role": "user", "content": "mine"}])
    item_id = client.conversations.items.list(conv.id).data[0].id
    other = other_owner(history_gw)
    for call in (lambda: other.conversations.retrieve(conv.id),
                 lambda: other.conversations.update(conv.id, metadata={"x": "y"}),
                 lambda: other.conversations.delete(conv.id),
                 lambda: other.conversations.items.list(conv.id),
                 lambda: other.conversations.items.create(conv.id, items=[{"role": "user", "content": "x"}]),
                 lambda: other.conversations.items.retrieve(item_id, conversation_id=conv.id),
                 lambda: other.conversations.items.delete(item_id, conversation_id=conv.id)):
        with pytest.raises(openai.NotFoundError):  # 404, the same as an unknown id: never 403
            call()
    assert [i.id for i in client.conversations.items.list(conv.id).data] == [item_id]


def test_unknown_ids_are_404(client: openai.OpenAI) -> None:
    conv = client.conversations.create()
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve("conv_nope")
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list("conv_nope")
    with pytest.raises(openai.NotFoundError) as err:
        client.conversations.items.retrieve("msg_nope", conversation_id=conv.id)
    assert err.value.body["param"] == "item_id"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.delete("msg_nope", conversation_id=conv.id)


@pytest.mark.parametrize(("body", "param"), [
    ({"items": [{"type": "message", "role": "user", "content": "ok"},
                {"type": "message", "role": "user", "content": "ok"},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"},
                                                                  {"type": "bogus"}]}]},
     "items[2].content[1].type"),
    ({"items": [{"type": "item_reference", "id": "msg_1"}]}, "items[0].type"),
    ({"items": [{"type": "function_call", "call_id": "c", "name": "f"}]}, "items[0].arguments"),
    ({"items": [{"type": "message", "role": "robot", "content": "x"}]}, "items[0].role"),
    ({"items": "hello"}, "items"),
    ({"items": [{"role": "user", "content": "x"}] * 21}, "items"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"metadata": {"k" * 65: "v"}}, "metadata." + "k" * 64),
    ({"metadata": {"k": "v" * 513}}, "metadata.k"),
    ({"metadata": {"k": 1}}, "metadata.k"),
])
def test_bad_create_bodies_are_400_naming_the_field(history_gw: RunningGateway, body: dict, param: str) -> None:
    with http(history_gw) as h:
        resp = h.post("/v1/conversations", json=body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error


@pytest.mark.parametrize(("query", "param"), [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
                                              ("order=up", "order"), ("after=msg_nope", "after")])
def test_bad_list_queries_are_400(history_gw: RunningGateway, client: openai.OpenAI, query: str, param: str) -> None:
    conv = client.conversations.create(items=[{"role": "user", "content": "x"}])
    with http(history_gw) as h:
        resp = h.get(f"/v1/conversations/{conv.id}/items?{query}")
    assert resp.status_code == 400 and resp.json()["error"]["param"] == param, resp.text


def test_bad_bodies_on_the_other_routes(history_gw: RunningGateway, client: openai.OpenAI) -> None:
    conv = client.conversations.create()
    with http(history_gw) as h:
        assert h.post(f"/v1/conversations/{conv.id}", json={}).json()["error"]["param"] == "metadata"
        assert h.post(f"/v1/conversations/{conv.id}/items", json={"items": []}).json()["error"]["param"] == "items"
        resp = h.post("/v1/conversations", content=b"{not json")
        assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"
        assert h.post("/v1/conversations", content=b"[1]").status_code == 400


def test_none_backend_answers_but_keeps_nothing(gateway_factory: Callable[..., RunningGateway],
                                                tmp_path: Path) -> None:
    client = gateway_factory(history=HistoryConfig(backend="none")).client
    conv = client.conversations.create(metadata={"a": "b"}, items=[{"role": "user", "content": "x"}])
    assert conv.id.startswith("conv_") and conv.metadata == {"a": "b"}
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conv.id)


def test_a_storage_outage_is_503_with_a_clear_message(gateway_factory: Callable[..., RunningGateway],
                                                      tmp_path: Path) -> None:
    with history_config("postgres", tmp_path) as config:
        proxy = ThreadedTcpProxy(config.postgres_db_url)  # type: ignore[arg-type]
        try:
            proxy.start()
            gw = gateway_factory(history=dataclasses.replace(config, postgres_db_url=proxy.url, postgres_wait_secs=1.0))
            conv = gw.client.conversations.create(items=[{"role": "user", "content": "before"}])
            proxy.stop()  # the database goes away
            with http(gw) as h:
                for resp in (h.post("/v1/conversations", json={"items": [{"role": "user", "content": "x"}]}),
                             h.get(f"/v1/conversations/{conv.id}/items")):
                    assert resp.status_code == 503 and resp.headers["retry-after"] == "1"
                    error = resp.json()["error"]
                    assert error["code"] == "history_unavailable" and "PostgreSQL" in error["message"], error
            proxy.start()  # back: the pool reconnects on its own backoff (1 s, doubling)
            with http(gw) as h:
                assert wait_until(lambda: h.get(f"/v1/conversations/{conv.id}/items").status_code != 503, timeout=60)
            assert [i.content[0].text for i in gw.client.conversations.items.list(conv.id)] == ["before"]
        finally:
            proxy.close()


def test_a_conversation_survives_a_gateway_restart(gateway_factory: Callable[..., RunningGateway], qwen3_dir: Path,
                                                   tmp_path: Path) -> None:
    worker = gateway_factory().worker_url
    config = HistoryConfig(backend="sqlite", sqlite_path=tmp_path / "history.sqlite3")
    first = start_gateway(qwen3_dir, [worker], history=config)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{first.port}/v1", api_key="k", max_retries=0)
        conv = client.conversations.create(metadata={"n": "1"}, items=[{"role": "user", "content": "remember me"}])
    finally:
        first.stop()
    second = start_gateway(qwen3_dir, [worker], history=config)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{second.port}/v1", api_key="k", max_retries=0)
        assert client.conversations.retrieve(conv.id).metadata == {"n": "1"}
        assert [i.content[0].text for i in client.conversations.items.list(conv.id)] == ["remember me"]
    finally:
        second.stop()


def test_two_gateways_share_one_postgres(gateway_factory: Callable[..., RunningGateway], tmp_path: Path) -> None:
    with history_config("postgres", tmp_path) as config:
        one, two = gateway_factory(history=config).client, gateway_factory(history=config).client
        conv = one.conversations.create(items=[{"role": "user", "content": "on one"}])
        two.conversations.items.create(conv.id, items=[{"role": "assistant", "content": "on two"}])
        assert [i.content[0].text for i in one.conversations.items.list(conv.id, order="asc")] == ["on one", "on two"]
        two.conversations.delete(conv.id)
        with pytest.raises(openai.NotFoundError):
            one.conversations.retrieve(conv.id)


def test_storage_context_headers_own_instead_of_the_key(gateway_factory: Callable[..., RunningGateway]) -> None:
    gw = gateway_factory(history=HistoryConfig(context_headers=(("x-tenant-id", "tenant"),)))

    def client(key: str, tenant: str | None) -> openai.OpenAI:
        headers = {"x-tenant-id": tenant} if tenant else None
        return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, default_headers=headers)

    conv = client("key-1", "acme").conversations.create(metadata={"who": "acme"})
    assert client("key-2", "acme").conversations.retrieve(conv.id).metadata == {"who": "acme"}  # same tenant
    for stranger in (client("key-1", "globex"), client("key-1", None)):
        with pytest.raises(openai.NotFoundError):
            stranger.conversations.retrieve(conv.id)


def test_mutated_bodies_never_get_a_500(gateway_factory: Callable[..., RunningGateway]) -> None:
    """Seeded mutations (tests/test_fuzz_bodies.py's) of valid bodies on the body routes:
    every answer a success or an OpenAI error, never a 5xx."""
    from tests.test_fuzz_bodies import BROKEN, SEED, mutate, problem, to_json

    gw = gateway_factory()
    conv = gw.client.conversations.create()
    valid = {
        "/v1/conversations": {"metadata": {"a": "b"}, "items": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "s"}]}]},
        f"/v1/conversations/{conv.id}": {"metadata": {"k": "v"}},
        f"/v1/conversations/{conv.id}/items": {"items": [{"role": "assistant", "content": "ok"}]},
    }
    rng = random.Random(SEED)
    found = []
    with http(gw) as h:
        for _ in range(400):
            path = rng.choice(list(valid))
            raw = rng.choice(BROKEN) if rng.random() < 0.05 else \
                to_json(mutate(copy.deepcopy(valid[path]), rng, set())).encode("utf-8", "surrogatepass")
            resp = h.post(path, content=raw, headers={"content-type": "application/json"})
            if (trouble := problem(resp)) is not None:
                found.append(f"{path} {raw[:200]!r}: {trouble}")
    assert found == []
