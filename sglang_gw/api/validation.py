"""Checks at the edge that a schema alone cannot make: JSON nesting before decoding, token ids
against the model's vocabulary, `logit_bias` keys, and the shape of `tools` and `tool_choice`.

Each failure is an :class:`~sglang_gw.errors.InvalidRequestError` naming the field, raised
before anything reaches a worker or a chat template.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from sglang_gw.errors import InvalidRequestError

__all__ = [
    "MAX_JSON_DEPTH",
    "check_json_depth",
    "check_logit_bias",
    "check_token_ids",
    "check_tool_choice",
    "check_tools",
    "error_param",
]

# serde_json's default recursion limit, so what smg accepts: far more than any schema needs,
# and far below what recursive decoders (msgspec, json.dumps, jinja's tojson) survive.
MAX_JSON_DEPTH = 128


# -- JSON nesting ------------------------------------------------------------------------------

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_ONE_KIND = bytes.maketrans(b"{}", b"[]")  # depth does not care which kind; the decoder checks pairs
_STEP = [0] * 256
_STEP[ord("[")], _STEP[ord("]")] = 1, -1
_PEEL_PASSES = 4
_CHUNK = 1 << 16


def check_json_depth(body: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse a body nested deeper than ``limit`` before any decoder recurses into it.

    msgspec recurses per level and fails with RecursionError near Python's limit, and
    anything less deep that it accepts is walked again by json.dumps and templates. Every
    step here runs at C speed over the bytes: most bodies have too few brackets to be deep.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return
    if _depth_exceeds(_structure(body), limit):
        raise InvalidRequestError(f"JSON body is nested deeper than {limit} levels")


def _structure(body: bytes) -> bytes:
    """The body's brackets outside strings, all as ``[`` and ``]``."""
    # Escaped backslashes first, then escaped quotes: every quote left delimits a string.
    # Invalid JSON may be misread here; the decoder refuses it either way.
    plain = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(plain.split(b'"')[::2]).translate(_ONE_KIND, _NOT_BRACKETS)


def _depth_exceeds(brackets: bytes, limit: int) -> bool:
    # Each pass drops the innermost pairs, one level of everything: wide, shallow bodies
    # (lists of lists) vanish here; the rest is summed a chunk at a time, to stop early.
    for _ in range(_PEEL_PASSES):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"")
    limit -= _PEEL_PASSES
    depth = 0
    for start in range(0, len(brackets), _CHUNK):
        running = list(accumulate(map(_STEP.__getitem__, brackets[start:start + _CHUNK]), initial=depth))
        if max(running) > limit:
            return True
        depth = running[-1]
    return False


# -- token ids ---------------------------------------------------------------------------------


def check_token_ids(ids: Iterable[Any], vocab_size: int, param: str) -> None:
    """Every id is an int in ``[0, vocab_size)``: a worker indexes its embedding with it."""
    for token in ids:
        if type(token) is not int or not 0 <= token < vocab_size:
            shown = repr(token)
            shown = shown if len(shown) <= 40 else f"{shown[:40]}…"
            raise InvalidRequestError(f"`{param}` holds {shown}, which is not a token id of this model "
                                      f"(0 to {vocab_size - 1})", param=param)


_MAX_ID_DIGITS = 10  # uint32; also keeps int() away from Python's 4300-digit limit


def check_logit_bias(bias: Mapping[str, float] | None, vocab_size: int, param: str) -> None:
    """Keys are token ids in ASCII decimal (``"²".isdigit()`` is true, ``int("²")`` fails)."""
    for key in bias or ():
        if not (key.isascii() and key.isdigit() and len(key) <= _MAX_ID_DIGITS and int(key) < vocab_size):
            raise InvalidRequestError(f"`{param}` key {key[:40]!r} is not a token id of this model: keys are "
                                      f"decimal token ids from 0 to {vocab_size - 1}", param=param)


# -- tools -------------------------------------------------------------------------------------


class FunctionDefinition(msgspec.Struct):
    name: Annotated[str, Meta(min_length=1)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(msgspec.Struct):
    function: FunctionDefinition
    type: Literal["function"] = "function"


class NamedFunction(msgspec.Struct):
    name: str


class NamedToolChoice(msgspec.Struct):
    function: NamedFunction
    type: Literal["function"] = "function"


_TOOLS = list[ToolDefinition]
_CHOICES = ("none", "auto", "required")


def error_param(err: msgspec.ValidationError, root: str | None = None) -> str | None:
    """The field a msgspec error names, as a dotted path below ``root`` (dict keys dropped);
    for a missing field, the field itself."""
    text = str(err)
    path = text.rsplit("`$", 1)[1].rstrip("`").replace("[...]", "") if "`$" in text else ""
    if text.startswith("Object missing required field `"):
        path += "." + text.split("`", 2)[1]
    full = f"{root or ''}{path}".lstrip(".")
    return full or None


def check_tools(tools: Sequence[Any] | None, param: str = "tools") -> None:
    """Tools are OpenAI function tools, each with a name, before a template prints them."""
    if tools is None:
        return
    try:
        msgspec.convert(tools, _TOOLS)
    except msgspec.ValidationError as err:
        raise InvalidRequestError(f"invalid `{param}`: {err}", param=error_param(err, param)) from None


def check_tool_choice(choice: str | dict[str, Any] | None, tools: Sequence[Any] | None) -> None:
    """`none`, `auto`, `required`, or a named function that is one of ``tools``."""
    if choice is None or choice in _CHOICES:
        return
    if isinstance(choice, str):
        raise InvalidRequestError(f"`tool_choice` must be one of {', '.join(_CHOICES)} or a named function; "
                                  f"got {choice[:40]!r}", param="tool_choice")
    try:
        named = msgspec.convert(choice, NamedToolChoice)
    except msgspec.ValidationError as err:
        raise InvalidRequestError(f"invalid `tool_choice`: {err}", param=error_param(err, "tool_choice")) from None
    names = {tool["function"]["name"] for tool in tools or ()}
    if named.function.name not in names:  # `param` as OpenAI gives it here
        raise InvalidRequestError(f"`tool_choice` names {named.function.name[:64]!r}, which is not in `tools`",
                                  param="tool_choice")
