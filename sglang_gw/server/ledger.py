"""What one HTTP request holds, given back once when the request ends.

A request may hold an admission slot (taken by the edge, server/middleware.py) and calls
on workers (its `Generation`s, a proxied call). Each holding is given back on its usual
road: a stream's cleanup closes its generation, `Generation.close` ends the worker call.
Those roads are many (an answer, a worker error before or after the first token, a retry,
a timeout, a hang-up before or after the first token, a stop string, a stage's bug, a
response that never ran), so the ledger is the one place that makes sure: the edge
settles it in the `finally` that ends every request, and whatever was not given back yet
is given back then. Every release is idempotent, so one given back twice counts once.

    ledger = Ledger()                 # the edge, per request: scope[LEDGER]
    ledger.hold(slot_release)         # admission
    ledger.hold(partial(gen.close, None))  # each generation (server/handling.py)
    ...
    ledger.settle()                   # the edge's finally: newest first
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.types import Scope

__all__ = ["LEDGER", "Ledger", "ledger_of"]

log = logging.getLogger(__name__)

LEDGER = "sglang_gw.ledger"  # the scope key


class Ledger:
    """Releases to run when the request ends, newest first (worker calls before the slot)."""

    __slots__ = ("_releases",)

    def __init__(self) -> None:
        self._releases: list[Callable[[], Any]] = []

    def hold(self, release: Callable[[], Any]) -> None:
        """Give `release` (idempotent) the last word on something the request holds."""
        self._releases.append(release)

    def settle(self) -> None:
        """Run every release, once; one that raises does not stop the others."""
        releases, self._releases = self._releases, []
        for release in reversed(releases):
            try:
                release()
            except Exception:  # a bug in one release must not leak the rest
                log.exception("releasing a request's holding failed")


def ledger_of(scope: Scope) -> Ledger | None:
    """The request's ledger; None when no edge runs (an app built without it, in tests)."""
    return scope.get(LEDGER)
