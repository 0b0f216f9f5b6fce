"""Responses items → chat messages, and parsed output → items and events, however it is split."""

from __future__ import annotations

import random

import pytest

from sglang_gw.errors import InvalidRequestError
from sglang_gw.parsers.types import ToolCallDelta
from sglang_gw.responses.items import checked_items, to_messages
from sglang_gw.responses.output import OutputBuilder
from tests.responses_helpers import folded, without_ids


def test_each_item_kind_becomes_its_chat_message() -> None:
    items = checked_items([
        {"role": "developer", "content": "Use tools."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather "},
                                                        {"type": "input_text", "text": "in Paris?"}]},
        {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "Need the tool."}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "22C"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It is 22C."}]},
    ])
    assert all(item["id"] for item in items)  # type: ignore[index]
    assert to_messages("Be brief.", [], items) == [  # type: ignore[arg-type]
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "reasoning_content": "Need the tool.",
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "22C"},
        {"role": "assistant", "content": "It is 22C."},
    ]


def test_a_call_output_may_answer_a_call_in_the_history() -> None:
    history = checked_items([{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}])
    items = checked_items([{"type": "function_call_output", "call_id": "c", "output": "ok"}])
    assert to_messages(None, history, items)[-1] == {"role": "tool", "tool_call_id": "c", "content": "ok"}  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError) as err:
        to_messages(None, [], items)  # type: ignore[arg-type]
    assert err.value.param == "input[0].call_id"


def test_a_string_input_is_one_user_message() -> None:
    (item,) = checked_items("hello")
    assert item["type"] == "message" and item["role"] == "user"  # type: ignore[index]
    assert item["content"] == [{"type": "input_text", "text": "hello"}]  # type: ignore[index]


PIECES = [("reasoning", "Let me think about Paris and Rome."), ("content", "Checking both: "),
          ("call", (0, "call_a", "get_weather", '{"city": "Paris"}')),
          ("call", (1, "call_b", "get_weather", '{"city": "Rome", "unit": "°C"}'))]


def _run(pieces: list[tuple[str, object]]) -> tuple[list[dict], list[dict]]:
    builder = OutputBuilder()
    events = []
    started: set[int] = set()
    for kind, value in pieces:
        if kind == "call":
            index, call_id, name, args = value  # type: ignore[misc]
            first = index not in started
            started.add(index)
            delta = ToolCallDelta(index=index, id=call_id if first else None, name=name if first else None,
                                  arguments=args)
            events += builder.feed(calls=[delta])
        else:
            events += builder.feed(**{kind: value})  # type: ignore[arg-type]
    events += builder.finish("completed")
    return builder.output, events


def _split(seed: int) -> list[tuple[str, object]]:
    rng = random.Random(seed)
    out: list[tuple[str, object]] = []
    for kind, value in PIECES:
        text = value[3] if kind == "call" else value  # type: ignore[index]
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(0, min(5, len(text) - 1))))  # type: ignore[arg-type]
        parts = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]  # type: ignore[index]
        for part in parts:
            out.append((kind, (*value[:3], part) if kind == "call" else part))  # type: ignore[index]
    return out


@pytest.mark.parametrize("seed", range(20))
def test_output_is_the_same_however_it_is_split(seed: int) -> None:
    whole_output, whole_events = _run(PIECES)
    output, events = _run(_split(seed))
    assert without_ids(output) == without_ids(whole_output)
    assert [e["type"] for e in events if not e["type"].endswith(".delta")] == \
        [e["type"] for e in whole_events if not e["type"].endswith(".delta")]
    rebuilt = folded(events)
    assert [r["text"] or r["arguments"] for r in rebuilt] == [
        "Let me think about Paris and Rome.", "Checking both: ", '{"city": "Paris"}', '{"city": "Rome", "unit": "°C"}']
    assert [o["type"] for o in output] == ["reasoning", "message", "function_call", "function_call"]
    assert [o["call_id"] for o in output[2:]] == ["call_a", "call_b"]


def test_max_tool_calls_drops_later_calls_whole() -> None:
    builder = OutputBuilder(max_tool_calls=1)
    builder.feed(calls=[ToolCallDelta(0, "a", "f", "{}"), ToolCallDelta(1, "b", "g", "{}")])
    builder.finish("completed")
    assert [o["name"] for o in builder.output] == ["f"]
