"""The owner of what a request stores or reads, for the responses and conversations routes."""

from __future__ import annotations

from starlette.requests import Request

from sglang_gw.server.handling import gateway_of

__all__ = ["owner_of"]


def owner_of(request: Request) -> str:
    """By default a hash of the request's API key (one anonymous owner without a key), or
    the `--storage-context-headers` present (sglang_gw/history/owner.py)."""
    return gateway_of(request).owners.owner(request.headers)
