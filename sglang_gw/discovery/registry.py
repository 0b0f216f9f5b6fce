"""The narrow seam between discovery and the gateway's worker registry.

Discovery speaks in `POST /workers` bodies (plain mappings, every field passed through),
keyed by url; the gateway side turns a body into a registration job on the same queue as
the `/workers` API, and removes a worker by draining it first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["Body", "Registry"]

Body = Mapping[str, Any]


class Registry(Protocol):
    async def add(self, body: Body) -> bool:
        """Register `body` on the job queue and wait for the job: True once active, False if it
        failed (raises GatewayError or ValueError on a bad body)."""

    async def remove(self, url: str) -> None:
        """Drain `url` (in-flight requests finish), then remove it; no-op when unknown."""

    def present(self, url: str) -> bool:
        """Registered, or being registered (a failed job does not count)."""
