"""Fresh, started history stores for tests, one per backend that keeps history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sglang_gw.history import HistoryConfig, HistoryStore, open_history

__all__ = ["STORING_BACKENDS", "open_store"]

STORING_BACKENDS = ["memory"]


@asynccontextmanager
async def open_store(backend: str, tmp_path: Path, **options: object) -> AsyncIterator[HistoryStore]:
    """A started store of `backend`, alone in its own file or schema, closed (and dropped) after."""
    store = open_history(HistoryConfig(backend=backend, **options))  # type: ignore[arg-type]
    await store.start()
    try:
        yield store
    finally:
        await store.close()
