"""smg's ``--control-plane-api-keys ID:NAME:ROLE:KEY`` beside the plain form: the role
honoured on each plane, keys kept as digests, the audit log naming the key's id and name and
never the key, malformed entries refused at start without echoing the key."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sglang_gw.cli_config import config_from_args
from sglang_gw.cli_flags import build_parser
from sglang_gw.errors import ConfigError
from sglang_gw.identity.config import IdentityConfig
from sglang_gw.identity.keys import NamedKey, SharedKeys, digest, parse_control_plane_key
from sglang_gw.identity.principal import Role
from sglang_gw.server.errors import exception_handlers
from sglang_gw.server.middleware import build_middleware

ADMIN_KEY = "sk-ci:with:colons-0123"  # the key may hold colons: only the first three split
USER_KEY = "sk-monitoring-4567"
PLAIN_KEY = "sk-plain-admin-89ab"
KEYS = [f"ci:CI Pipeline:admin:{ADMIN_KEY}", f"mon:Prometheus:USER:{USER_KEY}", PLAIN_KEY]


async def whoami(request: Request) -> Response:
    who = request.state.identity
    return JSONResponse({"kind": who.kind, "subject": who.subject, "key_id": who.key_id})


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


def app_with(tmp_path: Path, keys: list[str], **options: object) -> Starlette:
    routes = [Route("/v1/chat/completions", whoami, methods=["POST"]), Route("/workers", ok, methods=["GET", "POST"])]
    identity = IdentityConfig(audit_log=tmp_path / "audit.jsonl")
    middleware = build_middleware(control_plane_api_keys=keys, identity=identity, **options)  # type: ignore[arg-type]
    return Starlette(routes=routes, middleware=middleware, exception_handlers=exception_handlers)


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_entries_are_parsed_and_kept_as_digests() -> None:
    assert parse_control_plane_key(PLAIN_KEY) is None
    assert parse_control_plane_key("a:b:c") is None  # two colons: still a plain key
    named = parse_control_plane_key(f"ci:CI Pipeline:Admin:{ADMIN_KEY}")
    assert named == NamedKey("ci", "CI Pipeline", Role.ADMIN, digest(ADMIN_KEY.encode()))
    shared = SharedKeys(None, KEYS)
    assert ADMIN_KEY not in repr(vars(shared)) and USER_KEY not in repr(vars(shared))
    assert shared.control_keys == (PLAIN_KEY.encode(),) and shared.user_keys
    mon = shared.match(USER_KEY.encode())
    assert isinstance(mon, NamedKey) and (mon.key_id, mon.name, mon.role) == ("mon", "Prometheus", Role.USER)
    assert shared.match(PLAIN_KEY.encode()) == "control_plane_key"
    assert shared.match(b"sk-ci") is None and shared.match(ADMIN_KEY.encode() + b"x") is None


@pytest.mark.parametrize("entry", ["ci:CI:root:sk-secret-1", ":CI:admin:sk-secret-1", "ci:CI:admin:",
                                   "ci:CI::sk-secret-1"])
def test_malformed_entries_are_refused_without_echoing_the_key(entry: str) -> None:
    with pytest.raises(ConfigError, match=r"\(entry 2\): .* ID:NAME:ROLE:KEY") as err:
        SharedKeys(None, [PLAIN_KEY, entry])
    assert "sk-secret-1" not in err.value.message and "CI" not in err.value.message


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="'b' repeats the key of 'a'"):
        SharedKeys(None, ["a:A:admin:sk-same", "b:B:user:sk-same"])


def test_the_flag_is_checked_at_start() -> None:
    base = ["launch", "--worker-urls", "grpc://127.0.0.1:1", "--control-plane-api-keys"]
    config = config_from_args(build_parser().parse_args([*base, *KEYS]))
    assert config.security.control_plane_api_keys == tuple(KEYS)
    with pytest.raises(ConfigError, match="--control-plane-api-keys"):
        config_from_args(build_parser().parse_args([*base, "ci:CI:superuser:sk-secret-1"]))


async def test_roles_are_honoured_and_the_audit_log_names_the_key(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with client(app_with(tmp_path, KEYS)) as c:
        # An admin key and a plain key open the control plane; a user key is a proven user: 403.
        assert (await c.get("/workers", headers=bearer(ADMIN_KEY))).status_code == 200
        assert (await c.post("/workers", headers=bearer(PLAIN_KEY))).status_code == 200
        denied = await c.get("/workers", headers=bearer(USER_KEY))
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "permission_denied"
        assert (await c.get("/workers", headers=bearer("sk-nobody"))).status_code == 401
        # A user key locks inference and opens it; admin keys open nothing there.
        assert (await c.post("/v1/chat/completions")).status_code == 401
        me = await c.post("/v1/chat/completions", headers=bearer(USER_KEY))
        assert me.json() == {"kind": "control_plane_key", "subject": "Prometheus", "key_id": "mon"}
        for key in (ADMIN_KEY, PLAIN_KEY):
            assert (await c.post("/v1/chat/completions", headers=bearer(key))).status_code == 401
    text = (tmp_path / "audit.jsonl").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(line["who"], line["status"], line["result"]) for line in lines] == [
        ({"kind": "control_plane_key", "subject": "CI Pipeline", "key_id": "ci"}, 200, "allowed"),
        ({"kind": "control_plane_key", "subject": "control_plane_key"}, 200, "allowed"),
        ({"kind": "control_plane_key", "subject": "Prometheus", "key_id": "mon"}, 403, "refused"),
        ({"kind": "unauthenticated"}, 401, "refused")]
    for secret in (ADMIN_KEY, USER_KEY, PLAIN_KEY, digest(ADMIN_KEY.encode()).hex()):
        assert secret not in text and secret not in caplog.text


async def test_admin_keys_alone_leave_inference_open(tmp_path: Path) -> None:
    async with client(app_with(tmp_path, [f"ci:CI:admin:{ADMIN_KEY}"])) as c:
        assert (await c.post("/v1/chat/completions")).json()["kind"] == "anonymous"
        assert (await c.get("/workers")).status_code == 401
        assert (await c.get("/workers", headers=bearer(ADMIN_KEY))).status_code == 200
