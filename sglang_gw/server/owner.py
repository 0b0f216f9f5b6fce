"""The owner of what a request stores or reads, for the responses and conversations routes."""

from __future__ import annotations

from starlette.requests import Request

from sglang_gw.identity.principal import Identity
from sglang_gw.server.door import IDENTITY_STATE_KEY
from sglang_gw.server.handling import gateway_of

__all__ = ["owner_of"]


def owner_of(request: Request) -> str:
    """The caller's tenant (or a JWT's issuer and subject) when the identity layer proved one
    (identity/principal.py); else a hash of the request's API key (one anonymous owner
    without a key), or the `--storage-context-headers` present (sglang_gw/history/owner.py).
    A tenant wins over context headers: a client sets those, the tenant is proven."""
    identity: Identity | None = request.scope.get("state", {}).get(IDENTITY_STATE_KEY)
    owner = identity.owner() if identity is not None else None
    return owner or gateway_of(request).owners.owner(request.headers)
