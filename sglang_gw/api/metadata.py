"""`metadata` as OpenAI takes it: at most 16 string pairs, keys up to 64 characters, values
up to 512. Anything else is a 400 naming the field."""

from __future__ import annotations

from typing import Any

from sglang_gw.errors import InvalidRequestError

__all__ = ["MAX_KEYS", "MAX_KEY_CHARS", "MAX_VALUE_CHARS", "checked_metadata"]

MAX_KEYS, MAX_KEY_CHARS, MAX_VALUE_CHARS = 16, 64, 512


def checked_metadata(raw: Any, param: str = "metadata") -> dict[str, str]:
    """The metadata of a request (null or absent: none)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidRequestError(f"`{param}` must be an object of string keys and values", param=param)
    if len(raw) > MAX_KEYS:
        raise InvalidRequestError(f"`{param}` may hold at most {MAX_KEYS} keys, got {len(raw)}", param=param)
    for key, value in raw.items():
        if len(key) > MAX_KEY_CHARS:
            raise InvalidRequestError(f"`{param}` keys are at most {MAX_KEY_CHARS} characters; {key[:20]!r}… has "
                                      f"{len(key)}", param=f"{param}.{key[:MAX_KEY_CHARS]}")
        if not isinstance(value, str):
            raise InvalidRequestError(f"`{param}.{key}` must be a string", param=f"{param}.{key}")
        if len(value) > MAX_VALUE_CHARS:
            raise InvalidRequestError(f"`{param}.{key}` is at most {MAX_VALUE_CHARS} characters, got {len(value)}",
                                      param=f"{param}.{key}")
    return dict(raw)
