"""API keys: the shared ``--api-key`` and ``--control-plane-api-keys``, and tenant keys.

Shared keys are compared as given, every one of them, each in constant time. Tenant keys
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
from pathlib import Path

from sglang_gw.errors import ConfigError

__all__ = ["SharedKeys", "TenantKeys", "digest", "parse_tenant_key"]

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


class SharedKeys:
    """``--api-key`` (both planes) and ``--control-plane-api-keys`` (control plane only)."""

    def __init__(self, api_key: str | None = None, control_plane_api_keys: Collection[str] = ()) -> None:
        self.data_keys: tuple[bytes, ...] = (api_key.encode(),) if api_key else ()
        self.control_keys: tuple[bytes, ...] = self.data_keys + tuple(k.encode() for k in control_plane_api_keys if k)

    def match(self, token: bytes) -> str | None:
        """``api_key``, ``control_plane_key`` or None. All keys are compared whatever matched."""
        data = any_matches(token, self.control_keys[:len(self.data_keys)])
        control = any_matches(token, self.control_keys[len(self.data_keys):])
        return "api_key" if data else "control_plane_key" if control else None


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
