"""History storage for the Responses and Conversations APIs (docs/responses.md).

`HISTORY_BACKENDS` names the stores (`--history-backend`); `open_history(config)` makes the
configured one (not started). Every backend passes tests/test_history_contract.py.

    base.py     the interface (HistoryStore), its records, HistoryUnavailable, paging
    memory.py   in-process, bounded (the default)
    none.py     keeps nothing
    sql.py      the schema (versioned migrations) and queries over SQL
    sqlite.py   one SQLite file (stdlib sqlite3, on the loop when it cannot wait, else a worker thread)
    chains.py   the contexts of recent responses, kept per process (SQLite)
    postgres.py PostgreSQL (psycopg 3 and its pool), shared by several gateways
    owner.py    who owns a stored object (API key hash or context headers)
"""

from __future__ import annotations

from sglang_gw.history.base import (
    Conversation,
    HistoryConfig,
    HistoryStore,
    HistoryUnavailable,
    ItemPage,
    StoredResponse,
)
from sglang_gw.history.owner import Owners
from sglang_gw.registry import Registry

__all__ = ["HISTORY_BACKENDS", "Conversation", "HistoryConfig", "HistoryStore", "HistoryUnavailable", "ItemPage",
           "Owners", "StoredResponse", "open_history"]

HISTORY_BACKENDS: Registry[HistoryStore] = Registry(
    "history backend",
    {
        "memory": "sglang_gw.history.memory:MemoryHistory",
        "none": "sglang_gw.history.none:NoHistory",
        "sqlite": "sglang_gw.history.sqlite:SqliteHistory",
        "postgres": "sglang_gw.history.postgres:PostgresHistory",
    },
)


def open_history(config: HistoryConfig) -> HistoryStore:
    """The configured store, constructed but not started (`await store.start()`)."""
    return HISTORY_BACKENDS.get(config.backend)(config)  # type: ignore[call-arg]
