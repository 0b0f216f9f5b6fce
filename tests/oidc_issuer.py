"""A local OIDC issuer for the identity tests: a tiny HTTP server on loopback publishing a
discovery document and a JWKS of keys the tests generate, and signing real tokens with them.

    with OidcIssuer() as issuer:
        issuer.add_key("k1", "RS256")
        token = issuer.token(sub="alice", tenant="team-a")
        issuer.rotate("k2", "ES256")          # k2 published, k1 withdrawn

``fetches`` counts JWKS downloads, so tests can see refreshes and their rate limit.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

AUDIENCE = "sglang-gw-tests"


@dataclass
class _Key:
    kid: str
    alg: str
    private: Any
    declare_alg: bool = True  # False: the JWK leaves `alg` out, as some issuers do

    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.algorithms.get_default_algorithms()[self.alg]
        jwk = {**json.loads(algorithm.to_jwk(self.private.public_key())), "kid": self.kid, "use": "sig"}
        return {**jwk, "alg": self.alg} if self.declare_alg else jwk


def _private_key(alg: str) -> Any:
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(alg)


class OidcIssuer:
    def __init__(self) -> None:
        self.keys: dict[str, _Key] = {}
        self.published: list[str] = []
        self.fetches = 0
        self.delay = 0.0  # seconds each JWKS answer waits
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    issuer.fetches += 1
                    time.sleep(issuer.delay)
                    body = {"keys": [issuer.keys[kid].public_jwk() for kid in issuer.published]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True, name="oidc-issuer")

    def __enter__(self) -> OidcIssuer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_key(self, kid: str, alg: str = "RS256", *, publish: bool = True, declare_alg: bool = True) -> _Key:
        key = self.keys[kid] = _Key(kid, alg, _private_key(alg), declare_alg)
        if publish:
            self.published.append(kid)
        return key

    def rotate(self, kid: str, alg: str = "RS256") -> None:
        """Publish a new key and withdraw every other."""
        self.add_key(kid, alg, publish=False)
        self.published = [kid]

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": self.url, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, kid: str | None = None, *, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        """A token signed with ``kid`` (default: the first published key); claims override
        the defaults, ``None`` drops one."""
        key = self.keys[kid or self.published[0]]
        return jwt.encode(self.claims(**claims), key.private, algorithm=key.alg,
                          headers={"kid": key.kid, **(headers or {})})
