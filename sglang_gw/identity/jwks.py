"""An issuer's signing keys (its JWKS), fetched without blocking the event loop and cached.

The set is fetched with httpx's async client from ``--jwt-jwks-uri`` or, without one, from
the ``jwks_uri`` of the issuer's OpenID discovery document
(``{issuer}/.well-known/openid-configuration``). It is fetched again when it is older than
``max_age_secs``, and when a token names a key id the set does not hold: an issuer that
rotates its key publishes the new one before signing with it, so the new key is accepted
on its first use. Those refreshes are at most one every ``min_refresh_secs`` (10 s by
default), so tokens with made-up key ids cannot turn the gateway into a flood of fetches,
and a rotated key is accepted within that interval at worst. The gateway fetches the set once
at start-up (:meth:`JwksCache.warm`). Concurrent requests that need
a refresh share one fetch. A failed fetch is logged and the keys held before stay in use.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

__all__ = ["JwksCache", "SigningKey"]

log = logging.getLogger(__name__)
FETCH_TIMEOUT_SECS = 5.0


@dataclass(slots=True, frozen=True)
class SigningKey:
    """A public key of the set: its JWK type (``RSA``, ``EC``, ``OKP``), the ``alg`` it
    declares if any, and the key object PyJWT verifies with."""

    kid: str | None
    kty: str
    alg: str | None
    key: Any


def _keys_of(document: Any) -> dict[str | None, SigningKey]:
    """The public signature keys of a JWKS document, by ``kid``; symmetric (``oct``) keys and
    keys PyJWT cannot read are skipped."""
    keys: dict[str | None, SigningKey] = {}
    for entry in document.get("keys", []) if isinstance(document, dict) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or entry.get("kty") == "oct":
            continue
        try:
            parsed = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as err:
            log.warning("JWKS: key %r skipped: %s", entry.get("kid"), err)
            continue
        alg = entry.get("alg")
        keys[parsed.key_id] = SigningKey(parsed.key_id, str(entry["kty"]), alg if isinstance(alg, str) else None,
                                         parsed.key)
    return keys


class JwksCache:
    """Signing keys by key id; :meth:`key` refreshes as the module docstring says."""

    def __init__(self, *, issuer: str, jwks_uri: str | None = None, min_refresh_secs: float = 10.0,
                 max_age_secs: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer.rstrip("/")
        self.jwks_uri = jwks_uri
        self.min_refresh_secs = min_refresh_secs
        self.max_age_secs = max_age_secs
        self._clock = clock
        self._keys: dict[str | None, SigningKey] = {}
        self._fetched: float | None = None  # when the last fetch was tried
        self._loaded: float | None = None  # when a fetch last succeeded
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> SigningKey | None:
        """The key ``kid`` names (a token without ``kid``: the set's only key), or None."""
        now = self._clock()
        stale = self._loaded is None or now - self._loaded >= self.max_age_secs
        if stale or (self._find(kid) is None and self._may_refresh(now)):
            await self._refresh()
        return self._find(kid)

    async def warm(self) -> int:
        """Fetch the set now (at start-up), so the first token does not wait and a wrong
        issuer is in the log at once; the number of keys held."""
        await self._refresh()
        return len(self._keys)

    def _find(self, kid: str | None) -> SigningKey | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _may_refresh(self, now: float) -> bool:
        return self._fetched is None or now - self._fetched >= self.min_refresh_secs

    async def _refresh(self) -> None:
        asked = self._clock()
        async with self._lock:
            if self._fetched is not None and self._fetched >= asked:
                return  # someone else fetched while we waited
            if self._fetched is not None and not self._may_refresh(self._clock()):
                return
            self._fetched = self._clock()
            try:
                keys = _keys_of(await self._fetch())
            except (httpx.HTTPError, ValueError) as err:
                log.warning("JWKS of %s not fetched, keeping %d keys: %s", self.issuer, len(self._keys), err)
                return
            self._keys, self._loaded = keys, self._clock()
            log.info("JWKS of %s: %d signing keys", self.issuer, len(keys))

    async def _fetch(self) -> Any:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECS, follow_redirects=False) as client:
            uri = self.jwks_uri
            if uri is None:
                discovery = await client.get(f"{self.issuer}/.well-known/openid-configuration")
                discovery.raise_for_status()
                uri = discovery.json().get("jwks_uri")
                if not isinstance(uri, str):
                    raise ValueError("the discovery document names no jwks_uri")
            response = await client.get(uri)
            response.raise_for_status()
            return response.json()
