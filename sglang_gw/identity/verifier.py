"""JWT bearer tokens verified with PyJWT against an OIDC issuer's keys (jwks.py).

What a token must be to be accepted:

1. its header's ``alg`` is one of :data:`ALGORITHMS` (RSA, RSA-PSS, ECDSA, EdDSA): ``none``
   and every HMAC algorithm are refused before any key is looked at, which is what closes
   the "HS256 signed with the public key" confusion;
2. its ``kid`` names a key of the issuer's JWKS whose type fits ``alg`` (an RSA key never
   checks an ECDSA signature, and a key that declares its ``alg`` checks only that one);
3. the signature checks out, ``iss`` is ``--jwt-issuer``, ``aud`` holds ``--jwt-audience``
   (when set), ``exp`` is present and not past, ``nbf``/``iat`` not in the future, all with
   :data:`LEEWAY_SECS` of clock skew.

Every failure is the same :class:`InvalidToken` to the caller: which check failed is logged
at debug level (never the token), and the client is told only that it was refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import jwt

from sglang_gw.identity.jwks import JwksCache
from sglang_gw.identity.principal import Identity, Role
from sglang_gw.identity.tokens import InvalidToken, JwtSettings

__all__ = ["ALGORITHMS", "LEEWAY_SECS", "JwtVerifier"]

log = logging.getLogger(__name__)
LEEWAY_SECS = 30.0
# alg → the JWK key type that may verify it.
ALGORITHMS: Mapping[str, str] = {"RS256": "RSA", "RS384": "RSA", "RS512": "RSA", "PS256": "RSA", "PS384": "RSA",
                                 "PS512": "RSA", "ES256": "EC", "ES384": "EC", "EdDSA": "OKP"}


def _short(value: object) -> str:
    """A header value for the debug log: the client chose it, so quoted and cut short."""
    text = repr(value)
    return text if len(text) <= 64 else text[:61] + "..."


def _claim_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


class JwtVerifier:
    """Verify a token and turn its claims into an :class:`Identity`."""

    def __init__(self, settings: JwtSettings, keys: JwksCache | None = None) -> None:
        self.settings = settings
        self.keys = keys or JwksCache(issuer=settings.issuer, jwks_uri=settings.jwks_uri)
        self._mapping: dict[str, set[Role]] = {}
        for group, role in settings.role_mapping:
            self._mapping.setdefault(group, set()).add(role)
        if settings.audience is None:
            log.warning("--jwt-audience is not set: tokens %s issued for any audience are accepted", settings.issuer)

    async def identify(self, token: bytes) -> Identity:
        claims = await self.verify(token)
        return self.identity(claims)

    async def verify(self, token: bytes) -> dict[str, Any]:
        """The token's claims; :class:`InvalidToken` for anything wrong with it."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as err:  # every PyJWT failure, bad keys included
            raise InvalidToken(f"malformed: {err}") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise InvalidToken(f"algorithm {_short(alg)} is not accepted")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("kid is not a string")
        key = await self.keys.key(kid)
        if key is None:
            raise InvalidToken(f"no key {_short(kid)} in the issuer's JWKS")
        if key.kty != ALGORITHMS[alg] or (key.alg is not None and key.alg != alg):
            raise InvalidToken(f"key {_short(kid)} ({key.kty}, {key.alg}) does not verify {alg}")
        s = self.settings
        required = ["exp", "iss"] + (["aud"] if s.audience else [])
        try:
            return jwt.decode(token, key.key, algorithms=[alg], audience=s.audience, issuer=s.issuer,
                              leeway=LEEWAY_SECS, options={"require": required, "verify_aud": bool(s.audience)})
        except jwt.PyJWTError as err:  # every PyJWT failure, bad keys included
            raise InvalidToken(f"{type(err).__name__}: {err}") from None

    def identity(self, claims: Mapping[str, Any]) -> Identity:
        """Every valid token is a user; ``--jwt-role-mapping`` may add admin."""
        roles = {Role.USER}
        for value in _claim_values(claims.get(self.settings.role_claim)):
            roles |= self._mapping.get(value, set())
        tenant = claims.get(self.settings.tenant_claim)
        subject = claims.get("sub")
        return Identity(kind="jwt", subject=subject if isinstance(subject, str) else "unknown",
                        roles=frozenset(roles), tenant=tenant if isinstance(tenant, str) and tenant else None,
                        issuer=self.settings.issuer)
