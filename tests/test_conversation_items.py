"""Conversation items as clients send them → the items stored; metadata limits."""

from __future__ import annotations

from typing import Any

import pytest

from sglang_gw.api.items import MAX_ITEMS_PER_REQUEST, stored_items
from sglang_gw.api.metadata import checked_metadata
from sglang_gw.errors import InvalidRequestError


def without_ids(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k != "id"} for item in items]


def test_items_are_stored_in_openai_shape_with_fresh_ids() -> None:
    items = stored_items([
        {"role": "user", "content": "Grüße 👋"},  # the easy form: no type
        {"type": "message", "role": "assistant", "content": "hi", "id": "msg_client", "status": "in_progress"},
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "a"},
                                                              {"type": "output_text", "text": "b"}]},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{\"x\": 1}"},
        {"type": "function_call_output", "call_id": "call_1", "output": [{"type": "input_text", "text": "4"},
                                                                         {"type": "input_text", "text": "2"}]},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "s"}],
         "content": [{"type": "reasoning_text", "text": "r"}]},
    ], "items")
    assert without_ids(items) == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Grüße 👋"}],
         "status": "completed"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi", "annotations": []}],
         "status": "completed"},
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "a"},
                                                              {"type": "output_text", "text": "b", "annotations": []}],
         "status": "completed"},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{\"x\": 1}", "status": "completed"},
        {"type": "function_call_output", "call_id": "call_1", "output": "42", "status": "completed"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "s"}],
         "content": [{"type": "reasoning_text", "text": "r"}], "status": "completed"},
    ]
    assert [i["id"].split("_")[0] for i in items] == ["msg", "msg", "msg", "fc", "fco", "rs"]
    assert len({i["id"] for i in items}) == 6 and items[1]["id"] != "msg_client"


@pytest.mark.parametrize(("raw", "param"), [
    ([{"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "x"}]}],
     "items[0].content[0].type"),
    ([{"role": "user", "content": "ok"}, {"type": "item_reference", "id": "msg_1"}], "items[1].type"),
    ([{"content": "no role, no type"}], "items[0].type"),
    ([{"type": "function_call", "call_id": "c", "name": "f", "arguments": {"x": 1}}], "items[0].arguments"),
    ([{"type": "function_call_output", "output": "x"}], "items[0].call_id"),
    ([{"type": "message", "role": "tool", "content": "x"}], "items[0].role"),
    ([{"type": "message", "role": "user"}], "items[0].content"),
    (["a string"], "items[0]"),
    ({"role": "user"}, "items"),
    ([{"role": "user", "content": "x"}] * (MAX_ITEMS_PER_REQUEST + 1), "items"),
])
def test_bad_items_name_their_field(raw: Any, param: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        stored_items(raw, "items")
    assert err.value.param == param
    assert "`$" not in err.value.message  # paths read as the request's own (items[0]...)


def test_metadata_limits() -> None:
    assert checked_metadata(None) == {}
    ok = {f"k{i}": "v" * 512 for i in range(16)}
    assert checked_metadata(ok) == ok
    for bad, param in (({f"k{i}": "v" for i in range(17)}, "metadata"), ({"k" * 65: "v"}, "metadata." + "k" * 64),
                       ({"k": "v" * 513}, "metadata.k"), ({"k": None}, "metadata.k"), (["k"], "metadata")):
        with pytest.raises(InvalidRequestError) as err:
            checked_metadata(bad)
        assert err.value.param == param
