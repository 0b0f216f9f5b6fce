"""Who is calling, and what they may do: identity/ turns a request's credential into an
:class:`~sglang_gw.identity.principal.Identity` (tenant and roles) for the HTTP edge
(server/door.py), storage ownership (server/owner.py) and the control plane.

    principal.py  Identity and Role (``admin``, ``user``: CLI values, a public contract)
    keys.py       --api-key, --control-plane-api-keys (plain, or smg's ID:NAME:ROLE:KEY),
                  tenant keys (hashed; a file reloaded)
    jwks.py       an OIDC issuer's signing keys, fetched async, cached, refreshed on a new kid
    tokens.py     JWT settings, and what the gate knows of a token before verifying it
    verifier.py   JWT verification (PyJWT) and claims → Identity (tenant claim, role mapping);
                  imported only when a JWT issuer is configured
    gate.py       the verdict for a path and a credential: identity, or 401 / 403
    limits.py     per-tenant requests/s (token bucket, burst 2×), concurrency, queue priority
    audit.py      the control plane's audit log (JSON lines, never a secret)
    labels.py     the bounded ``tenant`` label of the metrics
    config.py     IdentityConfig, built once by the CLI

Nothing here imports the HTTP layer; errors are the gateway's own (errors.py), rendered by
server/errors.py. docs/security.md describes the model.
"""
