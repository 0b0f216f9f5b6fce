"""A history store whose calls are spans of the request that makes them (--enable-trace).

Wraps any backend: each coroutine method becomes a `history.<method>` child span of the
current request's trace (tracing.py), with the backend's class as an attribute and an
error status when the call raised. Calls made outside a traced request (start-up, the
background runs' own bookkeeping after their request ended) pass straight through.
Only built when tracing is on, so an untraced gateway calls its store directly.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from sglang_gw import tracing
from sglang_gw.history.base import HistoryStore

__all__ = ["TracedHistory"]


class TracedHistory:
    """`HistoryStore` around another one, adding a span per call."""

    def __init__(self, inner: HistoryStore) -> None:
        self.inner = inner
        self._backend = type(inner).__name__

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attr):
            return attr
        traced = self._traced(name, attr)
        setattr(self, name, traced)  # once per method: later calls skip __getattr__
        return traced

    def _traced(self, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        backend = self._backend

        @wraps(call)
        async def traced(*args: Any, **kwargs: Any) -> Any:
            trace = tracing.current()
            if trace is None:
                return await call(*args, **kwargs)
            start = time.time_ns()
            error: BaseException | None = None
            try:
                return await call(*args, **kwargs)
            except BaseException as err:
                error = err
                raise
            finally:
                trace.record(f"history.{name}", start, time.time_ns(), {"history_backend": backend}, error)

        return traced
