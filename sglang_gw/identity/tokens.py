"""JWT bearer tokens: their settings (``--jwt-*``) and what the gate needs to know of one
before verifying it. Verification itself, with PyJWT, is in verifier.py: only a gateway
with ``--jwt-issuer`` imports it (PyJWT and cryptography are a noticeable part of a start).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sglang_gw.errors import ConfigError
from sglang_gw.identity.principal import Role

__all__ = ["InvalidToken", "JwtSettings", "looks_like_jwt"]

_HTTP_URL = re.compile(r"https?://[^\s/?#]+[^\s]*")


class InvalidToken(Exception):
    """The token was refused; the message is for the debug log only."""


def looks_like_jwt(token: bytes) -> bool:
    """Three base64url parts: worth verifying (an API key is never tried as a JWT)."""
    return token.count(b".") == 2 and token[:2] == b"ey"


@dataclass(slots=True, frozen=True)
class JwtSettings:
    """``--jwt-*``: where keys come from, what tokens must say, and how claims map."""

    issuer: str
    audience: str | None = None
    jwks_uri: str | None = None
    tenant_claim: str = "tenant"
    role_claim: str = "roles"
    role_mapping: tuple[tuple[str, Role], ...] = field(default=())

    def __post_init__(self) -> None:
        for flag, url in (("--jwt-issuer", self.issuer), ("--jwt-jwks-uri", self.jwks_uri)):
            if url is not None and not _HTTP_URL.fullmatch(url):
                raise ConfigError(f"{flag}: expected an http:// or https:// URL, got {url!r}")
