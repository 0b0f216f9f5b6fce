"""The identity layer in the whole gateway: tenant keys and JWTs from a local OIDC issuer on
the inference routes (the real openai and anthropic clients), stored responses and
conversations owned by the tenant, roles on the control plane, the audit log, and no
secret in any log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from sglang_gw.config import SecurityConfig
from sglang_gw.identity.config import IdentityConfig
from sglang_gw.identity.keys import parse_tenant_key
from sglang_gw.identity.principal import Role
from sglang_gw.identity.tokens import JwtSettings
from tests.conftest import RunningGateway
from tests.oidc_issuer import AUDIENCE, OidcIssuer

A1, A2, B1, OPS = "sk-team-a-one-0001", "sk-team-a-two-0002", "sk-team-b-0003", "sk-ops-admin-0004"
ASK = {"model": "test-model", "input": "Hello", "max_output_tokens": 8}


@dataclass
class Fixture:
    gw: RunningGateway
    issuer: OidcIssuer
    audit: Path

    def openai(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.gw.url}/v1", api_key=key, max_retries=0, timeout=30)

    def http(self, key: str | None) -> httpx.Client:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.gw.url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def fx(gateway_factory: Callable[..., RunningGateway], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    with OidcIssuer() as issuer:
        issuer.add_key("k1", "ES256")
        identity = IdentityConfig(
            tenant_api_keys=tuple(parse_tenant_key(e) for e in (f"team-a:{A1}", f"team-a:{A2}", f"team-b:{B1}")),
            jwt=JwtSettings(issuer=issuer.url, audience=AUDIENCE, role_mapping=(("ops", Role.ADMIN),)),
            audit_log=audit)
        gw = gateway_factory(security=SecurityConfig(control_plane_api_keys=(OPS,), identity=identity))
        assert issuer.fetches == 1  # the keys were fetched at start-up, before any token came
        yield Fixture(gw, issuer, audit)


def test_inference_with_tenant_keys_and_tokens(fx: Fixture) -> None:
    chat = {"model": "test-model", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5}
    assert fx.openai(A1).chat.completions.create(**chat).choices[0].message.content
    assert fx.openai(fx.issuer.token(tenant="team-b")).chat.completions.create(**chat).choices
    for bad in ("sk-nobody", fx.issuer.token(aud="elsewhere"), A1[:-1]):
        with pytest.raises(openai.AuthenticationError) as err:
            fx.openai(bad).chat.completions.create(**chat)
        assert err.value.status_code == 401 and bad not in str(err.value.body)
    ask = {"model": "test-model", "max_tokens": 5, "messages": [{"role": "user", "content": "Hello"}]}
    by_tenant = anthropic.Anthropic(base_url=fx.gw.url, api_key=B1, max_retries=0, timeout=30)
    assert by_tenant.messages.create(**ask).type == "message"
    with pytest.raises(anthropic.AuthenticationError) as refused:
        anthropic.Anthropic(base_url=fx.gw.url, api_key=OPS, max_retries=0).messages.create(**ask)
    assert refused.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_stored_responses_and_conversations_belong_to_the_tenant(fx: Fixture) -> None:
    created = fx.openai(A1).responses.create(**ASK)
    conv = fx.openai(A2).conversations.create(items=[{"role": "user", "content": "ours"}])
    same_tenant = [fx.openai(A2), fx.openai(fx.issuer.token(sub="carol", tenant="team-a"))]
    for client in same_tenant:  # another key of team-a, or a team-a token: the tenant's
        assert client.responses.retrieve(created.id).id == created.id
        assert client.conversations.retrieve(conv.id).id == conv.id
    others = [fx.openai(B1), fx.openai(fx.issuer.token(sub="carol", tenant="team-b")),
              fx.openai(fx.issuer.token(sub="carol"))]
    for client in others:
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(created.id)
        with pytest.raises(openai.NotFoundError):
            client.conversations.retrieve(conv.id)


def test_roles_on_the_control_plane_and_the_audit_log(fx: Fixture) -> None:
    start = len(fx.audit.read_text().splitlines()) if fx.audit.exists() else 0
    admin_token = fx.issuer.token(sub="root", roles=["ops"])
    answers = {who: fx.http(key).get("/workers").status_code
               for who, key in (("team-a", A1), ("user-token", fx.issuer.token()), ("ops-key", OPS),
                                ("admin-token", admin_token), ("nobody", None), ("bad", "sk-bad"))}
    assert answers == {"team-a": 403, "user-token": 403, "ops-key": 200, "admin-token": 200, "nobody": 401,
                       "bad": 401}
    denied = fx.http(A1).get("/workers")
    assert denied.json()["error"] == {"message": "This credential may not use the control plane.",
                                      "type": "permission_error", "param": None, "code": "permission_denied"}
    text = fx.audit.read_text()
    lines = [json.loads(line) for line in text.splitlines()[start:]]
    assert [(x["who"].get("subject"), x["status"], x["result"]) for x in lines] == [
        ("team-a", 403, "refused"), ("alice", 403, "refused"), ("control_plane_key", 200, "allowed"),
        ("root", 200, "allowed"), (None, 401, "refused"), (None, 401, "refused"), ("team-a", 403, "refused")]
    assert {x["action"] for x in lines} == {"GET /workers"}
    for secret in (A1, OPS, admin_token, "sk-bad"):
        assert secret not in text


def test_no_key_or_token_is_ever_logged(fx: Fixture, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = fx.issuer.token(tenant="team-a")
    bad_token = fx.issuer.token(tenant="team-a", iss="https://evil.example")
    for key in (A1, B1, OPS, token, bad_token, "sk-guess-0005"):
        with fx.http(key) as c:
            c.post("/v1/chat/completions", json={"model": "test-model", "max_tokens": 3,
                                                 "messages": [{"role": "user", "content": "Hello"}]})
            c.get("/workers")
            c.post("/v1/responses", json=ASK)
    assert "bearer token refused: InvalidIssuerError" in caplog.text  # the gateway's debug lines were captured
    for secret in (A1, B1, OPS, token, bad_token, "sk-guess-0005", token.split(".")[2]):
        assert secret not in caplog.text
