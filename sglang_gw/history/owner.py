"""Who owns a stored object: the caller's API key (hashed) or configured context headers.

By default the owner is derived from the bearer token the request presented: a SHA-256 of
it, never the key itself, so a database dump holds no keys. Requests without a key share
one anonymous owner. With `--storage-context-headers HEADER[=KEY] ...` (smg's flag), the
values of those headers that are present name the owner instead (say a tenant or user id
set by a trusted proxy in front); when none of them is present the key decides, as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

__all__ = ["ANONYMOUS", "Owners", "parse_context_headers"]

ANONYMOUS = "anonymous"


def parse_context_headers(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """`header=context_key` (smg's form) or a bare `header` (its own name as the key)."""
    pairs = []
    for value in values:
        header, _, key = value.partition("=")
        header, key = header.strip().lower(), key.strip()
        if not header:
            raise ValueError(f"--storage-context-headers: {value!r} names no header")
        pairs.append((header, key or header))
    return tuple(pairs)


class Owners:
    def __init__(self, context_headers: Sequence[tuple[str, str]] = ()) -> None:
        self.context_headers = tuple(context_headers)

    def owner(self, headers: Mapping[str, str]) -> str:
        """The owner of what this request stores or reads (headers: lower-case names)."""
        if self.context_headers:
            context = sorted((key, headers[h].strip()) for h, key in self.context_headers
                             if headers.get(h, "").strip())
            if context:
                return "ctx:" + _digest("\n".join(f"{k}={v}" for k, v in context))
        scheme, _, token = headers.get("authorization", "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return ANONYMOUS
        return "key:" + _digest(token)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]
