"""The memory store's bounds: a most-responses count (oldest first out) and a retention time."""

from __future__ import annotations

import time

import pytest

from sglang_gw.history import HistoryConfig
from sglang_gw.history import memory as memory_module
from sglang_gw.history.memory import MemoryHistory
from tests.test_history_contract import ALICE, msg, response


async def test_the_oldest_response_is_evicted_past_the_bound() -> None:
    store = MemoryHistory(HistoryConfig(memory_max_responses=3))
    for i in range(4):
        await store.save_response(response(f"resp_{i}"))
    await store.save_response(response("resp_1"))  # saved again: keeps its place, evicts nothing
    assert await store.get_response(ALICE, "resp_0") is None
    assert [await store.get_response(ALICE, f"resp_{i}") is not None for i in (1, 2, 3)] == [True, True, True]
    await store.save_response(response("resp_4"))
    assert await store.get_response(ALICE, "resp_1") is None


async def test_objects_past_retention_are_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [time.time()]
    monkeypatch.setattr(memory_module.time, "time", lambda: now[0])
    store = MemoryHistory(HistoryConfig(memory_retention_secs=100))
    old = response("resp_old")
    old.created_at = int(now[0]) - 200
    await store.save_response(old)
    await store.save_response(response("resp_new"))
    conv = await store.create_conversation(ALICE, {}, [msg("m1", "x")])
    assert await store.get_response(ALICE, "resp_old") is None
    assert await store.get_response(ALICE, "resp_new") is not None
    now[0] += 50
    assert await store.add_items(ALICE, conv.id, [msg("m2", "y")]) is not None  # used: its clock restarts
    now[0] += 90
    assert await store.get_conversation(ALICE, conv.id) is not None
    assert await store.get_response(ALICE, "resp_new") is None
    now[0] += 20
    assert await store.get_conversation(ALICE, conv.id) is None


async def test_no_retention_keeps_until_evicted() -> None:
    store = MemoryHistory(HistoryConfig(memory_retention_secs=None))
    old = response("resp_old")
    old.created_at = 0
    await store.save_response(old)
    assert await store.get_response(ALICE, "resp_old") is not None


async def test_the_least_recently_changed_conversation_is_evicted_past_the_bound() -> None:
    store = MemoryHistory(HistoryConfig(memory_max_responses=2))
    first = await store.create_conversation(ALICE, {}, [])
    second = await store.create_conversation(ALICE, {}, [])
    await store.add_items(ALICE, first.id, [msg("m1", "x")])  # first is now the more recent
    third = await store.create_conversation(ALICE, {}, [])
    assert await store.get_conversation(ALICE, second.id) is None
    assert await store.get_conversation(ALICE, first.id) is not None
    assert await store.get_conversation(ALICE, third.id) is not None
