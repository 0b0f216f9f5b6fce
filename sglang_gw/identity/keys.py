"""API keys: the shared ``--api-key`` and ``--control-plane-api-keys``, and tenant keys.

A ``--control-plane-api-keys`` entry is a plain key (the ``admin`` role, as before) or,
smg's form, ``ID:NAME:ROLE:KEY``: split at its first three colons (the key may hold more),
ROLE ``admin`` or ``user`` (any case). Such a key holds that role only, and the audit log
names it by its id and name. An entry with three colons or more is read in that form, so it
must name a valid role.

Shared keys are compared as given, every one of them, each in constant time; named keys,
like tenant keys, only as digests. Tenant keys
(``--tenant-api-key TENANT:KEY``, ``--tenant-api-keys-file``) are kept only as SHA-256
digests: the presented key is hashed and looked up by its digest. The lookup's timing
depends on the digest of what was sent, never on the bytes of a stored key, so it teaches
an attacker nothing (comparing against every digest instead would cost each request time
linear in the number of tenants); and a heap dump holds no tenant key.

The keys file has one ``TENANT:KEY`` or ``TENANT:sha256:HEX`` per line (``#`` comments and
blank lines ignored); the second form keeps keys out of the file too. It is re-read when
its modification time or size changes, checked at most once a second; a file that no longer
parses is logged and the keys read before stay in force.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sglang_gw.errors import ConfigError
from sglang_gw.identity.principal import Role

__all__ = ["NamedKey", "SharedKeys", "TenantKeys", "digest", "parse_control_plane_key", "parse_tenant_key"]

log = logging.getLogger(__name__)
_HEX_DIGEST = re.compile(r"sha256:([0-9a-fA-F]{64})")
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
RELOAD_CHECK_SECS = 1.0


def digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


def any_matches(token: bytes, keys: Sequence[bytes]) -> bool:
    """Every key compared, each in constant time: timing tells nothing of which matched."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(token, key)
    return matched


@dataclass(slots=True, frozen=True)
class NamedKey:
    """A ``--control-plane-api-keys`` key in smg's ``ID:NAME:ROLE:KEY`` form, without the key."""

    key_id: str
    name: str
    role: Role
    digest: bytes = field(repr=False)


def parse_control_plane_key(entry: str, where: str = "--control-plane-api-keys") -> NamedKey | None:
    """``ID:NAME:ROLE:KEY`` → a :class:`NamedKey`; None for a plain key (fewer than three colons)."""
    if entry.count(":") < 3:
        return None
    key_id, name, role, key = entry.split(":", 3)
    roles = {r.value: r for r in Role}
    if not key_id or not key or role.lower() not in roles:
        # Never echo the entry, not even its id: it may be a plain key holding colons.
        raise ConfigError(f"{where}: an entry with three ':' must be ID:NAME:ROLE:KEY with an id, a key and "
                          f"ROLE one of {', '.join(roles)}")
    return NamedKey(key_id, name, roles[role.lower()], digest(key.encode()))


class SharedKeys:
    """``--api-key`` (both planes), plain ``--control-plane-api-keys`` (control plane only)
    and named ones (their role's plane)."""

    def __init__(self, api_key: str | None = None, control_plane_api_keys: Collection[str] = ()) -> None:
        self.data_keys: tuple[bytes, ...] = (api_key.encode(),) if api_key else ()
        plain: list[bytes] = []
        self.named: dict[bytes, NamedKey] = {}
        for number, entry in enumerate(control_plane_api_keys, 1):
            named = parse_control_plane_key(entry, f"--control-plane-api-keys (entry {number})") if entry else None
            if named is None:
                plain.extend([entry.encode()] if entry else [])
            elif named.digest in self.named:
                raise ConfigError(f"--control-plane-api-keys: key {named.key_id!r} repeats the key of "
                                  f"{self.named[named.digest].key_id!r}")
            else:
                self.named[named.digest] = named
        self.control_keys: tuple[bytes, ...] = self.data_keys + tuple(plain)
        self.user_keys = any(k.role is Role.USER for k in self.named.values())

    def match(self, token: bytes) -> str | NamedKey | None:
        """``api_key``, ``control_plane_key``, a named key, or None. All plain keys are
        compared whatever matched."""
        data = any_matches(token, self.control_keys[:len(self.data_keys)])
        control = any_matches(token, self.control_keys[len(self.data_keys):])
        if data or control:
            return "api_key" if data else "control_plane_key"
        return self.named.get(digest(token)) if self.named else None


def parse_tenant_key(entry: str, where: str = "--tenant-api-key") -> tuple[str, bytes]:
    """``TENANT:KEY`` or ``TENANT:sha256:HEX`` → (tenant, digest); the key itself is not kept."""
    tenant, sep, key = entry.strip().partition(":")
    if not sep or not key:
        raise ConfigError(f"{where}: expected TENANT:KEY, got an entry without a key for {tenant!r}")
    if not _TENANT.fullmatch(tenant):
        raise ConfigError(f"{where}: tenant name {tenant!r} must be letters, digits, '.', '_', '@' or '-'")
    hashed = _HEX_DIGEST.fullmatch(key)
    return tenant, bytes.fromhex(hashed.group(1)) if hashed else digest(key.encode())


def _read_file(path: Path) -> dict[bytes, str]:
    table: dict[bytes, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            tenant, hashed = parse_tenant_key(line, f"{path}:{number}")
            table[hashed] = tenant
    return table


class TenantKeys:
    """Tenant keys by digest: from the command line, and from a file re-read on change."""

    def __init__(self, entries: Iterable[tuple[str, bytes]] = (), path: Path | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._static = {hashed: tenant for tenant, hashed in entries}
        self._path = path
        self._clock = clock
        self._checked = clock()
        self._stamp: tuple[int, int] | None = None
        self._table = dict(self._static)
        if path is not None:
            try:
                self._load(path)
            except (OSError, ValueError, ConfigError) as err:
                raise ConfigError(f"--tenant-api-keys-file {path}: {err}") from None

    def __bool__(self) -> bool:
        return bool(self._static) or self._path is not None

    def match(self, token: bytes) -> str | None:
        """The tenant whose key ``token`` is, or None."""
        self._maybe_reload()
        return self._table.get(digest(token))

    def _maybe_reload(self) -> None:
        if self._path is None or self._clock() - self._checked < RELOAD_CHECK_SECS:
            return
        self._checked = self._clock()
        try:
            self._load(self._path)
        except (OSError, ValueError, ConfigError) as err:
            log.error("tenant keys file %s not reloaded, the keys read before stay in force: %s", self._path, err)

    def _load(self, path: Path) -> None:
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        table = {**self._static, **_read_file(path)}
        self._table, self._stamp = table, stamp
        log.info("tenant keys: %d keys for %d tenants from %s", len(table), len(set(table.values())), path)
