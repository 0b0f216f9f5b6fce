"""The exact-path dict in front of Starlette's router picks what Starlette's loop would."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match, Route
from starlette.testclient import TestClient

from sglang_gw.config import GatewayConfig
from sglang_gw.server.app import GatewayApp, build_app
from sglang_gw.server.router import exact_routes


def _echo(name: str):  # noqa: ANN202
    async def endpoint(request: Request) -> JSONResponse:
        route = request.scope["route"]
        return JSONResponse({"by": name, "route": route.path, "params": request.path_params})
    return endpoint


def test_the_gateways_exact_paths_go_where_starlettes_loop_sends_them() -> None:
    routes = build_app(GatewayConfig()).routes
    table = exact_routes(routes)
    assert ("/v1/chat/completions", "POST") in table and ("/generate", "POST") in table
    for (path, method), route in table.items():
        scope = {"type": "http", "path": path, "root_path": "", "method": method}
        assert next(r for r in routes if r.matches(scope)[0] is Match.FULL) is route


def test_a_route_with_parameters_before_an_exact_one_still_wins() -> None:
    routes = [Route("/{name}", _echo("param"), methods=["GET"]), Route("/x", _echo("exact"), methods=["GET", "POST"])]
    assert exact_routes(routes) == {("/x", "POST"): routes[1]}
    with TestClient(GatewayApp(routes=routes)) as client:
        assert client.get("/x").json() == {"by": "param", "route": "/{name}", "params": {"name": "x"}}
        assert client.post("/x").json() == {"by": "exact", "route": "/x", "params": {}}


def test_methods_and_unknown_paths_answer_as_before() -> None:
    routes = [Route("/a", _echo("get"), methods=["GET"]), Route("/a", _echo("post"), methods=["POST"]),
              Route("/b/{id}", _echo("b"), methods=["GET"])]
    with TestClient(GatewayApp(routes=routes)) as client:
        assert client.get("/a").json()["by"] == "get" and client.post("/a").json()["by"] == "post"
        assert client.head("/a").status_code == 200
        wrong = client.delete("/a")
        assert wrong.status_code == 405 and set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD"}
        assert client.get("/b/7").json() == {"by": "b", "route": "/b/{id}", "params": {"id": "7"}}
        assert client.get("/c").status_code == 404
