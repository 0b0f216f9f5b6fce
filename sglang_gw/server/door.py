"""The identity layer at the HTTP edge (sglang_gw/identity/), run by the edge middleware:

1. :meth:`Door.check`: the gate's verdict on the request's credential; the identity it
   proves goes into ``scope["state"]["identity"]`` (``request.state.identity``), a refusal
   is answered 401 or 403 in the shape of the route's API (OpenAI's, or Anthropic's on
   /v1/messages), never echoing what was sent;
2. :meth:`Door.limit`: the tenant's own limits on the admitted (inference) routes, held in
   the request's ledger until it ends; 429 with ``Retry-After`` when over;
   :meth:`Door.priority`, the tenant's place in the gateway's queue when it must wait;
3. :meth:`Door.finish`: the audit line of a control-plane request, and the per-tenant
   request metrics.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from functools import partial

from starlette.responses import Response
from starlette.types import Scope

from sglang_gw import metrics
from sglang_gw.errors import RateLimitError
from sglang_gw.identity.audit import AuditLog
from sglang_gw.identity.config import IdentityConfig
from sglang_gw.identity.gate import Gate
from sglang_gw.identity.keys import SharedKeys, TenantKeys
from sglang_gw.identity.labels import TenantLabels
from sglang_gw.identity.limits import TenantLimits
from sglang_gw.identity.principal import Identity
from sglang_gw.server.admit import refusal_response
from sglang_gw.server.errors import anthropic_route, error_response, route_path
from sglang_gw.server.ledger import Ledger

__all__ = ["IDENTITY_STATE_KEY", "Door", "build_door", "credential"]

IDENTITY_STATE_KEY = "identity"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def credential(scope: Scope, anthropic: bool) -> bytes | None:
    """The bearer token; on the Anthropic Messages routes also ``x-api-key``, as Anthropic's
    clients send it."""
    raw = _header(scope, b"authorization")
    if raw is not None:
        scheme, _, token = raw.strip().partition(b" ")
        if scheme.lower() == b"bearer" and token.strip():
            return token.strip()
    if anthropic:
        return (_header(scope, b"x-api-key") or b"").strip() or None
    return None


class Door:
    def __init__(self, gate: Gate, *, limits: TenantLimits | None = None, audit: AuditLog | None = None,
                 labels: TenantLabels | None = None) -> None:
        self.gate = gate
        self.limits = limits
        self.audit = audit
        self.labels = labels

    async def check(self, scope: Scope) -> tuple[Identity | None, Response | None]:
        path = route_path(scope)
        anthropic = anthropic_route(path)
        how = "'x-api-key: <key>' or 'Authorization: Bearer <key>'" if anthropic else "'Authorization: Bearer <key>'"
        verdict = await self.gate.decide(path, credential(scope, anthropic),
                                         missing=f"Missing API key: send it as {how}.")
        if verdict.identity is not None:
            scope.setdefault("state", {})[IDENTITY_STATE_KEY] = verdict.identity
        if verdict.error is None:
            return verdict.identity, None
        response = error_response(verdict.error, path)
        if verdict.error.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return verdict.identity, response

    async def warm(self) -> None:
        """At start-up: the JWT issuer's keys fetched (a failure is logged, not fatal)."""
        if self.gate.jwt is not None:
            await self.gate.jwt.keys.warm()

    def close(self) -> None:
        if self.audit is not None:
            self.audit.close()

    def limit(self, identity: Identity | None, scope: Scope, ledger: Ledger) -> Response | None:
        """Take the tenant's slot for this request (given back when the ledger settles)."""
        if self.limits is None or identity is None or identity.tenant is None:
            return None
        try:
            taken = self.limits.acquire(identity.tenant)
        except RateLimitError as err:
            return refusal_response(err, route_path(scope))
        if taken:
            ledger.hold(partial(self.limits.release, identity.tenant))
        return None

    def priority(self, identity: Identity | None) -> int:
        """The caller's priority in the admission queue: its tenant's, else 0."""
        if self.limits is None or identity is None:
            return 0
        return self.limits.priority(identity.tenant)

    def finish(self, scope: Scope, identity: Identity | None, *, refused: bool, status: int, started: float,
               request_id: str) -> None:
        if self.labels is not None:
            tenant = identity.tenant if identity is not None else None
            metrics.record_tenant_request(self.labels.of(tenant), status, time.perf_counter() - started)
        if self.audit is not None:
            path = route_path(scope)
            if self.gate.is_control(path):
                self.audit.record(who=identity, method=scope["method"], path=path, status=status, refused=refused,
                                  request_id=request_id)


def build_door(config: IdentityConfig, *, api_key: str | None = None,
               control_plane_api_keys: Collection[str] = ()) -> Door | None:
    """The door for this configuration; None when it would do nothing (no credential asked
    anywhere, no audit log, no tenant limits)."""
    tenants = TenantKeys(config.tenant_api_keys, config.tenant_api_keys_file)
    jwt = None
    if config.jwt is not None:
        from sglang_gw.identity.verifier import JwtVerifier  # PyJWT and cryptography: only with --jwt-issuer

        jwt = JwtVerifier(config.jwt)
    gate = Gate(SharedKeys(api_key, control_plane_api_keys), tenants, jwt)
    limits = TenantLimits(dict(config.tenant_limits)) if config.tenant_limits else None
    if not gate.active and config.audit_log is None and limits is None:
        return None
    # The limits file's tenants always have their own label; the rest share N (identity/labels.py).
    known = limits.tenants if limits is not None else frozenset()
    labels = TenantLabels(known, config.max_tenant_labels) if (tenants or jwt is not None) else None
    return Door(gate, limits=limits, audit=AuditLog(config.audit_log) if config.audit_log else None, labels=labels)
