"""JWT bearer tokens against a local OIDC issuer (tests/oidc_issuer.py): real keys, real
signed tokens, the JWKS fetched over loopback HTTP by the gateway's edge."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sglang_gw.identity.audit import AuditLog
from sglang_gw.identity.config import IdentityConfig
from sglang_gw.identity.gate import INVALID_CREDENTIAL, Gate
from sglang_gw.identity.jwks import JwksCache
from sglang_gw.identity.principal import Role
from sglang_gw.identity.tokens import JwtSettings
from sglang_gw.identity.verifier import JwtVerifier
from sglang_gw.server.door import Door
from sglang_gw.server.errors import exception_handlers
from sglang_gw.server.middleware import EdgeMiddleware, build_middleware
from tests.oidc_issuer import AUDIENCE, OidcIssuer


async def whoami(request: Request) -> Response:
    who = request.state.identity
    return JSONResponse({"subject": who.subject, "tenant": who.tenant, "roles": sorted(who.roles)})


async def ok(request: Request) -> Response:
    return PlainTextResponse("ok")


ROUTES = [Route("/v1/chat/completions", whoami, methods=["POST"]), Route("/v1/messages", whoami, methods=["POST"]),
          Route("/workers", ok, methods=["GET", "POST"]), Route("/health", ok)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as iss:
        iss.add_key("rsa-1", "RS256")
        yield iss


def make_app(issuer: OidcIssuer, *, clock: Callable[[], float] = time.monotonic,
             audit: Path | None = None) -> Starlette:
    settings = JwtSettings(issuer=issuer.url, audience=AUDIENCE, role_mapping=(("gw-admins", Role.ADMIN),))
    verifier = JwtVerifier(settings, JwksCache(issuer=issuer.url, clock=clock))
    door = Door(Gate(jwt=verifier), audit=AuditLog(audit) if audit else None)
    return Starlette(routes=ROUTES, middleware=[Middleware(EdgeMiddleware, door=door)],
                     exception_handlers=exception_handlers)


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(issuer: OidcIssuer) -> str:
    """The classic confusion: HMAC-signed with the RSA public key's PEM as the secret."""
    pem = issuer.keys["rsa-1"].private.public_key().public_bytes(serialization.Encoding.PEM,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = (b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode()) + "."
                     + b64(json.dumps(issuer.claims()).encode()))
    return signing_input + "." + b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())


def bad_tokens(issuer: OidcIssuer) -> dict[str, str]:
    now = int(time.time())
    issuer.add_key("unpublished", "RS256", publish=False)
    issuer.add_key("ec-1", "ES256", publish=False)
    good = issuer.token()
    head, payload, sig = good.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["sub"] = "mallory"
    ec_signed_as_rsa_kid = jwt.encode(issuer.claims(), issuer.keys["ec-1"].private, algorithm="ES256",
                                      headers={"kid": "rsa-1"})
    issuer.add_key("p384", "ES384", declare_alg=False)  # an EC key of another curve, no `alg` declared
    es256_on_a_p384_kid = jwt.encode(issuer.claims(), issuer.keys["ec-1"].private, algorithm="ES256",
                                     headers={"kid": "p384"})
    return {
        "expired": issuer.token(exp=now - 120, iat=now - 600),
        "wrong audience": issuer.token(aud="someone-else"),
        "wrong issuer": issuer.token(iss="https://evil.example"),
        "no expiry": issuer.token(exp=None),
        "not yet valid": issuer.token(nbf=now + 600),
        "unknown kid": issuer.token("unpublished"),
        "tampered signature": f"{head}.{payload}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}",
        "tampered payload": f"{head}.{b64(json.dumps(forged).encode())}.{sig}",
        "alg none": jwt.encode(issuer.claims(), None, algorithm="none", headers={"kid": "rsa-1"}),
        "hs256 with the public key": hs256_with_public_key(issuer),
        "ec signature, rsa kid": ec_signed_as_rsa_kid,
        "es256 on a p-384 key": es256_on_a_p384_kid,
        "garbage": "eyJhbGciOi.not-base64!.x",
        "not a jwt": "sk-random-0123456789",
    }


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA", "PS256"])
async def test_valid_tokens_prove_a_user_of_their_tenant(issuer: OidcIssuer, alg: str) -> None:
    issuer.add_key(f"k-{alg}", alg)
    async with client(make_app(issuer)) as c:
        resp = await c.post("/v1/chat/completions", headers=bearer(issuer.token(f"k-{alg}", tenant="team-a")))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"subject": "alice", "tenant": "team-a", "roles": ["user"]}


async def test_every_bad_token_is_the_same_401_and_nothing_leaks(
        issuer: OidcIssuer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tokens = bad_tokens(issuer)
    audit = tmp_path / "audit.jsonl"
    caplog.set_level(logging.DEBUG)
    async with client(make_app(issuer, audit=audit)) as c:
        for name, token in tokens.items():
            for path in ("/v1/chat/completions", "/workers"):
                resp = await c.post(path, headers=bearer(token))
                assert resp.status_code == 401, (name, path, resp.text)
                err = resp.json()["error"]
                assert err == {"message": INVALID_CREDENTIAL, "type": "authentication_error", "param": None,
                               "code": "invalid_api_key"}, name
                assert resp.headers["www-authenticate"] == "Bearer"
    logged = caplog.text + audit.read_text()
    assert "refused" in caplog.text  # the reasons are logged, at debug...
    for name, token in tokens.items():  # ...never a token, nor its signature
        signature = token.split(".")[-1]
        assert token not in logged and (len(signature) < 16 or signature not in logged), name
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert len(lines) == len(tokens) and {line["result"] for line in lines} == {"refused"}
    assert all(line["who"] == {"kind": "unauthenticated"} and line["status"] == 401 for line in lines)


async def test_clock_skew_within_the_leeway_is_accepted(issuer: OidcIssuer) -> None:
    now = int(time.time())
    async with client(make_app(issuer)) as c:
        late = await c.post("/v1/chat/completions", headers=bearer(issuer.token(exp=now - 10)))
        early = await c.post("/v1/chat/completions", headers=bearer(issuer.token(nbf=now + 10, iat=now + 10)))
    assert late.status_code == early.status_code == 200


async def test_roles_user_on_the_control_plane_is_403_admin_passes(issuer: OidcIssuer, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    user, admin = issuer.token(tenant="team-a"), issuer.token(sub="root", roles=["staff", "gw-admins"])
    async with client(make_app(issuer, audit=audit)) as c:
        denied = await c.get("/workers", headers=bearer(user))
        allowed = await c.get("/workers", headers=bearer(admin))
        anonymous = await c.get("/workers")
        admin_infers = await c.post("/v1/chat/completions", headers=bearer(admin))
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_error"
    assert allowed.status_code == 200 and anonymous.status_code == 401
    assert admin_infers.json()["roles"] == ["admin", "user"]
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(x["who"], x["action"], x["status"], x["result"]) for x in lines] == [
        ({"kind": "jwt", "subject": "alice", "tenant": "team-a"}, "GET /workers", 403, "refused"),
        ({"kind": "jwt", "subject": "root"}, "GET /workers", 200, "allowed"),
        ({"kind": "unauthenticated"}, "GET /workers", 401, "refused")]
    assert all(x["time"].endswith("Z") and x["request_id"] for x in lines)
    assert user not in audit.read_text() and admin not in audit.read_text()


async def test_a_rotated_key_is_accepted_after_a_bounded_refresh(issuer: OidcIssuer) -> None:
    clock = Clock()
    async with client(make_app(issuer, clock=clock)) as c:
        assert (await c.post("/v1/chat/completions", headers=bearer(issuer.token()))).status_code == 200
        assert issuer.fetches == 1
        old = issuer.token()
        issuer.rotate("rsa-2", "ES256")  # mid-run: the new key published, the old one withdrawn
        new = issuer.token("rsa-2")
        # A new kid right after a fetch: refreshes are rate-limited, so it waits its turn...
        clock.now += 1
        assert (await c.post("/v1/chat/completions", headers=bearer(new))).status_code == 401
        for n in range(20):  # ...and made-up kids do not turn into a flood of fetches
            forged = jwt.encode(issuer.claims(), issuer.keys["rsa-2"].private, algorithm="ES256",
                                headers={"kid": f"made-up-{n}"})
            assert (await c.post("/v1/chat/completions", headers=bearer(forged))).status_code == 401
        assert issuer.fetches == 1
        clock.now += 10  # well within the 60 s the issue allows
        assert (await c.post("/v1/chat/completions", headers=bearer(new))).status_code == 200
        assert issuer.fetches == 2
        assert (await c.post("/v1/chat/completions", headers=bearer(old))).status_code == 401  # withdrawn


async def test_the_jwks_fetch_does_not_block_and_is_shared(issuer: OidcIssuer) -> None:
    issuer.delay = 0.3
    token = issuer.token(tenant="team-a")
    async with client(make_app(issuer)) as c:
        waiting = [asyncio.create_task(c.post("/v1/chat/completions", headers=bearer(token))) for _ in range(10)]
        await asyncio.sleep(0.05)
        assert (await c.get("/health")).status_code == 200  # the loop serves others during the fetch
        assert not any(t.done() for t in waiting)
        assert [r.status_code for r in await asyncio.gather(*waiting)] == [200] * 10
    assert issuer.fetches == 1


async def test_explicit_jwks_uri_and_anthropic_error_shape(issuer: OidcIssuer) -> None:
    config = IdentityConfig(jwt=JwtSettings(issuer=issuer.url, audience=AUDIENCE, jwks_uri=f"{issuer.url}/jwks"))
    app = Starlette(routes=ROUTES, middleware=build_middleware(identity=config), exception_handlers=exception_handlers)
    async with client(app) as c:
        good = await c.post("/v1/messages", headers={"x-api-key": issuer.token(tenant="t1")})
        bad = await c.post("/v1/messages", headers={"x-api-key": issuer.token(aud="x")})
        missing = await c.post("/v1/messages")
    assert good.status_code == 200 and good.json()["tenant"] == "t1"
    assert bad.status_code == 401 and bad.json() == {
        "type": "error", "error": {"type": "authentication_error", "message": INVALID_CREDENTIAL}}
    assert missing.status_code == 401 and "x-api-key" in missing.json()["error"]["message"]
