"""The history store over SQL, shared by the SQLite and PostgreSQL backends.

One schema, versioned in `history_schema_version`, created or migrated at start-up. Items
are kept as JSON text: a response's input and output items as two JSON arrays in its own
row (saving a response writes one row: each row of another table or index is one more page
for every commit to write), a conversation's one row each, in order; an item appended to a
conversation by a response is a copy, so deleting one never changes the other.

Each public method is one transaction, written as a plain function over a DB-API cursor
(`Tx`) that the backend's `Database` runs whole (`run_quick`): in one of its worker threads,
or on the event loop where that never waits (SQLite, see sqlite.py); at most one trip off
the loop per call, however many statements it takes (a trip per statement cost a turn of
/v1/responses more CPU than the rest of the request). A failure rolls the transaction back
whole and surfaces as HistoryUnavailable.

With `cache_chains` (SQLite), the contexts of the responses this process read or wrote are
kept (chains.py), so a continuation usually reads nothing. Every change to a response that
already existed (delete, save again) adds one to `history_epoch` in its transaction; before
using the cache, the store asks the backend whether any other connection has committed
since it last looked (`others_committed`, SQLite's data_version), and only then reads the
epoch, clearing the cache when it moved.

A response's JSON is encoded once (`ResponseJson`: the caller may hand it over already
encoded, the same bytes it answers the client with) and bound as the backend takes it
(`json_arg`, `json_text`): as UTF-8 bytes on SQLite, never decoded to `str` to be encoded
back by the driver.

Queries use `$n` placeholders; each backend rewrites them into its driver's style.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeAlias, TypeVar

import msgspec

from sglang_gw.errors import ConfigError, InvalidRequestError
from sglang_gw.history.base import (
    FINAL_STATUSES,
    Conversation,
    ItemPage,
    Order,
    ResponseJson,
    StoredResponse,
    new_conversation_id,
    page_of,
)
from sglang_gw.history.chains import Chain, ChainCache

__all__ = ["MIGRATIONS", "Database", "SqlHistory", "Tx"]

T = TypeVar("T")

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
MAX_CHAIN = 10_000  # a previous_response_id chain longer than this is cut (ids cannot cycle; this is a bound)
MAX_CACHED_CHAINS = 4096  # contexts a process keeps (cache_chains): about one per conversation in flight




class Tx(Protocol):
    """One open transaction, used from the backend's worker thread."""

    def fetch(self, sql: str, *args: Any) -> Sequence[Sequence[Any]]: ...

    def execute(self, sql: str, *args: Any) -> int:
        """Rows changed."""

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run `sql` once per row (none: nothing)."""


def _inline_response_items(tx: Tx) -> None:
    """Schema 2: each response's items, from rows of their own into two JSON arrays of its row."""
    arrays: dict[str, tuple[list[str], list[str]]] = {}
    for response_id, kind, item in tx.fetch("SELECT response_id, kind, item FROM history_response_items "
                                            "ORDER BY response_id, kind, position"):
        arrays.setdefault(response_id, ([], []))[int(kind)].append(item)
    tx.executemany("UPDATE history_responses SET input_items = $2, output_items = $3 WHERE id = $1",
                   [(rid, f"[{','.join(i)}]", f"[{','.join(o)}]") for rid, (i, o) in arrays.items()])


Migration: TypeAlias = "str | Callable[[Tx], None]"
# Each entry moves the schema up one version; never edit one that has shipped, add another.
MIGRATIONS: list[list[Migration]] = [
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
    [
        "ALTER TABLE history_responses ADD COLUMN input_items TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE history_responses ADD COLUMN output_items TEXT NOT NULL DEFAULT '[]'",
        _inline_response_items,
        "DROP TABLE history_response_items",
        # Moves at every change to an existing response (see the module's docstring).
        "CREATE TABLE history_epoch (epoch BIGINT NOT NULL)",
        "INSERT INTO history_epoch (epoch) VALUES (0)",
    ],
]


class Database(Protocol):
    """A backend's connection(s); every error it meets is raised as HistoryUnavailable."""

    lock_rows: str  # " FOR UPDATE" where rows can be locked, "" where a transaction locks the database
    lock_schema: str  # a statement that makes migrations take turns across gateways, or "" (the same)
    # SQL that stores a JSON text bound as `json_arg` gives it in a TEXT column, "{}" its placeholder.
    json_text: str
    json_arg: Callable[[bytes], Any]  # a JSON text (UTF-8, as msgspec writes it) as this backend binds it

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def run(self, work: Callable[..., T], *args: Any, write: bool = True) -> T:
        """`work(tx, *args)` in one transaction in a worker thread, committed if it returns;
        a read-only one (`write=False`) takes no write lock."""

    async def run_quick(self, work: Callable[..., T], *args: Any, write: bool = True) -> T:
        """As `run`, for work that does nothing slow but its queries: the backend may run it
        on the event loop when that cannot wait on anything."""

    def others_committed(self) -> bool:
        """Whether another connection may have committed since the last call."""


class SqlHistory:
    """The HistoryStore: each method one transaction, run by the backend's `Database`."""

    def __init__(self, db: Database, *, cache_chains: bool = False) -> None:
        self.db = db
        self.chains = ChainCache(MAX_CACHED_CHAINS, MAX_CHAIN) if cache_chains else None
        self._epoch: int | None = None  # history_epoch when the cache was last checked
        json = db.json_text.format
        insert = ("INSERT INTO history_responses (id, owner, created_at, model, status, body, previous_response_id, "
                  "conversation_id, input_items, output_items, appended) "
                  f"VALUES ($1, $2, $3, $4, $5, {json('$6')}, $7, $8, {json('$9')}, {json('$10')}, $11) "
                  "ON CONFLICT (id) DO ")
        self._insert_response = insert + "NOTHING"
        self._upsert_response = insert + (
            "UPDATE SET created_at = excluded.created_at, model = excluded.model, status = excluded.status, "
            "body = excluded.body, previous_response_id = excluded.previous_response_id, "
            "conversation_id = excluded.conversation_id, input_items = excluded.input_items, "
            "output_items = excluded.output_items, appended = excluded.appended")
        self._insert_item = ("INSERT INTO history_conversation_items (conversation_id, position, item_id, item) "
                             f"VALUES ($1, $2, $3, {json('$4')})")

    async def start(self) -> None:
        await self.db.open()
        await self.db.run(self._migrate)

    async def close(self) -> None:
        await self.db.close()

    def _migrate(self, tx: Tx) -> None:
        if self.db.lock_schema:
            tx.fetch(self.db.lock_schema)
        _migrate(tx, MIGRATIONS)

    # ---- responses ---------------------------------------------------------------------

    async def save_response(self, response: StoredResponse) -> None:
        # Encoded here, on the loop: the caller's objects are never read from another thread.
        r = response
        encoded = r.json or ResponseJson.of(r.body, r.input_items, r.output_items)
        arg = self.db.json_arg
        appends = r.conversation_id is not None and r.status in FINAL_STATUSES  # its items join the conversation
        items = self._rows([*r.input_items, *r.output_items]) if appends else []
        chains = self.chains
        generation = chains.generation if chains is not None else 0
        saved_again = await self.db.run_quick(
            self._save_response, r.id, r.owner, r.conversation_id if appends else None,
            (r.id, r.owner, r.created_at, r.model, r.status, arg(encoded.head), r.previous_response_id,
             r.conversation_id, arg(encoded.input), arg(encoded.output)), items)
        if chains is None:
            return
        if saved_again:
            chains.clear()
        elif r.status in FINAL_STATUSES:
            base = Chain(r.owner, 0, ()) if r.previous_response_id is None else chains.get(r.owner,
                                                                                        r.previous_response_id)
            if base is not None:
                chains.put(r.id, Chain(r.owner, base.depth + 1, base.parts + _inside(encoded.input, encoded.output)),
                           generation)

    def _save_response(self, tx: Tx, response_id: str, owner: str, append_to: str | None, row: tuple[Any, ...],
                       items: list[tuple[str, Any]]) -> bool:
        """Whether a response already stored was changed (then the epoch moved); `append_to`:
        the conversation its `items` join, unless they did already."""
        # Most saves are of a new response: one statement, unless the id is taken.
        if tx.execute(self._insert_response, *row, int(append_to is not None)):
            if append_to is not None:
                self._append(tx, owner, append_to, items)
            return False
        held = tx.fetch(f"SELECT owner, appended FROM history_responses WHERE id = $1{self.db.lock_rows}",
                        response_id)
        if held and held[0][0] != owner:
            return False  # ids are unguessable: a clash is never another owner's to overwrite
        appended = bool(held and held[0][1])
        if not appended and append_to is not None:
            self._append(tx, owner, append_to, items)
            appended = True
        tx.execute(self._upsert_response, *row, int(appended))
        if held:
            self._changed(tx)
        return bool(held)

    def _rows(self, items: list[dict[str, Any]]) -> list[tuple[str, Any]]:
        """(id, JSON text as bound) of each item."""
        arg = self.db.json_arg
        return [(item["id"], arg(_encode(item))) for item in items]

    def _changed(self, tx: Tx) -> None:
        """A stored response changed: move the epoch, so other processes' caches are cleared."""
        if self.chains is not None:
            tx.execute("UPDATE history_epoch SET epoch = epoch + 1")

    async def get_response(self, owner: str, response_id: str) -> StoredResponse | None:
        return await self.db.run_quick(_get_response, owner, response_id, write=False)

    async def delete_response(self, owner: str, response_id: str) -> bool:
        deleted = await self.db.run_quick(self._delete_response, owner, response_id)
        if deleted and self.chains is not None:
            self.chains.clear()
        return deleted

    def _delete_response(self, tx: Tx, owner: str, response_id: str) -> bool:
        if not tx.execute("DELETE FROM history_responses WHERE id = $1 AND owner = $2", response_id, owner):
            return False
        self._changed(tx)
        return True

    async def response_chain(self, owner: str, response_id: str) -> list[dict[str, Any]] | None:
        chains = self.chains
        if chains is not None:
            if self.db.others_committed() or self._epoch is None:
                await self._check_epoch(chains)
            hit = chains.get(owner, response_id)
            if hit is not None:
                return hit.decoded()
        generation = chains.generation if chains is not None else 0
        found = await self.db.run_quick(_response_chain, owner, response_id, write=False)
        if found is None:
            return None
        chain = Chain(owner, *found)
        if chains is not None:
            chains.put(response_id, chain, generation)
        return chain.decoded()

    async def _check_epoch(self, chains: ChainCache) -> None:
        """Another connection has committed (or nothing was checked yet): clear the cache if
        a response was changed since it was last checked (by anyone)."""
        generation = chains.generation
        epoch = await self.db.run_quick(_epoch, write=False)
        if epoch != self._epoch:
            if chains.generation == generation:  # no clear meanwhile that an older epoch could undo
                self._epoch = epoch
            chains.clear()

    async def list_input_items(self, owner: str, response_id: str, *, after: str | None, limit: int,
                               order: Order) -> ItemPage | None:
        return await self.db.run_quick(_list_input_items, owner, response_id, after, limit, order, write=False)

    # ---- conversations -------------------------------------------------------------------

    async def create_conversation(self, owner: str, metadata: dict[str, str],
                                  items: list[dict[str, Any]]) -> Conversation:
        conv = Conversation(new_conversation_id(), owner, int(time.time()), dict(metadata))
        await self.db.run_quick(self._create_conversation, conv, _text(conv.metadata), self._rows(items))
        return conv

    def _create_conversation(self, tx: Tx, conv: Conversation, metadata: str, items: list[tuple[str, Any]]) -> None:
        tx.execute("INSERT INTO history_conversations (id, owner, created_at, metadata) VALUES ($1, $2, $3, $4)",
                   conv.id, conv.owner, conv.created_at, metadata)
        self._append(tx, conv.owner, conv.id, items)

    async def get_conversation(self, owner: str, conversation_id: str) -> Conversation | None:
        return await self.db.run_quick(_get_conversation, owner, conversation_id, write=False)

    async def update_conversation(self, owner: str, conversation_id: str,
                                  metadata: dict[str, str]) -> Conversation | None:
        created_at = await self.db.run_quick(self._update_conversation, owner, conversation_id, _text(metadata))
        return None if created_at is None else Conversation(conversation_id, owner, created_at, dict(metadata))

    def _update_conversation(self, tx: Tx, owner: str, conversation_id: str, metadata: str) -> int | None:
        rows = tx.fetch(f"SELECT created_at FROM history_conversations WHERE id = $1 AND owner = $2"
                        f"{self.db.lock_rows}", conversation_id, owner)
        if not rows:
            return None
        tx.execute("UPDATE history_conversations SET metadata = $2 WHERE id = $1", conversation_id, metadata)
        return int(rows[0][0])

    async def delete_conversation(self, owner: str, conversation_id: str) -> bool:
        return await self.db.run_quick(_delete_conversation, owner, conversation_id)

    async def add_items(self, owner: str, conversation_id: str,
                        items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        rows = self._rows(items)
        if not await self.db.run_quick(self._append, owner, conversation_id, rows):
            return None
        return [_decode(text) for _, text in rows]  # as stored: through JSON

    async def list_items(self, owner: str, conversation_id: str, *, after: str | None, limit: int,
                         order: Order) -> ItemPage | None:
        return await self.db.run_quick(_list_items, owner, conversation_id, after, limit, order, write=False)

    async def get_item(self, owner: str, conversation_id: str, item_id: str) -> dict[str, Any] | None:
        return await self.db.run_quick(_get_item, owner, conversation_id, item_id, write=False)

    async def delete_item(self, owner: str, conversation_id: str, item_id: str) -> bool:
        return await self.db.run_quick(_delete_item, owner, conversation_id, item_id)

    async def conversation_items(self, owner: str, conversation_id: str) -> list[dict[str, Any]] | None:
        return await self.db.run_quick(_conversation_items, owner, conversation_id, write=False)

    def _append(self, tx: Tx, owner: str, conversation_id: str, items: list[tuple[str, Any]]) -> bool:
        """Append to the conversation, after its last item; False (nothing written) when the
        owner has no such conversation. The conversation's row is locked first, so two
        gateways appending at once take turns."""
        if not _owns(tx, owner, conversation_id, lock=self.db.lock_rows):
            return False
        last = tx.fetch("SELECT MAX(position) FROM history_conversation_items WHERE conversation_id = $1",
                        conversation_id)
        start = (last[0][0] if last and last[0][0] is not None else -1) + 1
        tx.executemany(self._insert_item,
                       [(conversation_id, start + i, item_id, text) for i, (item_id, text) in enumerate(items)])
        return True


# ---- the transactions that need nothing of the backend -------------------------------------


def _get_response(tx: Tx, owner: str, response_id: str) -> StoredResponse | None:
    rows = tx.fetch("SELECT created_at, model, status, body, previous_response_id, conversation_id, input_items, "
                    "output_items FROM history_responses WHERE id = $1 AND owner = $2", response_id, owner)
    if not rows:
        return None
    created_at, model, status, body, previous, conversation, inputs, outputs = rows[0]
    outputs = _decode(outputs)
    body = _decode(body)
    body.setdefault("output", outputs)  # kept once, in output_items (rows of schema v2 hold it twice)
    return StoredResponse(response_id, owner, int(created_at), model, status, body, _decode(inputs), outputs,
                          previous, conversation)


def _response_chain(tx: Tx, owner: str, response_id: str) -> tuple[int, tuple[str, ...]] | None:
    """(responses in the chain, its items as Chain.parts oldest first), or None: no such response."""
    rows = tx.fetch(
        "WITH RECURSIVE chain (previous, depth, inputs, outputs) AS ("
        " SELECT previous_response_id, 0, input_items, output_items FROM history_responses"
        " WHERE id = $1 AND owner = $2"
        " UNION ALL SELECT r.previous_response_id, chain.depth + 1, r.input_items, r.output_items"
        " FROM history_responses r JOIN chain ON r.id = chain.previous WHERE r.owner = $2 AND chain.depth < $3) "
        "SELECT inputs, outputs FROM chain ORDER BY depth DESC", response_id, owner, MAX_CHAIN)
    if not rows:
        return None
    return len(rows), _inside(*(array.encode() for row in rows for array in row))


def _epoch(tx: Tx) -> int:
    rows = tx.fetch("SELECT epoch FROM history_epoch")
    return int(rows[0][0]) if rows else 0


def _list_input_items(tx: Tx, owner: str, response_id: str, after: str | None, limit: int,
                      order: Order) -> ItemPage | None:
    rows = tx.fetch("SELECT input_items FROM history_responses WHERE id = $1 AND owner = $2", response_id, owner)
    return page_of(_decode(rows[0][0]), after=after, limit=limit, order=order) if rows else None


def _get_conversation(tx: Tx, owner: str, conversation_id: str) -> Conversation | None:
    rows = tx.fetch("SELECT created_at, metadata FROM history_conversations WHERE id = $1 AND owner = $2",
                    conversation_id, owner)
    return Conversation(conversation_id, owner, int(rows[0][0]), _decode(rows[0][1])) if rows else None


def _delete_conversation(tx: Tx, owner: str, conversation_id: str) -> bool:
    if not tx.execute("DELETE FROM history_conversations WHERE id = $1 AND owner = $2", conversation_id, owner):
        return False
    tx.execute("DELETE FROM history_conversation_items WHERE conversation_id = $1", conversation_id)
    return True


def _list_items(tx: Tx, owner: str, conversation_id: str, after: str | None, limit: int,
                order: Order) -> ItemPage | None:
    if not _owns(tx, owner, conversation_id):
        return None
    return _page(tx, "history_conversation_items", "conversation_id = $1", conversation_id,
                 after=after, limit=limit, order=order)


def _get_item(tx: Tx, owner: str, conversation_id: str, item_id: str) -> dict[str, Any] | None:
    if not _owns(tx, owner, conversation_id):
        return None
    rows = tx.fetch("SELECT item FROM history_conversation_items WHERE conversation_id = $1 AND item_id = $2 "
                    "ORDER BY position LIMIT 1", conversation_id, item_id)
    return _decode(rows[0][0]) if rows else None


def _delete_item(tx: Tx, owner: str, conversation_id: str, item_id: str) -> bool:
    if not _owns(tx, owner, conversation_id):
        return False
    return bool(tx.execute("DELETE FROM history_conversation_items WHERE conversation_id = $1 AND item_id = $2",
                           conversation_id, item_id))


def _conversation_items(tx: Tx, owner: str, conversation_id: str) -> list[dict[str, Any]] | None:
    if not _owns(tx, owner, conversation_id):
        return None
    rows = tx.fetch("SELECT item FROM history_conversation_items WHERE conversation_id = $1 ORDER BY position",
                    conversation_id)
    return [_decode(row[0]) for row in rows]


def _owns(tx: Tx, owner: str, conversation_id: str, *, lock: str = "") -> bool:
    return bool(tx.fetch(f"SELECT 1 FROM history_conversations WHERE id = $1 AND owner = $2{lock}",
                         conversation_id, owner))


def _text(value: Any) -> str:
    return _encode(value).decode()




def _inside(*arrays: bytes) -> tuple[bytes, ...]:
    """The insides of JSON arrays (Chain.parts), empty ones left out."""
    return tuple([array[1:-1] for array in arrays if len(array) > 2])


def _migrate(tx: Tx, migrations: list[list[Migration]]) -> None:
    """Apply the migrations past the stored version (in the caller's transaction)."""
    tx.execute("CREATE TABLE IF NOT EXISTS history_schema_version (version INTEGER NOT NULL)")
    rows = tx.fetch("SELECT version FROM history_schema_version")
    version = int(rows[0][0]) if rows else 0
    if version > len(migrations):
        raise ConfigError(f"the history database is at schema version {version}, newer than this gateway's "
                          f"{len(migrations)}: upgrade the gateway, or point it at another database")
    for statements in migrations[version:]:
        for statement in statements:
            if callable(statement):
                statement(tx)
            else:
                tx.execute(statement)
    if not rows:
        tx.execute("INSERT INTO history_schema_version (version) VALUES ($1)", len(migrations))
    elif version < len(migrations):
        tx.execute("UPDATE history_schema_version SET version = $1", len(migrations))


def _page(tx: Tx, table: str, where: str, key: str, *, after: str | None, limit: int, order: Order) -> ItemPage:
    """`limit` items of `table` (those matching `where`, $1 being `key`) past the item
    `after`, in `order` of position; an `after` not among them is a 400 naming it."""
    compare, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
    bound = ""
    args: list[Any] = [key, limit + 1]
    if after is not None:
        rows = tx.fetch(f"SELECT MIN(position) FROM {table} WHERE {where} AND item_id = $2", key, after)
        if not rows or rows[0][0] is None:
            raise InvalidRequestError(f"`after`: no item {after!r} in this list", param="after")
        bound = f" AND position {compare} $3"
        args.append(rows[0][0])
    rows = tx.fetch(f"SELECT item FROM {table} WHERE {where}{bound} ORDER BY position {direction} LIMIT $2", *args)
    return ItemPage([_decode(row[0]) for row in rows[:limit]], has_more=len(rows) > limit)
