"""Every error answers in OpenAI's shape with the right status, and never leaks a slot."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import httpx
import msgspec
import pytest

from sglang_gw.workers.link import LinkSettings
from tests.conftest import RunningGateway

CHAT = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}


def post(gw: RunningGateway, path: str, body: object, **kwargs) -> httpx.Response:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return httpx.post(f"{gw.url}{path}", content=content, headers={"content-type": "application/json"},
                      timeout=30, **kwargs)


def assert_error(resp: httpx.Response, status: int, *, code: str | None = None, param: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    if code is not None:
        assert err["code"] == code
    if param is not None:
        assert err["param"] == param
    return err


def test_invalid_json(gw: RunningGateway) -> None:
    assert_error(post(gw, "/v1/chat/completions", b"{not json"), 400)
    assert_error(post(gw, "/v1/completions", b""), 400)


@pytest.mark.parametrize(("patch", "param"), [
    ({"messages": []}, "messages"),
    ({"temperature": 5}, "temperature"),
    ({"n": 0}, "n"),
    ({"max_tokens": -1}, "max_tokens"),
    ({"stop": ["a", 3]}, "stop[1]"),
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"logit_bias": {"not-a-token": 1}}, "logit_bias"),
    ({"messages": [{"content": "no role"}]}, None),
    ({"messages": [{"role": "user", "content": 42}]}, None),
    ({"messages": [{"role": "user", "content": "x"}] * 4097}, "messages"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}] * 513}, "tools"),
])
def test_bad_values_are_400(gw: RunningGateway, patch: dict, param: str | None) -> None:
    assert_error(post(gw, "/v1/chat/completions", {**CHAT, **patch}), 400, param=param)
    assert gw.worker.records.requests == []


def test_bad_completion_prompt(gw: RunningGateway) -> None:
    assert_error(post(gw, "/v1/completions", {"model": "test-model", "prompt": [1, "x"]}), 400, param="prompt")
    assert_error(post(gw, "/generate", {"sampling_params": {"max_new_tokens": 1}}), 400)
    assert_error(post(gw, "/generate", {"text": "x", "sampling_params": {"temperature": "hot"}}), 400,
                 param="sampling_params.temperature")


def test_context_length_exceeded_before_dispatch(gw: RunningGateway) -> None:
    ctx = gw.worker.facts.max_context_length
    err = assert_error(post(gw, "/v1/chat/completions", {**CHAT, "max_tokens": ctx}), 400,
                       code="context_length_exceeded")
    assert str(ctx) in err["message"]
    long_prompt = list(range(1000, 1000 + ctx))
    assert_error(post(gw, "/v1/completions", {"model": "test-model", "prompt": long_prompt}), 400,
                 code="context_length_exceeded")
    assert gw.worker.records.requests == []


def test_unknown_model_is_404(gw: RunningGateway) -> None:
    assert_error(post(gw, "/v1/chat/completions", {**CHAT, "model": "nope"}), 404, code="model_not_found",
                 param="model")


def test_no_healthy_worker_is_503(gw: RunningGateway) -> None:
    for w in gw.gateway.pool.workers():
        w.healthy = False
    resp = post(gw, "/v1/chat/completions", CHAT)
    assert_error(resp, 503, code="no_healthy_worker")
    assert resp.headers["retry-after"]
    assert httpx.get(f"{gw.url}/readiness").status_code == 503


@pytest.mark.parametrize(("code", "status"), [
    (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
    (grpc.StatusCode.UNAVAILABLE, 503),
    (grpc.StatusCode.INVALID_ARGUMENT, 400),
    (grpc.StatusCode.INTERNAL, 502),
])
def test_worker_status_codes_are_mapped(gw: RunningGateway, code: grpc.StatusCode, status: int) -> None:
    gw.worker.faults.reject_code = code
    gw.worker.faults.reject_next = 100
    for stream in (False, True):
        gw.reset_breakers()  # each request's retries alone could open the breaker
        assert_error(post(gw, "/v1/chat/completions", {**CHAT, "stream": stream}), status)
    assert all(not w.inflight for w in gw.gateway.pool.workers())


def test_retry_before_first_token(gw: RunningGateway) -> None:
    gw.worker.faults.reject_next = 2  # two UNAVAILABLE, then a healthy answer
    resp = post(gw, "/v1/chat/completions", CHAT)
    assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"] == "hi"
    assert len(gw.worker.records.requests) == 3


def test_mid_stream_failure_is_one_error_event_then_done(gw: RunningGateway) -> None:
    gw.worker.faults.fail_after_tokens = 3
    lines = []
    body = {"model": "test-model", "prompt": "LONG", "max_tokens": 50, "stream": True}
    with httpx.stream("POST", f"{gw.url}/v1/completions", json=body, timeout=30) as r:
        assert r.status_code == 200
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    errors = [msgspec.json.decode(line[6:]) for line in lines[:-1] if '"error"' in line]
    assert len(errors) == 1 and errors[0]["error"]["code"] == "worker_error"
    assert len(lines) == 1 + 3 + 1  # three tokens, the error, [DONE]
    assert len(gw.worker.records.requests) == 1  # never retried after output
    gw.worker.faults.fail_after_tokens = 3
    assert_error(post(gw, "/v1/completions", {**body, "stream": False}), 502)
    assert gw.wait_for(lambda: not gw.worker.running)


def test_template_errors_are_400(gateway_factory, tmp_path: Path) -> None:
    template = tmp_path / "strict.jinja"
    template.write_text("{% if messages[0]['role'] != 'user' %}{{ raise_exception('first message must come "
                        "from the user') }}{% endif %}{% for m in messages %}{{ m['content'] }}{% endfor %}")
    gw = gateway_factory(chat_template=template)
    resp = post(gw, "/v1/chat/completions", {"messages": [{"role": "system", "content": "x"}]})
    err = assert_error(resp, 400, code="chat_template_error")
    assert "first message must come from the user" in err["message"]
    assert gw.worker.records.requests == []
    assert post(gw, "/v1/chat/completions", CHAT).status_code == 200


def test_request_timeout_is_504_and_aborts(gateway_factory) -> None:
    gw = gateway_factory(request_timeout_secs=1.0)
    gw.worker.faults.hang_after_tokens = 0
    resp = httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, timeout=30)
    assert_error(resp, 504, code="worker_timeout")
    assert gw.wait_for(lambda: not gw.worker.running)
    assert gw.wait_for(lambda: len(gw.worker.records.aborts) == 1)


def test_errors_do_not_take_the_gateway_down(gw: RunningGateway) -> None:
    for body in (b"[]", b"null", b'{"messages": "x"}', b'{"messages": [null]}', b'{"model": 5}'):
        assert post(gw, "/v1/chat/completions", body).status_code == 400
    assert post(gw, "/v1/chat/completions", CHAT).status_code == 200
    assert httpx.get(f"{gw.url}/v1/nothing-here").status_code == 404


def test_worker_faults_map_the_same_over_grpcio(gateway_factory) -> None:
    """The same mapping, retry and no-leak rules with `--grpc-transport grpcio`."""
    gw = gateway_factory(link=LinkSettings(transport="grpcio"))
    for code, status in ((grpc.StatusCode.RESOURCE_EXHAUSTED, 429), (grpc.StatusCode.INVALID_ARGUMENT, 400)):
        gw.worker.faults.reject_code = code
        gw.worker.faults.reject_next = 100
        gw.reset_breakers()
        assert_error(post(gw, "/v1/chat/completions", CHAT), status)
    gw.worker.faults.reject_code = grpc.StatusCode.UNAVAILABLE
    gw.worker.faults.reject_next = 2
    gw.reset_breakers()
    resp = post(gw, "/v1/chat/completions", CHAT)
    assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"] == "hi"
    assert all(not w.inflight for w in gw.gateway.pool.workers())


def test_streams_over_grpcio_are_pulled_with_the_same_answers(gateway_factory) -> None:
    """grpc.aio cannot push (server/push.py): its streams take the pulled path, after the
    same `open`, and must answer as pushed ones do, failures included."""
    from tests.test_api_chat import ask, stream_text

    pulled = gateway_factory(link=LinkSettings(transport="grpcio"))
    pushed = gateway_factory()
    for gw in (pulled, pushed):
        texts, reasons, _ = stream_text(gw, model="test-model", messages=ask("MULTIBYTE"))
        assert texts[0] == gw.client.chat.completions.create(
            model="test-model", messages=ask("MULTIBYTE")).choices[0].message.content
        assert reasons[0] == "stop"
        gw.worker.faults.fail_after_tokens = 3
        body = {"model": "test-model", "messages": ask("LONG"), "stream": True}
        events = httpx.post(f"{gw.url}/v1/chat/completions", json=body, timeout=30).text
        gw.worker.faults.fail_after_tokens = None
        assert '"error"' in events and events.endswith("data: [DONE]\n\n")
        assert gw.wait_for(lambda gw=gw: all(not w.inflight for w in gw.gateway.pool.workers()))


def _local_port(resp: httpx.Response) -> int:
    return resp.extensions["network_stream"].get_extra_info("client_addr")[1]


def test_an_unexpected_error_is_a_500_that_keeps_the_connection(
        gw: RunningGateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(name: str = "") -> None:
        raise RuntimeError("secret sk-12345 in the traceback")

    with httpx.Client(base_url=gw.url, timeout=30) as client:
        first = client.post("/v1/detokenize", json={"tokens": [1, 2]})
        assert first.status_code == 200
        monkeypatch.setattr(gw.gateway, "model", broken)
        with caplog.at_level(logging.ERROR):
            failed = client.post("/v1/detokenize", json={"tokens": [1, 2]})
        monkeypatch.undo()
        err = assert_error(failed, 500, code="internal_error")
        assert "sk-12345" not in failed.text and err["type"] == "internal_error"
        assert failed.headers["x-request-id"]
        assert "sk-12345" in caplog.text  # logged for the operator, with its traceback
        again = client.post("/v1/detokenize", json={"tokens": [1, 2]})
        assert again.status_code == 200
        assert _local_port(first) == _local_port(failed) == _local_port(again)
