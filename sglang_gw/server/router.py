"""Starlette's router, with a dict in front for the paths that name one route outright.

Starlette's `Router` tries each route's pattern in order until one matches, and each try
that fails costs about as much as a small function of ours (enum reads on Python 3.11's
slow path among it). The gateway has dozens of routes, so a request for one far down the
list (`/generate`, `/v1/embeddings`) paid for every one before it (docs/performance.md,
"Per request, second pass").

:class:`ExactPathRouter` first looks the request's path and method up in a dict built once
from the routes without path parameters. A hit runs that route just as Starlette would
(the same `scope["route"]`, `endpoint` and `path_params`); anything else (paths with
parameters, a wrong method's 405, 404s, a `root_path`) goes through Starlette's own loop.
A path enters the dict only when no route before it in the list matches it too, so the
dict never picks a route the loop would not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

__all__ = ["ExactPathRouter", "exact_routes"]


def exact_routes(routes: Sequence[BaseRoute]) -> dict[tuple[str, str], Route]:
    """(path, method) → the route Starlette's loop would run for it, for the routes whose
    path has no parameters."""
    table: dict[tuple[str, str], Route] = {}
    for i, route in enumerate(routes):
        if not isinstance(route, Route) or route.param_convertors or not route.methods:
            continue
        for method in route.methods:
            key = (route.path, method)
            probe = {"type": "http", "path": route.path, "root_path": "", "method": method}
            if key not in table and not any(r.matches(probe)[0] is Match.FULL for r in routes[:i]):
                table[key] = route
    return table


class ExactPathRouter(Router):
    """`Router`, with the exact paths found through a dict first (see the module docstring)."""

    def __init__(self, routes: Sequence[BaseRoute] | None = None, **kwargs: Any) -> None:
        super().__init__(routes, **kwargs)
        self.exact = exact_routes(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.exact.get((scope["path"], scope["method"])) if scope["type"] == "http" else None
        if route is None or scope.get("root_path"):
            await super().app(scope, receive, send)
            return
        # What Starlette's loop leaves in the scope for a full match.
        scope.setdefault("router", self)
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = dict(scope.get("path_params", {}))
        await route.handle(scope, receive, send)
