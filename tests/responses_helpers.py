"""Helpers for the /v1/responses tests: comparing answers without their fresh ids, reading raw events."""

from __future__ import annotations

import typing
from typing import Any

import httpx
import msgspec
from openai.types.responses import ResponseStreamEvent

__all__ = ["events_of", "folded", "validated_event", "without_ids"]

def _event_types() -> dict[str, Any]:
    union = typing.get_args(ResponseStreamEvent)[0] if typing.get_origin(ResponseStreamEvent) is typing.Annotated \
        else ResponseStreamEvent
    return {typing.get_args(cls.model_fields["type"].annotation)[0]: cls for cls in typing.get_args(union)}


_EVENTS = _event_types()
_FRESH = {"id", "call_id", "created_at", "completed_at", "item_id", "sequence_number"}


def validated_event(event: dict[str, Any]) -> None:
    """Check a streamed event against the SDK's type for it: every field it requires, of its type."""
    _EVENTS[event["type"]].model_validate(event)


def without_ids(value: Any) -> Any:
    """A response (or event) as plain JSON, less what every call makes anew: ids and times."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k not in _FRESH}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def events_of(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The raw SSE events of a streamed POST /v1/responses, each checked to name its own type."""
    events = []
    with httpx.stream("POST", f"{url}/v1/responses", json={**body, "stream": True}, headers=headers,
                      timeout=30) as resp:
        assert resp.status_code == 200, resp.read()
        kind = None
        for line in resp.iter_lines():
            if line.startswith("event: "):
                kind = line[len("event: "):]
            elif line.startswith("data: "):
                event = msgspec.json.decode(line[len("data: "):])
                assert event["type"] == kind
                validated_event(event)
                events.append(event)
    return events


def folded(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The output items rebuilt from the events' deltas alone (not from their `done` events)."""
    items: dict[int, dict[str, Any]] = {}
    for ev in events:
        kind, index = ev["type"], ev.get("output_index")
        if kind == "response.output_item.added":
            items[index] = {"type": ev["item"]["type"], "text": "", "arguments": ""}
        elif kind in ("response.output_text.delta", "response.reasoning_text.delta"):
            items[index]["text"] += ev["delta"]
        elif kind == "response.function_call_arguments.delta":
            items[index]["arguments"] += ev["delta"]
    return [items[i] for i in sorted(items)]
