"""The door: who a credential proves the caller to be, and whether that opens the path.

Paths are of three kinds: exempt (the probes, never checked), the control plane (paths under
:data:`CONTROL_PLANE_PREFIXES`, for the ``admin`` role) and the rest, inference (for
``user``). A credential is tried, in order, as ``--api-key`` (both roles), a
``--control-plane-api-keys`` key (a plain one is ``admin`` only, as before identities
existed: it never opens inference; one in smg's ``ID:NAME:ROLE:KEY`` form holds its ROLE),
a tenant key (``user`` of its tenant) and, when it looks like one and an
issuer is configured, a JWT (``user``, plus what ``--jwt-role-mapping`` grants).

A plane is open, with no credential asked, only when nothing that could open it is
configured: inference when there is no ``--api-key``, ``user`` key, tenant key or JWT issuer; the control
plane when nothing at all is. Refusals: no credential or one that proves nothing → 401,
always with the same message whatever was wrong with it; a proven identity without the
path's role → 403 (a control-plane key on inference stays a 401: it opens nothing there).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sglang_gw.errors import AuthenticationError, GatewayError, PermissionDeniedError
from sglang_gw.identity.keys import NamedKey, SharedKeys, TenantKeys
from sglang_gw.identity.principal import ANONYMOUS, Identity, Role
from sglang_gw.identity.tokens import InvalidToken, looks_like_jwt

if TYPE_CHECKING:
    from sglang_gw.identity.verifier import JwtVerifier

__all__ = ["CONTROL_PLANE_PREFIXES", "EXEMPT_PATHS", "INVALID_CREDENTIAL", "Gate", "Verdict", "under"]

log = logging.getLogger(__name__)
EXEMPT_PATHS = frozenset({"/health", "/liveness", "/readiness"})
CONTROL_PLANE_PREFIXES = ("/workers", "/add_worker", "/remove_worker", "/list_workers", "/flush_cache",
                          "/get_loads", "/parse/", "/v1/load_lora_adapter", "/v1/unload_lora_adapter")
INVALID_CREDENTIAL = "Incorrect API key or token provided."  # one message: it never says what was wrong
_SHARED = {"api_key": Identity("api_key", "api_key", frozenset({Role.ADMIN, Role.USER})),
           "control_plane_key": Identity("control_plane_key", "control_plane_key", frozenset({Role.ADMIN}))}


def under(path: str, prefix: str) -> bool:
    """``/workers`` covers ``/workers`` and ``/workers/...``, not ``/workersfoo``."""
    base = prefix.rstrip("/")
    return path == base or path.startswith(base + "/")


@functools.lru_cache(maxsize=1024)
def _tenant_identity(tenant: str) -> Identity:
    return Identity(kind="tenant_key", subject=tenant, roles=frozenset({Role.USER}), tenant=tenant)


@functools.lru_cache(maxsize=256)
def _named_identity(key: NamedKey) -> Identity:
    return Identity(kind="control_plane_key", subject=key.name, roles=frozenset({key.role}), key_id=key.key_id)


@dataclass(slots=True, frozen=True)
class Verdict:
    """Who the caller is (None: nobody proven) and the error that refuses it, if any."""

    identity: Identity | None
    error: GatewayError | None = None


class Gate:
    def __init__(self, shared: SharedKeys | None = None, tenants: TenantKeys | None = None,
                 jwt: JwtVerifier | None = None, *, exempt_paths: Collection[str] = EXEMPT_PATHS,
                 control_plane_prefixes: Sequence[str] = CONTROL_PLANE_PREFIXES) -> None:
        self.shared = shared or SharedKeys()
        self.tenants = tenants if tenants else None
        self.jwt = jwt
        self.exempt_paths = frozenset(exempt_paths)
        self.control_plane_prefixes = tuple(control_plane_prefixes)
        self.inference_locked = bool(self.shared.data_keys or self.shared.user_keys or self.tenants or self.jwt)
        self.control_locked = self.inference_locked or bool(self.shared.control_keys or self.shared.named)

    @property
    def active(self) -> bool:
        """Whether any path asks for a credential."""
        return self.control_locked

    def is_control(self, path: str) -> bool:
        return any(under(path, prefix) for prefix in self.control_plane_prefixes)

    def locked(self, path: str) -> bool:
        if path in self.exempt_paths:
            return False
        return self.control_locked if self.is_control(path) else self.inference_locked

    async def decide(self, path: str, token: bytes | None, *, missing: str) -> Verdict:
        """The verdict for a request to ``path`` presenting ``token``; ``missing`` is the
        message for a request that sent none (it names the header to use)."""
        if not self.locked(path):
            return Verdict(ANONYMOUS)
        if token is None:
            return Verdict(None, AuthenticationError(missing))
        identity = await self.identify(token)
        if identity is None:
            return Verdict(None, AuthenticationError(INVALID_CREDENTIAL))
        control = self.is_control(path)
        if identity.may(Role.ADMIN if control else Role.USER):
            return Verdict(identity)
        if control:
            return Verdict(identity, PermissionDeniedError("This credential may not use the control plane."))
        return Verdict(None, AuthenticationError(INVALID_CREDENTIAL))

    async def identify(self, token: bytes) -> Identity | None:
        shared = self.shared.match(token)
        if isinstance(shared, NamedKey):
            return _named_identity(shared)
        if shared is not None:
            return _SHARED[shared]
        if self.tenants is not None:
            tenant = self.tenants.match(token)
            if tenant is not None:
                return _tenant_identity(tenant)
        if self.jwt is not None and looks_like_jwt(token):
            try:
                return await self.jwt.identify(token)
            except InvalidToken as err:
                log.debug("bearer token refused: %s", err)  # the reason only, never the token
        return None
