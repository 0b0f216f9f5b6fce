"""/v1/messages refuses bad input with Anthropic-shaped errors (never a 500), takes the API key
as Anthropic's clients send it, and reports a failure mid-stream as an `error` event; a seeded
fuzz run of mutated valid bodies never gets a 5xx."""

from __future__ import annotations

import copy
import os
import random
from typing import Any

import anthropic
import httpx
import msgspec
import pytest

from sglang_gw.config import SecurityConfig
from sglang_gw.testing.mock_worker import Faults
from tests.conftest import RunningGateway
from tests.test_fuzz_bodies import BROKEN, error_status_problem, mutate, to_json

SEED = int(os.environ.get("SGLANG_GW_FUZZ_SEED", "20261207"))
BODIES = int(os.environ.get("SGLANG_GW_MESSAGES_FUZZ_BODIES", "300"))
TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
USER = {"role": "user", "content": "Hello"}
LONG = {"role": "user", "content": "LONG"}  # the mock worker's 400-word reply


def is_anthropic_error(payload: object) -> bool:
    err = payload.get("error") if isinstance(payload, dict) else None
    return (isinstance(payload, dict) and payload.get("type") == "error" and isinstance(err, dict)
            and set(err) == {"type", "message"} and isinstance(err["type"], str)
            and isinstance(err["message"], str) and bool(err["message"]))


def _post(gw: RunningGateway, body: Any, path: str = "/v1/messages", **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return httpx.post(f"{gw.url}{path}", content=content, headers={"content-type": "application/json", **headers},
                      timeout=30)


def _refused(resp: httpx.Response, status: int, kind: str) -> str:
    assert resp.status_code == status, resp.text
    payload = resp.json()
    assert is_anthropic_error(payload) and payload["error"]["type"] == kind, payload
    return str(payload["error"]["message"])


@pytest.mark.parametrize(("body", "says"), [
    ({"model": "test-model", "messages": [USER]}, "max_tokens"),
    ({"model": "test-model", "max_tokens": 0, "messages": [USER]}, "max_tokens"),
    ({"model": "test-model", "max_tokens": 10, "messages": []}, "messages"),
    ({"model": "test-model", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "video"}]}]},
     "messages[0].content[0]"),
    ({"model": "test-model", "max_tokens": 10, "messages": [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nowhere", "content": "x"}]}]},
     "toolu_nowhere"),
    ({"model": "test-model", "max_tokens": 10, "messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_use", "id": "toolu_2", "name": "f", "input": {}}]}]},
     "messages[1].content[0]"),
    ({"model": "test-model", "max_tokens": 10, "messages": [{"role": "system", "content": "x"}]}, "role"),
    ({"model": "test-model", "max_tokens": 10, "messages": [{"role": "user", "content": []}]}, "messages[0].content"),
    ({"model": "test-model", "max_tokens": 10, "messages": [USER], "tool_choice": {"type": "any"}}, "tools"),
    ({"model": "test-model", "max_tokens": 10, "messages": [USER], "tools": [TOOL],
      "tool_choice": {"type": "tool", "name": "other"}}, "other"),
    ({"model": "test-model", "max_tokens": 10, "messages": [USER],
      "tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0]"),
    ({"model": "test-model", "max_tokens": 2000, "messages": [USER],
      "thinking": {"type": "enabled", "budget_tokens": 4000}}, "budget_tokens"),
    ({"model": "test-model", "max_tokens": 10, "messages": [USER], "temperature": 1.5}, "temperature"),
    ({"model": "test-model", "max_tokens": 10, "messages": [USER], "stop_sequences": "END"}, "stop_sequences"),
], ids=["no-max_tokens", "zero-max_tokens", "no-messages", "unknown-block", "orphan-tool_result",
        "tool_use-from-user", "system-role", "no-blocks", "any-without-tools", "unknown-tool", "server-tool", "budget",
        "temperature", "stop-string"])
def test_bad_input_is_an_anthropic_400(gw: RunningGateway, body: dict[str, Any], says: str) -> None:
    assert says in _refused(_post(gw, body), 400, "invalid_request_error")
    assert not gw.worker.records.requests


def test_the_sdk_raises_its_own_errors(gw: RunningGateway) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0, timeout=30)
    with pytest.raises(anthropic.BadRequestError) as err:
        client.messages.create(model="test-model", max_tokens=10, messages=[
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "x"}]}])
    assert err.value.body["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="claude-nonexistent", max_tokens=10, messages=[USER])
    with pytest.raises(anthropic.BadRequestError):
        client.messages.count_tokens(model="test-model", messages=[])


def test_other_refusals_take_the_shape_too(gw: RunningGateway) -> None:
    _refused(_post(gw, b"{not json"), 400, "invalid_request_error")
    _refused(_post(gw, b""), 400, "invalid_request_error")
    _refused(httpx.get(f"{gw.url}/v1/messages", timeout=30), 405, "invalid_request_error")
    _refused(_post(gw, {"model": "nope", "max_tokens": 10, "messages": [USER]}), 404, "not_found_error")
    too_long = {"model": "test-model", "max_tokens": 10, "messages": [{"role": "user", "content": "word " * 50_000}]}
    _refused(_post(gw, too_long), 400, "invalid_request_error")
    # The OpenAI routes keep OpenAI's shape.
    resp = _post(gw, {"model": "test-model", "messages": []}, "/v1/chat/completions")
    assert resp.status_code == 400 and set(resp.json()["error"]) == {"message", "type", "param", "code"}


def test_a_worker_failure_before_output_is_an_http_error(gw: RunningGateway) -> None:
    gw.worker.faults = Faults(reject_next=1000)  # more than any retry budget
    resp = _post(gw, {"model": "test-model", "max_tokens": 10, "messages": [USER], "stream": True})
    assert resp.status_code == 503 and is_anthropic_error(resp.json())
    assert resp.json()["error"]["type"] == "overloaded_error"


def test_a_failure_mid_stream_is_an_error_event(gw: RunningGateway) -> None:
    gw.worker.faults = Faults(fail_after_tokens=2)
    client = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0, timeout=30)
    with pytest.raises(anthropic.APIStatusError) as err:
        with client.messages.stream(model="test-model", max_tokens=50, messages=[LONG]) as stream:
            for _ in stream:
                pass
    assert err.value.body["type"] == "error" and err.value.body["error"]["type"] == "api_error"
    resp = _post(gw, {"model": "test-model", "max_tokens": 50, "messages": [LONG], "stream": True})
    events = [line for line in resp.text.splitlines() if line.startswith("event: ")]
    assert events[0] == "event: message_start" and events[-1] == "event: error"
    assert "[DONE]" not in resp.text


@pytest.fixture(scope="module")
def keyed_gw(gateway_factory) -> RunningGateway:
    return gateway_factory(security=SecurityConfig(api_key="sekret"))


def test_api_key_as_anthropic_clients_send_it(keyed_gw: RunningGateway) -> None:
    ask = {"model": "test-model", "max_tokens": 5, "messages": [USER]}
    by_header = anthropic.Anthropic(base_url=keyed_gw.url, api_key="sekret", max_retries=0, timeout=30)
    assert by_header.messages.create(**ask).type == "message"
    by_bearer = anthropic.Anthropic(base_url=keyed_gw.url, auth_token="sekret", max_retries=0, timeout=30)
    assert by_bearer.messages.create(**ask).type == "message"
    with pytest.raises(anthropic.AuthenticationError) as err:
        anthropic.Anthropic(base_url=keyed_gw.url, api_key="wrong", max_retries=0).messages.create(**ask)
    assert err.value.body["error"]["type"] == "authentication_error"
    assert "x-api-key" in _refused(_post(keyed_gw, ask), 401, "authentication_error")
    # Only the Anthropic routes read x-api-key.
    resp = _post(keyed_gw, {"model": "test-model", "messages": [USER]}, "/v1/chat/completions",
                 **{"x-api-key": "sekret"})
    assert resp.status_code == 401 and "code" in resp.json()["error"]


def _valid_body(rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "test-model", "max_tokens": rng.choice([1, 8, 30]), "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": ""},
                                          {"type": "tool_use", "id": "toolu_a1", "name": "get_weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_a1", "content": "sunny",
                                      "is_error": False}]}],
        "system": [{"type": "text", "text": "Be brief."}], "tools": [TOOL],
        "tool_choice": {"type": "auto"}, "stop_sequences": ["END"], "temperature": 0.5, "top_k": 5}
    if rng.random() < 0.3:
        body["stream"] = True
    if rng.random() < 0.3:
        body["thinking"] = {"type": "enabled", "budget_tokens": 1024}
        body["max_tokens"] = 2000
    return body


def _problem(resp: httpx.Response) -> str | None:
    if resp.status_code >= 400:
        return error_status_problem(resp, is_anthropic_error, "Anthropic")
    if '"api_error"' in resp.text:
        return f"stream error: {resp.text[-300:]}"
    return None


def test_fuzzed_bodies_never_fail(gw: RunningGateway) -> None:
    rng = random.Random(SEED)
    failures, statuses = [], {}
    with httpx.Client(base_url=gw.url, timeout=60, headers={"content-type": "application/json"}) as client:
        for index in range(BODIES):
            path = "/v1/messages" if rng.random() < 0.8 else "/v1/messages/count_tokens"
            if rng.random() < 0.04:
                body = rng.choice(BROKEN)
            else:
                body = to_json(mutate(copy.deepcopy(_valid_body(rng)), rng, set())).encode("utf-8", "surrogatepass")
            resp = client.post(path, content=body)
            statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
            if (found := _problem(resp)) is not None:
                failures.append(f"case {index} POST {path} {body[:300]!r}: {found}")
    replay = f"(SGLANG_GW_FUZZ_SEED={SEED}, statuses {dict(sorted(statuses.items()))})"
    assert not failures, f"{len(failures)} bad answers {replay}:\n" + "\n".join(failures[:15])
    assert statuses.get(200, 0) > BODIES // 10, f"too few valid bodies reached a worker {replay}"
    assert all(not w.inflight for w in gw.gateway.pool.workers())
