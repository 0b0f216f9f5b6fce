"""The history store's contract, run against every backend that keeps history.

Each backend gets the same tests through the `store` fixture (tests/history_stores.py
makes it: memory, sqlite on a fresh file, postgres in a fresh schema). `none` keeps
nothing and has its own tests at the end.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from sglang_gw.errors import InvalidRequestError
from sglang_gw.history import HistoryConfig, HistoryStore, StoredResponse, open_history
from tests.history_stores import STORING_BACKENDS, open_store

ALICE, BOB = "key:alice", "key:bob"


@pytest.fixture(params=STORING_BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path) -> Any:
    async with open_store(request.param, tmp_path) as opened:
        yield opened


def msg(item_id: str, text: str, role: str = "user") -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": role, "status": "completed",
            "content": [{"type": "input_text" if role == "user" else "output_text", "text": text}]}


def response(rid: str, *, owner: str = ALICE, status: str = "completed", inputs: list[dict] | None = None,
             outputs: list[dict] | None = None, previous: str | None = None,
             conversation: str | None = None) -> StoredResponse:
    inputs = inputs if inputs is not None else [msg(f"{rid}_in", f"question of {rid}")]
    outputs = outputs if outputs is not None else [msg(f"{rid}_out", f"answer of {rid}", "assistant")]
    body = {"id": rid, "object": "response", "status": status, "output": outputs, "model": "m",
            "metadata": {"k": "v"}, "usage": {"input_tokens": 3}}
    return StoredResponse(id=rid, owner=owner, created_at=int(time.time()), model="m", status=status, body=body,
                          input_items=inputs, output_items=outputs if status != "queued" else [],
                          previous_response_id=previous, conversation_id=conversation)


def ids(items: list[dict[str, Any]] | None) -> list[str]:
    assert items is not None
    return [item["id"] for item in items]


# ---- responses -------------------------------------------------------------------------------


async def test_a_saved_response_reads_back_whole(store: HistoryStore) -> None:
    saved = response("resp_1", inputs=[msg("m1", "Grüße, 世界 👋"), msg("m2", "second")])
    await store.save_response(saved)
    got = await store.get_response(ALICE, "resp_1")
    assert got == saved
    assert got is not saved


async def test_another_owner_finds_nothing(store: HistoryStore) -> None:
    await store.save_response(response("resp_1"))
    assert await store.get_response(BOB, "resp_1") is None
    assert await store.response_chain(BOB, "resp_1") is None
    assert await store.list_input_items(BOB, "resp_1", after=None, limit=20, order="asc") is None
    assert await store.delete_response(BOB, "resp_1") is False
    assert await store.get_response(ALICE, "resp_1") is not None


async def test_unknown_response_is_none_everywhere(store: HistoryStore) -> None:
    assert await store.get_response(ALICE, "resp_nope") is None
    assert await store.response_chain(ALICE, "resp_nope") is None
    assert await store.list_input_items(ALICE, "resp_nope", after=None, limit=20, order="desc") is None
    assert await store.delete_response(ALICE, "resp_nope") is False


async def test_delete_response(store: HistoryStore) -> None:
    await store.save_response(response("resp_1"))
    assert await store.delete_response(ALICE, "resp_1") is True
    assert await store.get_response(ALICE, "resp_1") is None
    assert await store.delete_response(ALICE, "resp_1") is False


async def test_a_background_response_is_saved_queued_then_done(store: HistoryStore) -> None:
    conv = await store.create_conversation(ALICE, {}, [])
    await store.save_response(response("resp_bg", status="queued", conversation=conv.id))
    queued = await store.get_response(ALICE, "resp_bg")
    assert queued is not None and queued.status == "queued" and queued.output_items == []
    assert ids(await store.conversation_items(ALICE, conv.id)) == []  # not final: nothing appended yet
    await store.save_response(response("resp_bg", status="completed", conversation=conv.id))
    done = await store.get_response(ALICE, "resp_bg")
    assert done is not None and done.status == "completed" and ids(done.output_items) == ["resp_bg_out"]
    assert ids(done.input_items) == ["resp_bg_in"]  # stored once, not twice
    assert ids(await store.conversation_items(ALICE, conv.id)) == ["resp_bg_in", "resp_bg_out"]


async def test_conversation_gets_a_responses_items_once(store: HistoryStore) -> None:
    conv = await store.create_conversation(ALICE, {}, [msg("seed", "hello")])
    await store.save_response(response("resp_1", conversation=conv.id))
    await store.save_response(response("resp_1", conversation=conv.id))  # saved again, still final
    await store.save_response(response("resp_2", status="failed", conversation=conv.id, outputs=[]))
    assert ids(await store.conversation_items(ALICE, conv.id)) == ["seed", "resp_1_in", "resp_1_out", "resp_2_in"]


async def test_chain_is_oldest_first_inputs_then_outputs(store: HistoryStore) -> None:
    await store.save_response(response("resp_1"))
    await store.save_response(response("resp_2", previous="resp_1"))
    call = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}",
            "status": "completed"}
    result = {"id": "fco_1", "type": "function_call_output", "call_id": "call_1", "output": "42"}
    await store.save_response(response("resp_3", previous="resp_2", outputs=[call]))
    await store.save_response(response("resp_4", previous="resp_3", inputs=[result]))
    chain = await store.response_chain(ALICE, "resp_4")
    assert ids(chain) == ["resp_1_in", "resp_1_out", "resp_2_in", "resp_2_out", "resp_3_in", "fc_1", "fco_1",
                          "resp_4_out"]
    assert chain is not None and chain[5] == call
    assert ids(await store.response_chain(ALICE, "resp_2")) == ["resp_1_in", "resp_1_out", "resp_2_in", "resp_2_out"]


async def test_chain_stops_at_a_deleted_response(store: HistoryStore) -> None:
    await store.save_response(response("resp_1"))
    await store.save_response(response("resp_2", previous="resp_1"))
    await store.delete_response(ALICE, "resp_1")
    assert ids(await store.response_chain(ALICE, "resp_2")) == ["resp_2_in", "resp_2_out"]


async def test_chain_never_crosses_owners(store: HistoryStore) -> None:
    await store.save_response(response("resp_1", owner=BOB))
    await store.save_response(response("resp_2", previous="resp_1"))
    assert ids(await store.response_chain(ALICE, "resp_2")) == ["resp_2_in", "resp_2_out"]


async def test_input_items_page_both_ways(store: HistoryStore) -> None:
    inputs = [msg(f"m{i}", f"text {i}") for i in range(5)]
    await store.save_response(response("resp_1", inputs=inputs))
    page = await store.list_input_items(ALICE, "resp_1", after=None, limit=2, order="asc")
    assert page is not None and ids(page.data) == ["m0", "m1"] and page.has_more
    assert (page.first_id, page.last_id) == ("m0", "m1")
    page = await store.list_input_items(ALICE, "resp_1", after="m1", limit=2, order="asc")
    assert page is not None and ids(page.data) == ["m2", "m3"] and page.has_more
    page = await store.list_input_items(ALICE, "resp_1", after="m3", limit=2, order="asc")
    assert page is not None and ids(page.data) == ["m4"] and not page.has_more
    page = await store.list_input_items(ALICE, "resp_1", after=None, limit=3, order="desc")
    assert page is not None and ids(page.data) == ["m4", "m3", "m2"] and page.has_more
    page = await store.list_input_items(ALICE, "resp_1", after="m2", limit=3, order="desc")
    assert page is not None and ids(page.data) == ["m1", "m0"] and not page.has_more
    assert page.data[0] == inputs[1]
    page = await store.list_input_items(ALICE, "resp_1", after=None, limit=5, order="asc")
    assert page is not None and not page.has_more


async def test_paging_after_an_unknown_item_is_a_400(store: HistoryStore) -> None:
    await store.save_response(response("resp_1"))
    with pytest.raises(InvalidRequestError) as err:
        await store.list_input_items(ALICE, "resp_1", after="m_nope", limit=2, order="asc")
    assert err.value.param == "after"


async def test_what_comes_back_is_a_copy(store: HistoryStore) -> None:
    saved = response("resp_1")
    await store.save_response(saved)
    saved.body["status"] = "changed by the caller"
    saved.input_items[0]["role"] = "changed"
    got = await store.get_response(ALICE, "resp_1")
    assert got is not None and got.body["status"] == "completed" and got.input_items[0]["role"] == "user"
    got.output_items.clear()
    again = await store.get_response(ALICE, "resp_1")
    assert again is not None and ids(again.output_items) == ["resp_1_out"]


# ---- conversations ---------------------------------------------------------------------------


async def test_conversation_create_get_update_delete(store: HistoryStore) -> None:
    conv = await store.create_conversation(ALICE, {"topic": "tests"}, [msg("m1", "hi")])
    assert conv.id.startswith("conv_") and len(conv.id) >= 40 and conv.owner == ALICE
    assert abs(conv.created_at - time.time()) < 3600 and conv.metadata == {"topic": "tests"}
    assert await store.get_conversation(ALICE, conv.id) == conv
    updated = await store.update_conversation(ALICE, conv.id, {"other": "x"})
    assert updated is not None and updated.metadata == {"other": "x"}  # replaced whole
    assert (await store.get_conversation(ALICE, conv.id)).metadata == {"other": "x"}  # type: ignore[union-attr]
    assert await store.delete_conversation(ALICE, conv.id) is True
    assert await store.get_conversation(ALICE, conv.id) is None
    assert await store.conversation_items(ALICE, conv.id) is None
    assert await store.delete_conversation(ALICE, conv.id) is False


async def test_conversation_ids_differ(store: HistoryStore) -> None:
    made = {(await store.create_conversation(ALICE, {}, [])).id for _ in range(20)}
    assert len(made) == 20


async def test_another_owners_conversation_is_not_found(store: HistoryStore) -> None:
    conv = await store.create_conversation(ALICE, {"a": "b"}, [msg("m1", "hi")])
    assert await store.get_conversation(BOB, conv.id) is None
    assert await store.update_conversation(BOB, conv.id, {"x": "y"}) is None
    assert await store.add_items(BOB, conv.id, [msg("m2", "x")]) is None
    assert await store.list_items(BOB, conv.id, after=None, limit=20, order="asc") is None
    assert await store.get_item(BOB, conv.id, "m1") is None
    assert await store.delete_item(BOB, conv.id, "m1") is False
    assert await store.conversation_items(BOB, conv.id) is None
    assert await store.delete_conversation(BOB, conv.id) is False
    # and nothing of Alice's changed
    assert (await store.get_conversation(ALICE, conv.id)).metadata == {"a": "b"}  # type: ignore[union-attr]
    assert ids(await store.conversation_items(ALICE, conv.id)) == ["m1"]


async def test_unknown_conversation_is_none_everywhere(store: HistoryStore) -> None:
    assert await store.get_conversation(ALICE, "conv_nope") is None
    assert await store.update_conversation(ALICE, "conv_nope", {}) is None
    assert await store.add_items(ALICE, "conv_nope", [msg("m1", "x")]) is None
    assert await store.list_items(ALICE, "conv_nope", after=None, limit=20, order="asc") is None
    assert await store.get_item(ALICE, "conv_nope", "m1") is None
    assert await store.delete_item(ALICE, "conv_nope", "m1") is False
    assert await store.conversation_items(ALICE, "conv_nope") is None


async def test_items_add_list_get_delete(store: HistoryStore) -> None:
    conv = await store.create_conversation(ALICE, {}, [msg("m0", "first")])
    added = await store.add_items(ALICE, conv.id, [msg("m1", "second"), msg("m2", "third", "assistant")])
    assert added == [msg("m1", "second"), msg("m2", "third", "assistant")]
    assert ids(await store.conversation_items(ALICE, conv.id)) == ["m0", "m1", "m2"]
    page = await store.list_items(ALICE, conv.id, after=None, limit=2, order="desc")
    assert page is not None and ids(page.data) == ["m2", "m1"] and page.has_more
    page = await store.list_items(ALICE, conv.id, after="m1", limit=2, order="desc")
    assert page is not None and ids(page.data) == ["m0"] and not page.has_more
    page = await store.list_items(ALICE, conv.id, after="m0", limit=20, order="asc")
    assert page is not None and ids(page.data) == ["m1", "m2"] and not page.has_more
    assert await store.get_item(ALICE, conv.id, "m2") == msg("m2", "third", "assistant")
    assert await store.get_item(ALICE, conv.id, "m_nope") is None
    assert await store.delete_item(ALICE, conv.id, "m1") is True
    assert await store.delete_item(ALICE, conv.id, "m1") is False
    assert await store.get_item(ALICE, conv.id, "m1") is None
    assert ids(await store.conversation_items(ALICE, conv.id)) == ["m0", "m2"]


async def test_a_deleted_response_leaves_its_conversation_whole(store: HistoryStore) -> None:
    conv = await store.create_conversation(ALICE, {}, [])
    await store.save_response(response("resp_1", conversation=conv.id))
    await store.delete_response(ALICE, "resp_1")
    assert ids(await store.conversation_items(ALICE, conv.id)) == ["resp_1_in", "resp_1_out"]


async def test_a_deleted_conversation_leaves_its_responses_whole(store: HistoryStore) -> None:
    conv = await store.create_conversation(ALICE, {}, [])
    await store.save_response(response("resp_1", conversation=conv.id))
    await store.delete_conversation(ALICE, conv.id)
    got = await store.get_response(ALICE, "resp_1")
    assert got is not None and ids(got.input_items) == ["resp_1_in"] and ids(got.output_items) == ["resp_1_out"]


async def test_a_deleted_item_stays_in_the_response_that_made_it(store: HistoryStore) -> None:
    conv = await store.create_conversation(ALICE, {}, [])
    await store.save_response(response("resp_1", conversation=conv.id))
    assert await store.delete_item(ALICE, conv.id, "resp_1_out") is True
    assert ids(await store.conversation_items(ALICE, conv.id)) == ["resp_1_in"]
    assert ids(await store.response_chain(ALICE, "resp_1")) == ["resp_1_in", "resp_1_out"]


# ---- none: keeps nothing -----------------------------------------------------------------------


async def test_none_keeps_nothing_but_answers() -> None:
    store = open_history(HistoryConfig(backend="none"))
    await store.start()
    await store.save_response(response("resp_1"))
    assert await store.get_response(ALICE, "resp_1") is None
    assert await store.response_chain(ALICE, "resp_1") is None
    conv = await store.create_conversation(ALICE, {"a": "b"}, [msg("m1", "x")])
    assert conv.id.startswith("conv_") and conv.metadata == {"a": "b"}
    assert await store.get_conversation(ALICE, conv.id) is None
    assert await store.add_items(ALICE, conv.id, [msg("m2", "y")]) is None
    assert await store.delete_conversation(ALICE, conv.id) is False
    await store.close()
