"""The identity layer's configuration, built once from the CLI (cli_config.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sglang_gw.errors import ConfigError
from sglang_gw.identity.labels import DEFAULT_MAX_TENANT_LABELS
from sglang_gw.identity.limits import TenantLimit
from sglang_gw.identity.principal import Role
from sglang_gw.identity.tokens import JwtSettings

__all__ = ["IdentityConfig", "parse_role_mapping"]


@dataclass(slots=True, frozen=True)
class IdentityConfig:
    """Tenant keys (as digests, never the keys), the JWT issuer, the audit log, tenant limits."""

    tenant_api_keys: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    tenant_api_keys_file: Path | None = None
    jwt: JwtSettings | None = None
    audit_log: Path | None = None
    tenant_limits: tuple[tuple[str, TenantLimit], ...] = ()
    max_tenant_labels: int = DEFAULT_MAX_TENANT_LABELS


def parse_role_mapping(values: Sequence[str]) -> tuple[tuple[str, Role], ...]:
    """``GROUP=ROLE`` pairs of ``--jwt-role-mapping``; ROLE is ``admin`` or ``user``."""
    pairs = []
    for value in values:
        group, sep, role = value.rpartition("=")
        if not sep or not group or role not in Role.__members__.values():
            valid = ", ".join(r.value for r in Role)
            raise ConfigError(f"--jwt-role-mapping: expected GROUP=ROLE with ROLE one of {valid}, got {value!r}")
        pairs.append((group, Role(role)))
    return tuple(pairs)
