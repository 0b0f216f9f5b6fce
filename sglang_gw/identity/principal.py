"""Who is calling: an :class:`Identity`, the roles it holds, and what it owns in storage."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

__all__ = ["ANONYMOUS", "Identity", "Role"]


class Role(enum.StrEnum):
    """``admin`` opens the control plane, ``user`` the inference routes (names are CLI values)."""

    ADMIN = "admin"
    USER = "user"


@dataclass(slots=True, frozen=True)
class Identity:
    """The caller, as far as the gateway trusts it; never holds the credential itself.

    ``kind`` says how it was proven (``api_key``, ``control_plane_key``, ``tenant_key``,
    ``jwt``, or ``anonymous`` on an open plane); ``subject`` names the caller for the audit
    log (a JWT's ``sub``, a tenant's name, a named control-plane key's name, or the kind of
    shared key); ``key_id`` is a named control-plane key's id.
    """

    kind: str
    subject: str
    roles: frozenset[Role]
    tenant: str | None = None
    issuer: str | None = None
    key_id: str | None = None

    def may(self, role: Role) -> bool:
        return role in self.roles

    def owner(self) -> str | None:
        """Who owns what this caller stores: its tenant, else a JWT's issuer and subject;
        None leaves it to the key or context headers (history/owner.py)."""
        if self.tenant:
            return f"tenant:{self.tenant}"
        if self.kind == "jwt":
            return "sub:" + hashlib.sha256(f"{self.issuer}\n{self.subject}".encode()).hexdigest()[:32]
        return None

    def audit(self) -> dict[str, str]:
        """The ``who`` of an audit record: names only, never a key or token."""
        who = {"kind": self.kind, "subject": self.subject}
        if self.tenant:
            who["tenant"] = self.tenant
        if self.key_id is not None:
            who["key_id"] = self.key_id
        return who


ANONYMOUS = Identity(kind="anonymous", subject="anonymous", roles=frozenset({Role.USER}))
