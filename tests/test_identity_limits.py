"""Per-tenant limits at the edge: requests/s (burst 2×) and concurrency, each tenant on its
own, under concurrent load; 429 in the route's API's shape with Retry-After; the bounded
tenant label on the metrics; the limits file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from sglang_gw.errors import ConfigError
from sglang_gw.identity.gate import Gate
from sglang_gw.identity.keys import SharedKeys, TenantKeys, parse_tenant_key
from sglang_gw.identity.labels import TenantLabels
from sglang_gw.identity.limits import TenantLimit, TenantLimits, load_tenant_limits
from sglang_gw.server.door import Door
from sglang_gw.server.errors import exception_handlers
from sglang_gw.server.middleware import EdgeMiddleware

PATHS = ("/v1/chat/completions", "/v1/messages")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Held:
    """An endpoint that holds every request until released: concurrency made visible."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running = 0

    async def endpoint(self, request: Request) -> Response:
        self.running += 1
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        return PlainTextResponse("ok")


async def instant(request: Request) -> Response:
    return PlainTextResponse("ok")


def make_app(limits: dict[str, TenantLimit], endpoint: object = instant, *, clock: Clock | None = None,
             tenants: tuple[str, ...] = ("team-a", "team-b", "team-c"), max_labels: int = 20) -> Starlette:
    keys = TenantKeys([parse_tenant_key(f"{t}:key-{t}") for t in tenants])
    tenant_limits = TenantLimits(limits, clock=clock or Clock())
    door = Door(Gate(SharedKeys(), keys), limits=tenant_limits, labels=TenantLabels(tenant_limits.tenants, max_labels))
    routes = [Route(p, endpoint, methods=["POST"]) for p in PATHS]  # type: ignore[arg-type]
    return Starlette(routes=routes, middleware=[Middleware(EdgeMiddleware, door=door, admission_paths=PATHS)],
                     exception_handlers=exception_handlers)


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


def key(tenant: str) -> dict[str, str]:
    return {"authorization": f"Bearer key-{tenant}"}


def tenant_count(tenant: str, status: int) -> float:
    return REGISTRY.get_sample_value("sgl_router_tenant_requests_total", {"tenant": tenant, "status": str(status)}) or 0


async def test_concurrency_limits_are_per_tenant_under_load() -> None:
    held = Held()
    app = make_app({"team-a": TenantLimit(max_concurrent_requests=3), "team-b": TenantLimit(max_concurrent_requests=5)},
                   held.endpoint)
    async with client(app) as c:
        tasks = {t: [asyncio.create_task(c.post("/v1/chat/completions", headers=key(t))) for _ in range(12)]
                 for t in ("team-a", "team-b", "team-c")}
        async with asyncio.timeout(10):
            while held.running < 3 + 5 + 12:  # every admitted request is in the endpoint
                await asyncio.sleep(0.005)
        refused = {t: [r for r in (x.result() for x in ts if x.done())] for t, ts in tasks.items()}
        held.release.set()
        done = {t: [r.status_code for r in await asyncio.gather(*ts)] for t, ts in tasks.items()}
    assert sorted(done["team-a"]) == [200] * 3 + [429] * 9
    assert sorted(done["team-b"]) == [200] * 5 + [429] * 7
    assert done["team-c"] == [200] * 12  # not listed: not limited
    for response in refused["team-a"] + refused["team-b"]:
        assert response.headers["retry-after"] == "1" and response.json()["error"]["type"] == "rate_limit_error"
    async with client(app) as c:  # every slot came back
        again = await asyncio.gather(*[c.post("/v1/chat/completions", headers=key("team-a")) for _ in range(3)])
    assert [r.status_code for r in again] == [200] * 3


async def test_rate_limits_burst_twice_the_rate_per_tenant() -> None:
    clock = Clock()
    app = make_app({"team-a": TenantLimit(requests_per_second=2), "team-b": TenantLimit(requests_per_second=0.5)},
                   clock=clock)
    async with client(app) as c:
        async def burst(tenant: str, n: int) -> list[httpx.Response]:
            return list(await asyncio.gather(*[c.post("/v1/chat/completions", headers=key(tenant)) for _ in range(n)]))

        a, b = await asyncio.gather(burst("team-a", 10), burst("team-b", 10))
        assert sorted(r.status_code for r in a) == [200] * 4 + [429] * 6  # burst: 2 × 2/s
        assert sorted(r.status_code for r in b) == [200] * 1 + [429] * 9  # at least one token
        assert {r.headers["retry-after"] for r in a if r.status_code == 429} == {"1"}
        assert {r.headers["retry-after"] for r in b if r.status_code == 429} == {"2"}
        clock.now += 1.0  # two tokens back for team-a, half of one for team-b
        later = [(await c.post("/v1/chat/completions", headers=key(t))).status_code
                 for t in ("team-a", "team-a", "team-a", "team-b")]
        assert later == [200, 200, 429, 429]
        anthropic = await c.post("/v1/messages", headers=key("team-a"))
    assert anthropic.status_code == 429 and anthropic.json()["error"]["type"] == "rate_limit_error"
    assert anthropic.json()["type"] == "error"


async def test_the_tenant_label_is_bounded() -> None:
    tenants = tuple(f"lbl-{n}" for n in range(6))
    app = make_app({"lbl-5": TenantLimit(requests_per_second=100)}, tenants=tenants, max_labels=2)
    before = {t: tenant_count(t, 200) for t in (*tenants, "other")}
    async with client(app) as c:
        for tenant in tenants:
            assert (await c.post("/v1/chat/completions", headers=key(tenant))).status_code == 200
    after = {t: tenant_count(t, 200) - before[t] for t in before}
    # Two first seen, plus the one the limits file names; the other three share `other`.
    assert after == {"lbl-0": 1, "lbl-1": 1, "lbl-2": 0, "lbl-3": 0, "lbl-4": 0, "lbl-5": 1, "other": 3}


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_the_limits_file(tmp_path: Path, suffix: str) -> None:
    doc = {"tenants": {"team-a": {"requests_per_second": 2, "max_concurrent_requests": 32}, "team-b": {}}}
    path = tmp_path / f"limits{suffix}"
    path.write_text(json.dumps(doc) if suffix == ".json" else
                    "tenants:\n  team-a:\n    requests_per_second: 2\n    max_concurrent_requests: 32\n  team-b: {}\n")
    assert load_tenant_limits(path) == {"team-a": TenantLimit(2.0, 32), "team-b": TenantLimit()}


@pytest.mark.parametrize("text", ["[]", "tenants: 3", "tenants: {a: {requests_per_second: -1}}",
                                  "tenants: {a: {max_concurrent_requests: 1.5}}", "tenants: {a: {rps: 1}}",
                                  "tenants: {a: {requests_per_second: true}}", "{bad yaml"])
def test_bad_limits_files_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="--tenant-rate-limit-config"):
        load_tenant_limits(path)
