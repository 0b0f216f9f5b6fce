"""The history store over SQL, shared by the SQLite and PostgreSQL backends.

One schema, versioned in `history_schema_version`, created or migrated at start-up. Items
are kept as JSON text: with a response (its input and output items, in order) and with a
conversation (in order); an item appended to a conversation by a response is a copy, so
deleting one never changes the other. Each public method is one transaction: a failure
rolls it back whole and surfaces as HistoryUnavailable (from the backend's `Database`).

Queries use PostgreSQL's `$n` placeholders; the SQLite backend reads them as `?n`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import msgspec

from sglang_gw.errors import ConfigError, InvalidRequestError
from sglang_gw.history.base import FINAL_STATUSES, Conversation, ItemPage, Order, StoredResponse, new_conversation_id

__all__ = ["MIGRATIONS", "Database", "SqlHistory", "Tx"]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
INPUT, OUTPUT = 0, 1
MAX_CHAIN = 10_000  # a previous_response_id chain longer than this is cut (ids cannot cycle; this is a bound)

# Each entry moves the schema up one version; never edit one that has shipped, add another.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE history_responses (
            id TEXT PRIMARY KEY, owner TEXT NOT NULL, created_at BIGINT NOT NULL, model TEXT NOT NULL,
            status TEXT NOT NULL, body TEXT NOT NULL, previous_response_id TEXT, conversation_id TEXT,
            appended INTEGER NOT NULL DEFAULT 0)""",
        """CREATE TABLE history_response_items (
            response_id TEXT NOT NULL, kind INTEGER NOT NULL, position INTEGER NOT NULL, item_id TEXT NOT NULL,
            item TEXT NOT NULL, PRIMARY KEY (response_id, kind, position))""",
        "CREATE INDEX history_response_items_by_id ON history_response_items (response_id, item_id)",
        """CREATE TABLE history_conversations (
            id TEXT PRIMARY KEY, owner TEXT NOT NULL, created_at BIGINT NOT NULL, metadata TEXT NOT NULL)""",
        """CREATE TABLE history_conversation_items (
            conversation_id TEXT NOT NULL, position BIGINT NOT NULL, item_id TEXT NOT NULL, item TEXT NOT NULL,
            PRIMARY KEY (conversation_id, position))""",
        "CREATE INDEX history_conversation_items_by_id ON history_conversation_items (conversation_id, item_id)",
    ],
]


class Tx(Protocol):
    """One open transaction."""

    async def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]: ...

    async def execute(self, sql: str, *args: Any) -> int:
        """Rows changed."""

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run `sql` once per row (none: nothing)."""


class Database(Protocol):
    """A backend's connection(s); every error it meets is raised as HistoryUnavailable."""

    lock_rows: str  # " FOR UPDATE" where rows can be locked, "" where a transaction locks the database
    lock_schema: str  # a statement that makes migrations take turns across gateways, or "" (the same)

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Tx]:
        """One transaction; a read-only one (`write=False`) takes no write lock."""


class SqlHistory:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self) -> None:
        await self.db.open()
        async with self.db.transaction() as tx:
            if self.db.lock_schema:
                await tx.fetch(self.db.lock_schema)
            await _migrate(tx, MIGRATIONS)

    async def close(self) -> None:
        await self.db.close()

    # ---- responses ---------------------------------------------------------------------

    async def save_response(self, response: StoredResponse) -> None:
        r = response
        async with self.db.transaction() as tx:
            held = await tx.fetch(f"SELECT owner, appended FROM history_responses WHERE id = $1{self.db.lock_rows}",
                                  r.id)
            if held and held[0][0] != r.owner:
                return  # ids are unguessable: a clash is never another owner's to overwrite
            appended = bool(held and held[0][1])
            if not appended and r.status in FINAL_STATUSES and r.conversation_id is not None:
                await self._append(tx, r.owner, r.conversation_id, [*r.input_items, *r.output_items])
                appended = True
            await tx.execute(
                "INSERT INTO history_responses (id, owner, created_at, model, status, body, previous_response_id, "
                "conversation_id, appended) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE "
                "SET created_at = $3, model = $4, status = $5, body = $6, previous_response_id = $7, "
                "conversation_id = $8, appended = $9",
                r.id, r.owner, r.created_at, r.model, r.status, _encode(r.body).decode(), r.previous_response_id,
                r.conversation_id, int(appended))
            await tx.execute("DELETE FROM history_response_items WHERE response_id = $1", r.id)
            rows = [(r.id, kind, i, item["id"], _encode(item).decode())
                    for kind, items in ((INPUT, r.input_items), (OUTPUT, r.output_items))
                    for i, item in enumerate(items)]
            await tx.executemany("INSERT INTO history_response_items (response_id, kind, position, item_id, item) "
                                 "VALUES ($1, $2, $3, $4, $5)", rows)

    async def get_response(self, owner: str, response_id: str) -> StoredResponse | None:
        async with self.db.transaction(write=False) as tx:
            rows = await tx.fetch("SELECT created_at, model, status, body, previous_response_id, conversation_id "
                                  "FROM history_responses WHERE id = $1 AND owner = $2", response_id, owner)
            if not rows:
                return None
            items = await tx.fetch("SELECT kind, item FROM history_response_items WHERE response_id = $1 "
                                   "ORDER BY kind, position", response_id)
        created_at, model, status, body, previous, conversation = rows[0]
        return StoredResponse(response_id, owner, int(created_at), model, status, _decode(body),
                              [_decode(i) for k, i in items if k == INPUT],
                              [_decode(i) for k, i in items if k == OUTPUT], previous, conversation)

    async def delete_response(self, owner: str, response_id: str) -> bool:
        async with self.db.transaction() as tx:
            if not await tx.execute("DELETE FROM history_responses WHERE id = $1 AND owner = $2", response_id, owner):
                return False
            await tx.execute("DELETE FROM history_response_items WHERE response_id = $1", response_id)
        return True

    async def response_chain(self, owner: str, response_id: str) -> list[dict[str, Any]] | None:
        async with self.db.transaction(write=False) as tx:
            if not await tx.fetch("SELECT 1 FROM history_responses WHERE id = $1 AND owner = $2", response_id, owner):
                return None
            rows = await tx.fetch(
                "WITH RECURSIVE chain (id, previous, depth) AS ("
                " SELECT id, previous_response_id, 0 FROM history_responses WHERE id = $1 AND owner = $2"
                " UNION ALL SELECT r.id, r.previous_response_id, chain.depth + 1 FROM history_responses r"
                " JOIN chain ON r.id = chain.previous WHERE r.owner = $2 AND chain.depth < $3) "
                "SELECT i.item FROM chain JOIN history_response_items i ON i.response_id = chain.id "
                "ORDER BY chain.depth DESC, i.kind, i.position", response_id, owner, MAX_CHAIN)
        return [_decode(row[0]) for row in rows]

    async def list_input_items(self, owner: str, response_id: str, *, after: str | None, limit: int,
                               order: Order) -> ItemPage | None:
        async with self.db.transaction(write=False) as tx:
            if not await tx.fetch("SELECT 1 FROM history_responses WHERE id = $1 AND owner = $2", response_id, owner):
                return None
            return await _page(tx, "history_response_items", f"response_id = $1 AND kind = {INPUT}", response_id,
                               after=after, limit=limit, order=order)

    # ---- conversations -------------------------------------------------------------------

    async def create_conversation(self, owner: str, metadata: dict[str, str],
                                  items: list[dict[str, Any]]) -> Conversation:
        conv = Conversation(new_conversation_id(), owner, int(time.time()), dict(metadata))
        async with self.db.transaction() as tx:
            await tx.execute("INSERT INTO history_conversations (id, owner, created_at, metadata) "
                             "VALUES ($1, $2, $3, $4)", conv.id, owner, conv.created_at, _encode(metadata).decode())
            await self._append(tx, owner, conv.id, items)
        return conv

    async def get_conversation(self, owner: str, conversation_id: str) -> Conversation | None:
        async with self.db.transaction(write=False) as tx:
            rows = await tx.fetch("SELECT created_at, metadata FROM history_conversations WHERE id = $1 AND owner = $2",
                                  conversation_id, owner)
        return Conversation(conversation_id, owner, int(rows[0][0]), _decode(rows[0][1])) if rows else None

    async def update_conversation(self, owner: str, conversation_id: str,
                                  metadata: dict[str, str]) -> Conversation | None:
        async with self.db.transaction() as tx:
            rows = await tx.fetch("SELECT created_at FROM history_conversations WHERE id = $1 AND owner = $2"
                                  f"{self.db.lock_rows}", conversation_id, owner)
            if not rows:
                return None
            await tx.execute("UPDATE history_conversations SET metadata = $2 WHERE id = $1", conversation_id,
                             _encode(metadata).decode())
        return Conversation(conversation_id, owner, int(rows[0][0]), dict(metadata))

    async def delete_conversation(self, owner: str, conversation_id: str) -> bool:
        async with self.db.transaction() as tx:
            if not await tx.execute("DELETE FROM history_conversations WHERE id = $1 AND owner = $2",
                                    conversation_id, owner):
                return False
            await tx.execute("DELETE FROM history_conversation_items WHERE conversation_id = $1", conversation_id)
        return True

    async def add_items(self, owner: str, conversation_id: str,
                        items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        async with self.db.transaction() as tx:
            if not await self._append(tx, owner, conversation_id, items):
                return None
        return _decode(_encode(items))

    async def list_items(self, owner: str, conversation_id: str, *, after: str | None, limit: int,
                         order: Order) -> ItemPage | None:
        async with self.db.transaction(write=False) as tx:
            if not await self._owns(tx, owner, conversation_id):
                return None
            return await _page(tx, "history_conversation_items", "conversation_id = $1", conversation_id,
                               after=after, limit=limit, order=order)

    async def get_item(self, owner: str, conversation_id: str, item_id: str) -> dict[str, Any] | None:
        async with self.db.transaction(write=False) as tx:
            if not await self._owns(tx, owner, conversation_id):
                return None
            rows = await tx.fetch("SELECT item FROM history_conversation_items WHERE conversation_id = $1 "
                                  "AND item_id = $2 ORDER BY position LIMIT 1", conversation_id, item_id)
        return _decode(rows[0][0]) if rows else None

    async def delete_item(self, owner: str, conversation_id: str, item_id: str) -> bool:
        async with self.db.transaction() as tx:
            if not await self._owns(tx, owner, conversation_id):
                return False
            return bool(await tx.execute("DELETE FROM history_conversation_items WHERE conversation_id = $1 "
                                         "AND item_id = $2", conversation_id, item_id))

    async def conversation_items(self, owner: str, conversation_id: str) -> list[dict[str, Any]] | None:
        async with self.db.transaction(write=False) as tx:
            if not await self._owns(tx, owner, conversation_id):
                return None
            rows = await tx.fetch("SELECT item FROM history_conversation_items WHERE conversation_id = $1 "
                                  "ORDER BY position", conversation_id)
        return [_decode(row[0]) for row in rows]

    # ---- helpers -------------------------------------------------------------------------

    async def _owns(self, tx: Tx, owner: str, conversation_id: str, *, lock: bool = False) -> bool:
        suffix = self.db.lock_rows if lock else ""
        return bool(await tx.fetch(f"SELECT 1 FROM history_conversations WHERE id = $1 AND owner = $2{suffix}",
                                   conversation_id, owner))

    async def _append(self, tx: Tx, owner: str, conversation_id: str, items: list[dict[str, Any]]) -> bool:
        """Append to the conversation, after its last item; False (nothing written) when the
        owner has no such conversation. The conversation's row is locked first, so two
        gateways appending at once take turns."""
        if not await self._owns(tx, owner, conversation_id, lock=True):
            return False
        last = await tx.fetch("SELECT MAX(position) FROM history_conversation_items WHERE conversation_id = $1",
                              conversation_id)
        start = (last[0][0] if last and last[0][0] is not None else -1) + 1
        await tx.executemany("INSERT INTO history_conversation_items (conversation_id, position, item_id, item) "
                             "VALUES ($1, $2, $3, $4)",
                             [(conversation_id, start + i, item["id"], _encode(item).decode())
                              for i, item in enumerate(items)])
        return True


async def _migrate(tx: Tx, migrations: list[list[str]]) -> None:
    """Apply the migrations past the stored version (in the caller's transaction)."""
    await tx.execute("CREATE TABLE IF NOT EXISTS history_schema_version (version INTEGER NOT NULL)")
    rows = await tx.fetch("SELECT version FROM history_schema_version")
    version = int(rows[0][0]) if rows else 0
    if version > len(migrations):
        raise ConfigError(f"the history database is at schema version {version}, newer than this gateway's "
                          f"{len(migrations)}: upgrade the gateway, or point it at another database")
    for statements in migrations[version:]:
        for statement in statements:
            await tx.execute(statement)
    if not rows:
        await tx.execute("INSERT INTO history_schema_version (version) VALUES ($1)", len(migrations))
    elif version < len(migrations):
        await tx.execute("UPDATE history_schema_version SET version = $1", len(migrations))


async def _page(tx: Tx, table: str, where: str, key: str, *, after: str | None, limit: int,
                order: Order) -> ItemPage:
    """`limit` items of `table` (those matching `where`, $1 being `key`) past the item
    `after`, in `order` of position; an `after` not among them is a 400 naming it."""
    compare, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
    bound = ""
    args: list[Any] = [key, limit + 1]
    if after is not None:
        rows = await tx.fetch(f"SELECT MIN(position) FROM {table} WHERE {where} AND item_id = $2", key, after)
        if not rows or rows[0][0] is None:
            raise InvalidRequestError(f"`after`: no item {after!r} in this list", param="after")
        bound = f" AND position {compare} $3"
        args.append(rows[0][0])
    rows = await tx.fetch(f"SELECT item FROM {table} WHERE {where}{bound} ORDER BY position {direction} LIMIT $2",
                          *args)
    return ItemPage([_decode(row[0]) for row in rows[:limit]], has_more=len(rows) > limit)
