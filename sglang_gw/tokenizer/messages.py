"""Turn OpenAI chat messages into what chat templates expect (DESIGN §5), in one place.

The rules, each matching transformers 5.x or the best gateways:

- a message is a mapping with one of OpenAI's ``ROLES``; anything else is an
  :class:`~sglang_gw.errors.InvalidRequestError` naming the offending ``param`` (a template
  silently skips a role it does not know, and the model would never see the message);
- ``developer`` (OpenAI's new name for ``system``) and ``function`` (the old ``tool``) are
  given under the role they stand for when the template does not know them (``role_aliases``);
- keys whose value is null are dropped, then a missing ``content`` becomes ``""``;
- list-of-parts content stays a list (of copies) for roles whose template reads parts, and
  is otherwise joined with ``"\\n"``; string content becomes one text part for roles whose
  template reads nothing else; this gateway is text-only, so only ``text`` parts pass;
- an empty ``tool_calls`` list is dropped (templates test ``'tool_calls' in message``);
- history tool-call ``arguments`` become objects when they are a JSON object, or stay the
  client's strings on request (for templates that only work with strings);
- reasoning in history is offered under ``reasoning_content``, ``reasoning`` and ``thinking``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sglang_gw.errors import InvalidRequestError

__all__ = ["REASONING_KEYS", "ROLES", "Message", "argument_objects", "normalize_messages"]

ROLES = ("system", "developer", "user", "assistant", "tool", "function")

# The first key a message has wins; templates read `reasoning_content` (most), `thinking`
# (gpt-oss) or `reasoning` (a few newer ones).
REASONING_KEYS = ("reasoning_content", "thinking", "reasoning")

Message = dict[str, Any]


def normalize_messages(
    messages: object,
    *,
    parts_roles: Collection[str] = frozenset(),
    parts_only_roles: Collection[str] = frozenset(),
    arguments_as_objects: bool = True,
    role_aliases: Mapping[str, str] | None = None,
) -> list[Message]:
    """Validate ``messages`` and return template-ready copies; the input is never modified.

    ``parts_roles`` are the roles whose content the template reads from a list of parts;
    ``parts_only_roles`` (a subset) are those it reads only that way, so their string content
    is given as one text part. ``arguments_as_objects=False`` keeps the client's argument
    strings, for templates that fail on objects. ``role_aliases`` renames roles the template
    does not know to ones it does.
    """
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
        raise InvalidRequestError("'messages' must be a list of message objects", param="messages")
    if not messages:
        raise InvalidRequestError("'messages' must contain at least one message", param="messages")
    style = _ContentStyle(frozenset(parts_roles), frozenset(parts_only_roles), dict(role_aliases or {}))
    return [
        _normalize_message(message, f"messages[{index}]", style, arguments_as_objects)
        for index, message in enumerate(messages)
    ]


def argument_objects(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The tool-call arguments given to the template as objects, in order."""
    found = []
    for message in messages:
        for call in message.get("tool_calls", ()):
            arguments = call["function"]["arguments"]
            if isinstance(arguments, dict):
                found.append(arguments)
    return found


@dataclass(frozen=True, slots=True)
class _ContentStyle:
    parts_roles: frozenset[str]
    parts_only_roles: frozenset[str]
    role_aliases: dict[str, str]


def _normalize_message(message: object, param: str, style: _ContentStyle, as_objects: bool) -> Message:
    if not isinstance(message, Mapping):
        raise InvalidRequestError(f"{param} must be an object", param=param)
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        shown = repr(role)[:40] if role is not None else "missing"
        raise InvalidRequestError(f"{param}.role is {shown}; it must be one of {', '.join(ROLES)}",
                                  param=f"{param}.role")
    role = style.role_aliases.get(role, role)
    out: Message = {key: value for key, value in message.items() if value is not None}
    out["role"] = role
    out["content"] = _normalize_content(out.get("content", ""), f"{param}.content", role, style)
    _alias_reasoning(out)
    if "tool_calls" in out:
        calls = _normalize_tool_calls(out.pop("tool_calls"), f"{param}.tool_calls", as_objects)
        if calls:  # an empty list says nothing, but trips templates that test the key
            out["tool_calls"] = calls
    return out


def _normalize_content(content: object, param: str, role: str, style: _ContentStyle) -> str | list[Message]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if role in style.parts_only_roles else content
    if not isinstance(content, list):
        raise InvalidRequestError(f"{param} must be a string or a list of content parts", param=param)
    parts = [_text_part(part, f"{param}[{i}]") for i, part in enumerate(content)]
    if role in style.parts_roles:
        return parts
    return "\n".join(part["text"] for part in parts)


def _text_part(part: object, param: str) -> Message:
    if not isinstance(part, Mapping):
        raise InvalidRequestError(f"{param} must be a content part object", param=param)
    kind = part.get("type")
    if kind != "text":
        # No pixels or audio ever reach a worker from here, so a media part would be silently
        # lost; say so instead.
        raise InvalidRequestError(
            f"{param}.type {kind!r} is not supported: only 'text' content parts are", param=f"{param}.type"
        )
    if not isinstance(part.get("text"), str):
        raise InvalidRequestError(f"{param}.text must be a string", param=f"{param}.text")
    return {key: value for key, value in part.items() if value is not None}


def _alias_reasoning(message: Message) -> None:
    reasoning = next((message[key] for key in REASONING_KEYS if key in message), None)
    if reasoning is None:
        return
    # Key order as transformers builds it, for templates that iterate over a message's items.
    aliased = {"thinking": reasoning, **message, "reasoning_content": reasoning}
    aliased.setdefault("reasoning", reasoning)
    message.clear()
    message.update(aliased)


def _normalize_tool_calls(calls: object, param: str, as_objects: bool) -> list[Message]:
    if not isinstance(calls, list):
        raise InvalidRequestError(f"{param} must be a list", param=param)
    return [_normalize_tool_call(call, f"{param}[{i}]", as_objects) for i, call in enumerate(calls)]


def _normalize_tool_call(call: object, param: str, as_objects: bool) -> Message:
    if not isinstance(call, Mapping):
        raise InvalidRequestError(f"{param} must be an object", param=param)
    function = call.get("function")
    if not isinstance(function, Mapping):
        raise InvalidRequestError(f"{param}.function must be an object", param=f"{param}.function")
    if not isinstance(function.get("name"), str):
        raise InvalidRequestError(f"{param}.function.name must be a string", param=f"{param}.function.name")
    as_object, as_string = _arguments(function.get("arguments"), f"{param}.function.arguments")
    out = {key: value for key, value in call.items() if value is not None}
    out["function"] = {**function, "arguments": as_object if as_objects else as_string}
    return out


def _arguments(arguments: object, param: str) -> tuple[object, str]:
    """The arguments as (what templates get first, the string to fall back to)."""
    if arguments is None:
        return {}, "{}"
    if isinstance(arguments, Mapping):
        as_object = dict(arguments)
        return as_object, json.dumps(as_object, ensure_ascii=False)
    if not isinstance(arguments, str):
        raise InvalidRequestError(f"{param} must be a JSON string or an object", param=param)
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments, arguments
    # A JSON scalar or array is not a call's argument object: keep what the client sent.
    return (value if isinstance(value, dict) else arguments), arguments
