"""Tenant keys (flag and reloaded file, kept hashed), roles against the control plane, and
the shared keys as before, through the edge middleware on a tiny app."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sglang_gw.cli_config import config_from_args
from sglang_gw.cli_flags import build_parser
from sglang_gw.errors import ConfigError
from sglang_gw.identity.config import IdentityConfig, parse_role_mapping
from sglang_gw.identity.gate import Gate
from sglang_gw.identity.keys import SharedKeys, TenantKeys, parse_tenant_key
from sglang_gw.identity.principal import Role
from sglang_gw.identity.tokens import JwtSettings
from sglang_gw.server.door import Door
from sglang_gw.server.errors import exception_handlers
from sglang_gw.server.middleware import EdgeMiddleware, build_middleware

API_KEY, ADMIN_KEY = "sk-shared-0123456789", "sk-admin-0123456789"
A_KEY, B_KEY = "sk-team-a-secret-1", "sk-team-b-secret-2"


async def whoami(request: Request) -> Response:
    who = request.state.identity
    return JSONResponse({"kind": who.kind, "tenant": who.tenant})


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


ROUTES = [Route("/v1/chat/completions", whoami, methods=["POST"]), Route("/v1/messages", whoami, methods=["POST"]),
          Route("/workers", ok, methods=["GET"]), Route("/flush_cache", ok, methods=["POST"])]


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def app_with(**options: object) -> Starlette:
    return Starlette(routes=ROUTES, middleware=build_middleware(**options),  # type: ignore[arg-type]
                     exception_handlers=exception_handlers)


def tenant_config(*entries: str, path: Path | None = None) -> IdentityConfig:
    return IdentityConfig(tenant_api_keys=tuple(parse_tenant_key(e) for e in entries), tenant_api_keys_file=path)


async def test_tenant_keys_prove_their_tenant_and_only_inference() -> None:
    app = app_with(api_key=API_KEY, control_plane_api_keys=[ADMIN_KEY],
                   identity=tenant_config(f"team-a:{A_KEY}", f"team-b:{B_KEY}"))
    async with client(app) as c:
        a = await c.post("/v1/chat/completions", headers=bearer(A_KEY))
        b = await c.post("/v1/messages", headers={"x-api-key": B_KEY})
        shared = await c.post("/v1/chat/completions", headers=bearer(API_KEY))
        assert (a.json(), b.json(), shared.json()) == (
            {"kind": "tenant_key", "tenant": "team-a"}, {"kind": "tenant_key", "tenant": "team-b"},
            {"kind": "api_key", "tenant": None})
        for key in (A_KEY, B_KEY):  # a user on the control plane: 403, in OpenAI's shape
            resp = await c.get("/workers", headers=bearer(key))
            assert resp.status_code == 403 and resp.json()["error"]["code"] == "permission_denied"
        for key in (API_KEY, ADMIN_KEY):  # --api-key and --control-plane-api-keys stay admin
            assert (await c.post("/flush_cache", headers=bearer(key))).status_code == 200
        # As before identities: a control-plane key opens nothing on inference.
        assert (await c.post("/v1/chat/completions", headers=bearer(ADMIN_KEY))).status_code == 401
        wrong = await c.post("/v1/messages", headers={"x-api-key": A_KEY + "x"})
        assert wrong.status_code == 401 and wrong.json()["type"] == "error"
        assert wrong.json()["error"]["type"] == "authentication_error" and A_KEY not in wrong.text


async def test_tenant_keys_alone_lock_both_planes() -> None:
    async with client(app_with(identity=tenant_config(f"team-a:{A_KEY}"))) as c:
        assert (await c.post("/v1/chat/completions")).status_code == 401
        assert (await c.get("/workers")).status_code == 401
        assert (await c.get("/workers", headers=bearer(A_KEY))).status_code == 403


def test_tenant_keys_are_kept_hashed() -> None:
    keys = TenantKeys([parse_tenant_key(f"team-a:{A_KEY}"),
                       parse_tenant_key(f"team-b:sha256:{hashlib.sha256(B_KEY.encode()).hexdigest()}")])
    assert keys.match(A_KEY.encode()) == "team-a" and keys.match(B_KEY.encode()) == "team-b"
    assert keys.match(b"sk-team-a") is None
    assert A_KEY.encode() not in repr(vars(keys)).encode() and A_KEY not in repr(vars(keys))


@pytest.mark.parametrize("entry", ["team-a", "team-a:", ":key", "bad tenant:key"])
def test_bad_tenant_key_entries_are_refused(entry: str) -> None:
    with pytest.raises(ConfigError, match="--tenant-api-key"):
        parse_tenant_key(entry)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_keys_file_is_reloaded_on_change(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path, clock = tmp_path / "keys.txt", Clock()
    path.write_text(f"# tenants\nteam-a:{A_KEY}\n\n")
    gate = Gate(SharedKeys(), TenantKeys(path=path, clock=clock))
    app = Starlette(routes=ROUTES, middleware=[Middleware(EdgeMiddleware, door=Door(gate))])
    caplog.set_level(logging.DEBUG)
    async with client(app) as c:
        assert (await c.post("/v1/chat/completions", headers=bearer(A_KEY))).status_code == 200
        assert (await c.post("/v1/chat/completions", headers=bearer(B_KEY))).status_code == 401
        path.write_text(f"team-b:{B_KEY}\n")  # team-a's key revoked, team-b's added
        clock.now += 1.5
        assert (await c.post("/v1/chat/completions", headers=bearer(B_KEY))).json()["tenant"] == "team-b"
        assert (await c.post("/v1/chat/completions", headers=bearer(A_KEY))).status_code == 401
        path.write_text("team-c no colon here\n")  # broken: the keys read before stay
        clock.now += 1.5
        assert (await c.post("/v1/chat/completions", headers=bearer(B_KEY))).status_code == 200
    assert "not reloaded" in caplog.text
    assert A_KEY not in caplog.text and B_KEY not in caplog.text


def test_a_broken_keys_file_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "keys.txt").write_text("no-key-here\n")
    with pytest.raises(ConfigError, match="keys.txt:1"):
        TenantKeys(path=tmp_path / "keys.txt")
    with pytest.raises(ConfigError, match="--tenant-api-keys-file"):
        TenantKeys(path=tmp_path / "missing.txt")


def test_role_mapping_flag() -> None:
    assert parse_role_mapping(["Gateway.Admin=admin", "a=b=user"]) == (("Gateway.Admin", Role.ADMIN),
                                                                        ("a=b", Role.USER))
    for bad in ("admins", "x=root", "=admin"):
        with pytest.raises(ConfigError, match="GROUP=ROLE"):
            parse_role_mapping([bad])


def test_the_flags_build_the_identity_config(tmp_path: Path) -> None:
    limits = tmp_path / "limits.yaml"
    limits.write_text("tenants:\n  team-a: {requests_per_second: 1}\n")
    args = build_parser().parse_args([
        "launch", "--worker-urls", "grpc://127.0.0.1:1", "--tenant-api-key", f"team-a:{A_KEY}",
        "--tenant-api-key", f"team-b:{B_KEY}", "team-c:k3", "--jwt-issuer", "https://issuer.example",
        "--jwt-audience", "gw", "--jwt-role-mapping", "ops=admin", "--jwt-tenant-claim", "org",
        "--audit-log", str(tmp_path / "audit.jsonl"), "--tenant-rate-limit-config", str(limits)])
    identity = config_from_args(args).security.identity
    assert [t for t, _ in identity.tenant_api_keys] == ["team-a", "team-b", "team-c"]
    assert A_KEY not in repr(identity)  # digests only, and not even those in the repr
    assert identity.jwt is not None and identity.jwt.audience == "gw" and identity.jwt.tenant_claim == "org"
    assert identity.jwt.role_mapping == (("ops", Role.ADMIN),)
    assert dict(identity.tenant_limits)["team-a"].requests_per_second == 1.0
    with pytest.raises(ConfigError, match="--jwt-jwks-uri: expected an http"):
        JwtSettings(issuer="https://issuer.example", jwks_uri="file:///etc/passwd")
    with pytest.raises(ConfigError, match="need --jwt-issuer"):
        config_from_args(build_parser().parse_args(["launch", "--worker-urls", "grpc://127.0.0.1:1",
                                                    "--jwt-audience", "gw"]))
