"""Validation at the edge: every input a worker cannot take is a 400 naming its field, and
no worker ever sees it."""

from __future__ import annotations

import pytest

from sglang_gw.api.validation import MAX_JSON_DEPTH
from tests.conftest import RunningGateway
from tests.test_api_errors import assert_error, post

CHAT = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
COMPLETION = {"model": "test-model", "prompt": "hi", "max_tokens": 4}
GENERATE = {"text": "hi", "sampling_params": {"max_new_tokens": 4}}
INT32, UINT32, INT64 = 2**31, 2**32, 2**63


def refused(gw: RunningGateway, path: str, body: object, param: str | None) -> dict:
    err = assert_error(post(gw, path, body), 400, param=param)
    assert err["type"] == "invalid_request_error"
    assert gw.worker.records.requests == []
    return err


# -- integers past the proto's range ----------------------------------------------------------


@pytest.mark.parametrize(("patch", "param"), [
    ({"top_k": INT32}, "top_k"),
    ({"min_tokens": UINT32}, "min_tokens"),
    ({"stream_interval": INT32}, "stream_interval"),
    ({"stop_token_ids": [1, UINT32]}, "stop_token_ids[1]"),
    ({"seed": INT64}, "seed"),
    ({"seed": 10**400}, "seed"),
    ({"max_tokens": 10**30}, "max_tokens"),
])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_openai_integers_past_the_proto_are_400(gw: RunningGateway, path: str, patch: dict, param: str) -> None:
    base = CHAT if path == "/v1/chat/completions" else COMPLETION
    refused(gw, path, {**base, **patch}, param)


@pytest.mark.parametrize(("patch", "param"), [
    ({"top_logprobs_num": INT32, "return_logprob": True}, "top_logprobs_num"),
    ({"logprob_start_len": INT32, "return_logprob": True}, "logprob_start_len"),
    ({"text": None, "input_ids": [1, UINT32]}, "input_ids"),
    ({"sampling_params": {"top_k": INT32}}, "sampling_params.top_k"),
    ({"sampling_params": {"min_new_tokens": UINT32}}, "sampling_params.min_new_tokens"),
    ({"sampling_params": {"max_new_tokens": UINT32}}, "sampling_params.max_new_tokens"),
    ({"sampling_params": {"stream_interval": INT32}}, "sampling_params.stream_interval"),
    ({"sampling_params": {"stop_token_ids": [UINT32]}}, "sampling_params.stop_token_ids[0]"),
    ({"sampling_params": {"sampling_seed": INT64}}, "sampling_params.sampling_seed"),
    ({"sampling_params": {"temperature": 1e300}}, "sampling_params.temperature"),
])
def test_generate_integers_past_the_proto_are_400(gw: RunningGateway, patch: dict, param: str) -> None:
    refused(gw, "/generate", {**GENERATE, **patch}, param)


def test_largest_values_the_proto_takes_pass(gw: RunningGateway) -> None:
    body = {**CHAT, "top_k": INT32 - 1, "stream_interval": INT32 - 1, "seed": INT64 - 1,
            "stop_token_ids": [UINT32 - 1]}
    assert post(gw, "/v1/chat/completions", body).status_code == 200
    sent = gw.worker.records.requests[-1].sampling_params
    assert sent.top_k == INT32 - 1 and list(sent.stop_token_ids) == [UINT32 - 1]


def test_worker_bootstrap_port_is_a_port(gw: RunningGateway) -> None:
    body = {"url": "grpc://127.0.0.1:1", "worker_type": "prefill", "bootstrap_port": INT32}
    assert_error(post(gw, "/workers", body), 400, param="bootstrap_port")


# -- token ids ---------------------------------------------------------------------------------


def _vocab(gw: RunningGateway) -> int:
    return gw.worker.facts.vocab_size


@pytest.mark.parametrize("bad", ["vocab", UINT32, 2**64, -1])
def test_prompt_token_ids_outside_the_vocabulary_are_400(gw: RunningGateway, bad: object) -> None:
    bad_id = _vocab(gw) if bad == "vocab" else bad
    refused(gw, "/v1/completions", {**COMPLETION, "prompt": [1, bad_id]}, "prompt")
    refused(gw, "/v1/completions", {**COMPLETION, "prompt": [[1, 2], [3, bad_id]]}, "prompt")
    refused(gw, "/generate", {"input_ids": [1, bad_id], "sampling_params": {"max_new_tokens": 4}}, "input_ids")
    assert_error(post(gw, "/v1/detokenize", {"tokens": [1, bad_id]}), 400, param="tokens")


def test_the_last_token_id_of_the_vocabulary_passes(gw: RunningGateway) -> None:
    last = _vocab(gw) - 1
    assert post(gw, "/v1/completions", {**COMPLETION, "prompt": [1, last]}).status_code == 200
    assert list(gw.worker.records.requests[-1].tokenized.input_ids) == [1, last]
    assert post(gw, "/v1/detokenize", {"tokens": [1, last]}).status_code == 200


# -- JSON nesting ------------------------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions", "/generate", "/v1/tokenize",
                                  "/v1/detokenize", "/parse/reasoning", "/workers"])
def test_deep_nesting_is_400_even_in_an_ignored_field(gw: RunningGateway, path: str) -> None:
    body = b'{"ignored": ' + _nested(1000) + b', "model": "test-model"}'
    err = refused(gw, path, body, None)
    assert str(MAX_JSON_DEPTH) in err["message"]
    deeper = b'{"x": ' + _nested(100_000) + b"}"
    refused(gw, path, deeper, None)


def test_nesting_up_to_the_limit_passes(gw: RunningGateway) -> None:
    ok = b'{"model": "test-model", "prompt": "hi", "max_tokens": 1, "x": ' + _nested(MAX_JSON_DEPTH - 1) + b"}"
    assert post(gw, "/v1/completions", ok).status_code == 200
    over = b'{"model": "test-model", "prompt": "hi", "max_tokens": 1, "x": ' + _nested(MAX_JSON_DEPTH) + b"}"
    assert_error(post(gw, "/v1/completions", over), 400)


def test_brackets_inside_strings_are_not_nesting(gw: RunningGateway) -> None:
    text = '[{"\\"' * 5000 + "STOPTEST"
    resp = post(gw, "/v1/completions", {**COMPLETION, "prompt": text, "stop": ["]]]"], "user": "{" * 500})
    assert resp.status_code == 200, resp.text


# -- logit_bias --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["²", "１", "-1", "+1", " 1", "1.0", "0x1", "", "1" * 5000, "vocab"])
def test_logit_bias_keys_are_ascii_token_ids(gw: RunningGateway, key: str) -> None:
    key = str(_vocab(gw)) if key == "vocab" else key
    refused(gw, "/v1/chat/completions", {**CHAT, "logit_bias": {key: 1}}, "logit_bias")
    refused(gw, "/generate", {**GENERATE, "sampling_params": {"logit_bias": {key: 1}}}, "sampling_params.logit_bias")


@pytest.mark.parametrize("value", [100.5, -101, 1e300])
def test_logit_bias_values_are_within_100(gw: RunningGateway, value: float) -> None:
    refused(gw, "/v1/completions", {**COMPLETION, "logit_bias": {"1": value}}, None)
    refused(gw, "/generate", {**GENERATE, "sampling_params": {"logit_bias": {"1": value}}}, None)


def test_good_logit_bias_is_sent(gw: RunningGateway) -> None:
    last = str(_vocab(gw) - 1)
    assert post(gw, "/v1/chat/completions", {**CHAT, "logit_bias": {"7": -100, last: 100}}).status_code == 200
    assert dict(gw.worker.records.requests[-1].sampling_params.logit_bias) == {"7": -100.0, last: 100.0}


# -- message roles -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["bogus", "System", "model", "ipython"])
def test_unknown_roles_are_400(gw: RunningGateway, role: str) -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": role, "content": "x"}]
    err = refused(gw, "/v1/chat/completions", {**CHAT, "messages": messages}, "messages[1].role")
    for accepted in ("system", "developer", "user", "assistant", "tool", "function"):
        assert accepted in err["message"]
    assert_error(post(gw, "/v1/tokenize", {"messages": messages}), 400, param="messages[1].role")


def test_developer_and_function_messages_reach_the_prompt(gw: RunningGateway) -> None:
    """Qwen3's template knows neither role: they would vanish, so they are given as the
    system and tool roles they stand for."""
    messages = [{"role": "developer", "content": "DEVELOPER-SAYS"}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "function", "name": "f", "content": "FUNCTION-SAYS"}]
    assert post(gw, "/v1/chat/completions", {**CHAT, "messages": messages}).status_code == 200
    prompt = gw.worker.records.requests[-1].tokenized.original_text
    assert "<|im_start|>system\nDEVELOPER-SAYS" in prompt
    assert "<tool_response>\nFUNCTION-SAYS" in prompt
    plain = [{"role": "developer", "content": "BE-TERSE"}, {"role": "user", "content": "hi"}]
    for _ in range(3):  # the second and third render from the template's cached skeleton
        assert post(gw, "/v1/chat/completions", {**CHAT, "messages": plain}).status_code == 200
        assert "<|im_start|>system\nBE-TERSE<|im_end|>" in gw.worker.records.requests[-1].tokenized.original_text


# -- tools -------------------------------------------------------------------------------------

FN = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(("tools", "param"), [
    ([{}], "tools[0].function"),
    ([FN, {"type": "function", "function": {"name": 5}}], "tools[1].function.name"),
    ([{"type": "function", "function": {}}], "tools[0].function.name"),
    ([{"type": "function", "function": {"name": ""}}], "tools[0].function.name"),
    ([{"type": "function", "function": {"name": "f", "parameters": "x"}}], "tools[0].function.parameters"),
    ([{"type": "function", "function": {"name": "f", "parameters": []}}], "tools[0].function.parameters"),
    ([{"type": "function", "function": {"name": "f", "description": 3}}], "tools[0].function.description"),
    ([{"type": "retrieval", "function": {"name": "f"}}], "tools[0].type"),
    ([{"type": "function", "function": "f"}], "tools[0].function"),
    (["f"], "tools[0]"),
])
def test_malformed_tools_are_400(gw: RunningGateway, tools: list, param: str) -> None:
    refused(gw, "/v1/chat/completions", {**CHAT, "tools": tools}, param)
    assert_error(post(gw, "/v1/tokenize", {"messages": CHAT["messages"], "tools": tools}), 400, param=param)
    body = {"text": "x", "tool_call_parser": "hermes", "tools": tools}
    assert_error(post(gw, "/parse/function_call", body), 400, param=param)


@pytest.mark.parametrize(("choice", "param"), [
    ({"type": "function", "function": {"name": "other"}}, "tool_choice"),
    ({"type": "function", "function": {"name": 5}}, "tool_choice.function.name"),
    ({"type": "function"}, "tool_choice.function"),
    ({"type": "nope", "function": {"name": "get_weather"}}, "tool_choice.type"),
    ("sometimes", "tool_choice"),
])
def test_bad_tool_choice_is_400(gw: RunningGateway, choice: object, param: str) -> None:
    refused(gw, "/v1/chat/completions", {**CHAT, "tools": [FN], "tool_choice": choice}, param)


def test_well_formed_tools_pass(gw: RunningGateway) -> None:
    tools = [FN, {"type": "function", "function": {"name": "noop", "description": None, "parameters": None,
                                                    "strict": True}}]
    body = {**CHAT, "tools": tools, "tool_choice": {"type": "function", "function": {"name": "noop"}}}
    assert post(gw, "/v1/chat/completions", body).status_code == 200
    assert "get_weather" in gw.worker.records.requests[-1].tokenized.original_text
