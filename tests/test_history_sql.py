"""The SQL stores (SQLite, PostgreSQL): what survives a restart, what two gateways sharing one
database see, the versioned schema, and outages (HistoryUnavailable, nothing half-written)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path

import pytest

from sglang_gw.errors import ConfigError
from sglang_gw.history import HistoryConfig, HistoryUnavailable, open_history
from sglang_gw.history.sql import MIGRATIONS, Tx
from tests.history_stores import TcpProxy, started, storage
from tests.test_history_contract import ALICE, ids, msg, response

SQL_BACKENDS = ["sqlite", "postgres"]


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_everything_survives_a_restart(backend: str, tmp_path: Path) -> None:
    async with storage(backend, tmp_path) as config:
        async with started(config) as store:
            conv = await store.create_conversation(ALICE, {"topic": "restart"}, [msg("m0", "hello")])
            await store.save_response(response("resp_1", conversation=conv.id))
            second = response("resp_2", previous="resp_1")
            await store.save_response(second)
        async with started(config) as reopened:  # the schema is found at its version, not made again
            assert await reopened.get_conversation(ALICE, conv.id) == conv
            assert ids(await reopened.conversation_items(ALICE, conv.id)) == ["m0", "resp_1_in", "resp_1_out"]
            assert ids(await reopened.response_chain(ALICE, "resp_2")) == ["resp_1_in", "resp_1_out", "resp_2_in",
                                                                           "resp_2_out"]
            assert await reopened.get_response(ALICE, "resp_2") == second


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_two_gateways_on_one_database_see_each_others_writes(backend: str, tmp_path: Path) -> None:
    async with storage(backend, tmp_path) as config, started(config) as one, started(config) as two:
        conv = await one.create_conversation(ALICE, {}, [])
        await one.save_response(response("resp_1", conversation=conv.id))
        await two.save_response(response("resp_2", previous="resp_1"))
        assert ids(await one.response_chain(ALICE, "resp_2")) == ["resp_1_in", "resp_1_out", "resp_2_in",
                                                                  "resp_2_out"]
        await two.add_items(ALICE, conv.id, [msg("m9", "from two")])
        assert ids(await one.conversation_items(ALICE, conv.id)) == ["resp_1_in", "resp_1_out", "m9"]
        assert await two.delete_conversation(ALICE, conv.id) is True
        assert await one.get_conversation(ALICE, conv.id) is None


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_appends_from_two_gateways_at_once_lose_nothing(backend: str, tmp_path: Path) -> None:
    async with storage(backend, tmp_path, postgres_pool_max=4) as config, started(config) as one, \
            started(config) as two:
        conv = await one.create_conversation(ALICE, {}, [])
        await asyncio.gather(*(store.add_items(ALICE, conv.id, [msg(f"{name}{i}a", "x"), msg(f"{name}{i}b", "y")])
                               for i in range(10) for name, store in (("one", one), ("two", two))))
        got = ids(await one.conversation_items(ALICE, conv.id))
        assert sorted(got) == sorted(f"{n}{i}{p}" for n in ("one", "two") for i in range(10) for p in "ab")
        for i, item_id in enumerate(got):
            if item_id.endswith("a"):
                assert got[i + 1] == item_id[:-1] + "b"  # one call's items stay together, in order


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_the_schema_version_is_recorded_and_a_newer_one_refused(backend: str, tmp_path: Path) -> None:
    def bump(tx: Tx) -> list[tuple]:
        versions = [tuple(r) for r in tx.fetch("SELECT version FROM history_schema_version")]
        tx.execute("UPDATE history_schema_version SET version = $1", len(MIGRATIONS) + 1)
        return versions

    async with storage(backend, tmp_path) as config:
        async with started(config) as store:
            assert await store.db.run(bump) == [(len(MIGRATIONS),)]  # type: ignore[attr-defined]
        newer = open_history(config)
        with pytest.raises(ConfigError, match="newer than this gateway"):
            await newer.start()
        await newer.close()


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_a_failed_save_writes_nothing(backend: str, tmp_path: Path) -> None:
    async with storage(backend, tmp_path) as config, started(config) as store:
        conv = await store.create_conversation(ALICE, {}, [msg("m0", "hello")])
        broken = response("resp_1", conversation=conv.id)
        # An item without an id (a caller's bug) fails the transaction after the conversation
        # got this response's input items: the database refuses a row without an item id.
        broken.output_items.append({"id": None, "type": "message", "content": []})
        with pytest.raises(HistoryUnavailable):
            await store.save_response(broken)
        assert await store.get_response(ALICE, "resp_1") is None
        assert ids(await store.conversation_items(ALICE, conv.id)) == ["m0"]  # the append was rolled back too


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_a_closed_store_is_unavailable(backend: str, tmp_path: Path) -> None:
    async with storage(backend, tmp_path) as config:
        store = open_history(config)
        await store.start()
        await store.close()
        with pytest.raises(HistoryUnavailable) as err:
            await store.save_response(response("resp_1"))
        assert err.value.status == 503 and "closed" in err.value.message
        with pytest.raises(HistoryUnavailable):
            await store.get_conversation(ALICE, "conv_x")


async def test_an_unreachable_postgres_fails_start_up_clearly() -> None:
    store = open_history(HistoryConfig(backend="postgres", postgres_db_url="postgresql://gw:secret@127.0.0.1:1/x"))
    with pytest.raises(HistoryUnavailable) as err:
        await store.start()
    assert "cannot connect to PostgreSQL" in err.value.message and "secret" not in err.value.message
    await store.close()


async def test_an_unopenable_sqlite_file_fails_start_up_clearly(tmp_path: Path) -> None:
    store = open_history(HistoryConfig(backend="sqlite", sqlite_path=tmp_path))  # a folder, not a file
    with pytest.raises(HistoryUnavailable, match="cannot open SQLite file"):
        await store.start()
    await store.close()


async def test_a_postgres_outage_is_503_then_the_store_recovers(tmp_path: Path) -> None:
    async with storage("postgres", tmp_path) as config, TcpProxy(config.postgres_db_url) as proxy:  # type: ignore[arg-type]
        async with started(dataclasses.replace(config, postgres_db_url=proxy.url)) as store:
            await store.save_response(response("resp_1"))
            await proxy.stop()  # the database goes away: its connections end, new ones are refused
            with pytest.raises(HistoryUnavailable) as err:
                await store.save_response(response("resp_2"))
            assert err.value.status == 503 and "PostgreSQL" in err.value.message
            with pytest.raises(HistoryUnavailable):
                await store.get_response(ALICE, "resp_1")
            await proxy.start()  # back: the pool connects again
            await store.save_response(response("resp_3"))
            assert await store.get_response(ALICE, "resp_1") is not None
            assert await store.get_response(ALICE, "resp_2") is None
            assert await store.get_response(ALICE, "resp_3") is not None


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        HistoryConfig().backend = "x"  # type: ignore[misc]


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_reads_do_not_wait_for_another_gateways_write(backend: str, tmp_path: Path) -> None:
    async with storage(backend, tmp_path) as config, started(config) as one, started(config) as two:
        conv = await one.create_conversation(ALICE, {}, [msg("m0", "hello")])
        written, release = threading.Event(), threading.Event()

        def slow_write(tx: Tx) -> None:  # a write held open in the other gateway's thread
            tx.execute("UPDATE history_conversations SET metadata = $1 WHERE id = $2", '{"a": "b"}', conv.id)
            written.set()
            release.wait(30)

        writing = asyncio.ensure_future(one.db.run(slow_write))  # type: ignore[attr-defined]
        try:
            assert await asyncio.to_thread(written.wait, 30)
            # The other gateway reads the last committed state meanwhile (with SQLite, a reader
            # that waited for the write lock would fail after the busy timeout instead).
            assert (await two.get_conversation(ALICE, conv.id)).metadata == {}  # type: ignore[union-attr]
            assert ids(await two.conversation_items(ALICE, conv.id)) == ["m0"]
        finally:
            release.set()
            await writing
        assert (await two.get_conversation(ALICE, conv.id)).metadata == {"a": "b"}  # type: ignore[union-attr]
