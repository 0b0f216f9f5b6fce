"""Who owns stored history: a hash of the API key, or the configured context headers."""

from __future__ import annotations

import pytest

from sglang_gw.history.owner import ANONYMOUS, Owners, parse_context_headers


def test_the_owner_is_a_hash_of_the_key_never_the_key() -> None:
    owners = Owners()
    alice = owners.owner({"authorization": "Bearer sk-alice-secret"})
    assert "sk-alice-secret" not in alice and alice.startswith("key:")
    assert owners.owner({"authorization": "bearer   sk-alice-secret "}) == alice
    assert owners.owner({"authorization": "Bearer sk-bob"}) != alice


def test_requests_without_a_key_share_the_anonymous_owner() -> None:
    owners = Owners()
    assert owners.owner({}) == ANONYMOUS
    assert owners.owner({"authorization": "Basic abc"}) == ANONYMOUS
    assert owners.owner({"authorization": "Bearer "}) == ANONYMOUS


def test_context_headers_own_when_present_else_the_key() -> None:
    owners = Owners(parse_context_headers(["X-Tenant-Id=tenant_id", "x-user-id"]))
    keyed = {"authorization": "Bearer k"}
    tenant_a = owners.owner({**keyed, "x-tenant-id": "a"})
    assert tenant_a.startswith("ctx:")
    assert owners.owner({"authorization": "Bearer other", "x-tenant-id": "a"}) == tenant_a  # the key does not matter
    assert owners.owner({**keyed, "x-tenant-id": "b"}) != tenant_a
    assert owners.owner({**keyed, "x-tenant-id": "a", "x-user-id": "u1"}) != tenant_a
    assert owners.owner(keyed) == Owners().owner(keyed)
    assert owners.owner({**keyed, "x-tenant-id": "  "}) == Owners().owner(keyed)  # blank is absent


def test_context_header_forms() -> None:
    assert parse_context_headers(["X-Tenant=tenant", "x-user"]) == (("x-tenant", "tenant"), ("x-user", "x-user"))
    with pytest.raises(ValueError, match="names no header"):
        parse_context_headers(["=key"])
