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
from sglang_gw.history.sql import MIGRATIONS, Tx, _migrate
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
async def test_responses_stored_by_schema_1_are_read_whole_after_the_migration(backend: str, tmp_path: Path) -> None:
    def schema_1(tx: Tx) -> None:  # as a gateway of schema 1 left it: items in rows of their own
        _migrate(tx, MIGRATIONS[:1])
        for rid, previous in (("resp_1", None), ("resp_2", "resp_1"), ("resp_3", None)):
            tx.execute("INSERT INTO history_responses (id, owner, created_at, model, status, body, "
                       "previous_response_id) VALUES ($1, $2, 1, 'm', 'completed', '{\"id\": \"x\"}', $3)",
                       rid, ALICE, previous)
        for rid, kind, position in (("resp_1", 0, 0), ("resp_1", 0, 1), ("resp_1", 1, 0), ("resp_2", 0, 0)):
            item_id = f"{rid}_{kind}_{position}"
            tx.execute("INSERT INTO history_response_items (response_id, kind, position, item_id, item) "
                       "VALUES ($1, $2, $3, $4, $5)", rid, kind, position, item_id, f'{{"id": "{item_id}"}}')

    async with storage(backend, tmp_path) as config:
        old = open_history(config)
        await old.db.open()  # type: ignore[attr-defined]
        await old.db.run(schema_1)  # type: ignore[attr-defined]
        await old.db.close()  # type: ignore[attr-defined]
        async with started(config) as store:
            assert ids(await store.response_chain(ALICE, "resp_2")) == ["resp_1_0_0", "resp_1_0_1", "resp_1_1_0",
                                                                        "resp_2_0_0"]
            one = await store.get_response(ALICE, "resp_1")
            assert one is not None and ids(one.input_items) == ["resp_1_0_0", "resp_1_0_1"]
            assert ids(one.output_items) == ["resp_1_1_0"]
            assert one.body == {"id": "x", "output": one.output_items}  # a body's output is its output items
            page = await store.list_input_items(ALICE, "resp_1", after="resp_1_0_1", limit=5, order="desc")
            assert page is not None and ids(page.data) == ["resp_1_0_0"]
            assert ids(await store.response_chain(ALICE, "resp_3")) == []


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
async def test_saves_made_at_once_each_succeed_or_fail_whole(backend: str, tmp_path: Path) -> None:
    # Made in one turn of the loop, SQLite commits them together: one failing must take
    # neither the others nor a part of itself along.
    async with storage(backend, tmp_path) as config, started(config) as store:
        conv = await store.create_conversation(ALICE, {}, [])
        broken = response("resp_bad", conversation=conv.id)
        broken.output_items.append({"id": None, "type": "message", "content": []})
        saves = [response(f"resp_{i}", conversation=conv.id) for i in range(2)] + [broken] + \
            [response(f"resp_{i}", conversation=conv.id) for i in range(2, 4)]
        results = await asyncio.gather(*(store.save_response(r) for r in saves), return_exceptions=True)
        assert [type(r) for r in results] == [type(None)] * 2 + [HistoryUnavailable] + [type(None)] * 2
        assert await store.get_response(ALICE, "resp_bad") is None
        assert await store.get_response(ALICE, "resp_3") == saves[-1]
        assert sorted(ids(await store.conversation_items(ALICE, conv.id))) == \
            sorted(f"resp_{i}_{kind}" for i in range(4) for kind in ("in", "out"))


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
        async with started(dataclasses.replace(config, postgres_db_url=proxy.url, postgres_wait_secs=1.0)) as store:
            await store.save_response(response("resp_1"))
            await proxy.stop()  # the database goes away: its connections end, new ones are refused
            with pytest.raises(HistoryUnavailable) as err:
                await store.save_response(response("resp_2"))
            assert err.value.status == 503 and "PostgreSQL" in err.value.message
            with pytest.raises(HistoryUnavailable):
                await store.get_response(ALICE, "resp_1")
            await proxy.start()  # back: the pool connects again, on its own backoff (1 s, doubling)
            deadline = asyncio.get_running_loop().time() + 60
            while True:
                try:
                    await store.save_response(response("resp_3"))
                    break
                except HistoryUnavailable:
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.1)
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


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_a_chain_changed_by_another_gateway_is_read_again(backend: str, tmp_path: Path) -> None:
    # `one` saved (and so may keep) the chain; `two` deletes its first response, then saves
    # its second again with other items: `one` must see both changes, not its own copy.
    async with storage(backend, tmp_path) as config, started(config) as one, started(config) as two:
        await one.save_response(response("resp_1"))
        await one.save_response(response("resp_2", previous="resp_1"))
        await one.save_response(response("resp_3", previous="resp_2"))
        assert ids(await one.response_chain(ALICE, "resp_3")) == ["resp_1_in", "resp_1_out", "resp_2_in",
                                                                  "resp_2_out", "resp_3_in", "resp_3_out"]
        assert await two.delete_response(ALICE, "resp_1") is True
        assert ids(await one.response_chain(ALICE, "resp_3")) == ["resp_2_in", "resp_2_out", "resp_3_in",
                                                                  "resp_3_out"]
        await two.save_response(response("resp_2", outputs=[msg("resp_2_again", "other", "assistant")]))
        assert ids(await one.response_chain(ALICE, "resp_3")) == ["resp_2_in", "resp_2_again", "resp_3_in",
                                                                  "resp_3_out"]
        assert await one.response_chain(ALICE, "resp_1") is None


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_a_save_waits_for_another_gateways_write_then_lands(backend: str, tmp_path: Path) -> None:
    async with storage(backend, tmp_path) as config, started(config) as one, started(config) as two:
        conv = await one.create_conversation(ALICE, {}, [])
        written, release = threading.Event(), threading.Event()

        def slow_write(tx: Tx) -> None:  # the write lock held by the other gateway
            tx.execute("UPDATE history_conversations SET metadata = $1 WHERE id = $2", '{"a": "b"}', conv.id)
            written.set()
            release.wait(30)

        writing = asyncio.ensure_future(one.db.run(slow_write))  # type: ignore[attr-defined]
        try:
            assert await asyncio.to_thread(written.wait, 30)
            saves = asyncio.gather(*(two.save_response(response(f"resp_{i}", conversation=conv.id))
                                     for i in range(3)))
            await asyncio.sleep(0.2)
            assert not saves.done()  # waiting for the lock, not failed
        finally:
            release.set()
            await writing
        await saves
        assert sorted(ids(await one.conversation_items(ALICE, conv.id))) == \
            sorted(f"resp_{i}_{kind}" for i in range(3) for kind in ("in", "out"))
        assert ids(await two.response_chain(ALICE, "resp_2")) == ["resp_2_in", "resp_2_out"]


async def test_sqlite_keeps_json_as_text_whatever_it_was_bound_as(tmp_path: Path) -> None:
    # The JSON is bound as UTF-8 bytes (no decode to str); a column must still hold TEXT, as
    # a schema-1 gateway, the sqlite3 shell or json_extract() would read it.
    async with storage("sqlite", tmp_path) as config, started(config) as store:
        conv = await store.create_conversation(ALICE, {}, [msg("m0", "héllo ✓")])
        await store.save_response(response("resp_1", conversation=conv.id, outputs=[msg("o1", "ça ✓", "assistant")]))

        def kinds(tx: Tx) -> list[tuple[str, ...]]:
            return [tuple(row) for row in tx.fetch("SELECT typeof(body), typeof(input_items), typeof(output_items) "
                                                   "FROM history_responses")] \
                + [tuple(row) for row in tx.fetch("SELECT typeof(item) FROM history_conversation_items")]

        assert await store.db.run(kinds, write=False) == [("text", "text", "text"), ("text",), ("text",), ("text",)]  # type: ignore[attr-defined]
        stored = await store.get_response(ALICE, "resp_1")
        assert stored is not None and stored.output_items[0]["content"][0]["text"] == "ça ✓"
        assert (await store.conversation_items(ALICE, conv.id) or [])[0]["content"][0]["text"] == "héllo ✓"
