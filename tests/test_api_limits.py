"""Cost bounded before work: stop strings, tokenization, over-long prompts, the body size.

Each request here would, unbounded, cost the gateway seconds of event loop or gigabytes;
the tests assert what is answered and that the loop was never blocked past a generous
bound, never how fast anything ran. The bound is on the loop's own work (its thread's CPU
time within a late wake-up), not on wall-clock lag: on a CI machine whose two cores other
processes keep busy the OS alone delays the loop that long.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import msgspec
import pytest

from sglang_gw.admission import AdmissionConfig
from sglang_gw.config import DEFAULT_MAX_PAYLOAD_SIZE, RequestLimits, SecurityConfig
from sglang_gw.testing.mock_worker import Timing
from tests.conftest import RunningGateway, wait_until

CHAT = {"model": "test-model", "messages": [{"role": "user", "content": "STOPTEST"}]}
COMPLETION = {"model": "test-model", "prompt": "STOPTEST", "max_tokens": 8}
LAG_BOUND = 0.1  # seconds: far above a healthy loop's steps, far below what the defects caused
WORDS = ["alpha", "beta", "gamma", "delta", "token", "prompt", "gateway", "loop", "stop", "the", "of", "and"]


def post(gw: RunningGateway, path: str, body: object, **kwargs) -> httpx.Response:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return httpx.post(f"{gw.url}{path}", content=content, headers={"content-type": "application/json"},
                      timeout=60, **kwargs)


def error(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text[:500]
    return resp.json()["error"]


@contextmanager
def loop_not_blocked(gw: RunningGateway) -> Iterator[None]:
    """Fails when the gateway's event loop was held past LAG_BOUND by its own work during the
    block, as its own loop-lag monitor saw it (`max_busy`).

    The gateway shares this process with the tests: a collection of the test process's heap
    or the test's own work before the block would stall the loop too. So the collector is
    paused for the block, and a stall from before it, recorded late, is let through before
    the count starts."""
    monitor = gw.gateway.loop_lag
    gc.collect()
    gc.disable()
    try:
        time.sleep(0.05)
        monitor.max_busy = monitor.max_lag = 0.0
        yield
        # The monitor records a stall when it next wakes: wait for a sample after the block.
        samples = monitor.samples
        assert wait_until(lambda: monitor.samples > samples + 1)
    finally:
        gc.enable()
    assert monitor.max_busy < LAG_BOUND, \
        f"event loop held {monitor.max_busy:.3f} s by the gateway's own work (lag {monitor.max_lag:.3f} s)"


def words(size: int) -> str:
    rng = random.Random(size)
    out: list[str] = []
    total = 0
    while total < size:
        word = rng.choice(WORDS)
        out.append(word)
        total += len(word) + 1
    return " ".join(out)


# -- stop strings ----------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body", "param"), [
    ("/v1/chat/completions", CHAT, "stop"),
    ("/v1/completions", COMPLETION, "stop"),
    ("/generate", {"text": "STOPTEST", "sampling_params": {"max_new_tokens": 8}}, "sampling_params.stop"),
])
def test_a_huge_stop_string_is_400_without_blocking_the_loop(gw: RunningGateway, path: str, body: dict,
                                                            param: str) -> None:
    """One 1 MiB stop string blocked the loop about a second and pinned 400 MB."""
    stop = words(1 << 20)
    with_stop = {**body, "sampling_params": {**body["sampling_params"], "stop": [stop]}} \
        if "sampling_params" in body else {**body, "stop": [stop]}
    with loop_not_blocked(gw):
        err = error(post(gw, path, with_stop), 400)
    assert err["param"] == param and "bytes" in err["message"]
    assert gw.worker.records.requests == []


@pytest.mark.parametrize(("stop", "ok"), [
    (["x" * 1024], True),
    (["x" * 1025], False),
    (["é" * 512], True),   # bytes, not characters: 1024 bytes
    (["é" * 513], False),  # 1026 bytes
    (["x" * 1000] * 4, True),
    (["x" * 1000] * 4 + ["y" * 97], False),  # 4097 bytes together
])
def test_stop_limits_count_utf8_bytes(gw: RunningGateway, stop: list[str], ok: bool) -> None:
    resp = post(gw, "/v1/chat/completions", {**CHAT, "stop": stop})
    if ok:
        assert resp.status_code == 200, resp.text[:300]
    else:
        assert error(resp, 400)["param"] == "stop"


def test_stops_at_the_limits_do_not_block_the_loop(gw: RunningGateway) -> None:
    """At the default limits a costly automaton (32 stops, long ones sharing a prefix, short
    ones branching from it) is built in milliseconds, a new one for each request."""
    for i in range(8):
        long = ["x" * 1000 + chr(0x100 + 4 * i + k) for k in range(4)]
        short = [f"x{chr(0x200 + 28 * i + j)}" for j in range(28)]
        with loop_not_blocked(gw):
            assert post(gw, "/v1/chat/completions", {**CHAT, "stop": long + short}).status_code == 200


# -- tokenize and detokenize ----------------------------------------------------------------------


def test_large_tokenize_and_detokenize_leave_the_loop(gw: RunningGateway) -> None:
    """A 10 MiB text blocked the loop 9 s; 1 MiB is enough to see it."""
    text = words(1 << 20)
    tokenizer = gw.worker.facts.tokenizer
    with loop_not_blocked(gw):
        resp = post(gw, "/v1/tokenize", {"prompt": text, "add_special_tokens": False})
    assert resp.status_code == 200
    assert resp.json()["tokens"] == tokenizer.encode(text, add_special_tokens=False).ids
    with loop_not_blocked(gw):
        chat = post(gw, "/v1/tokenize", {"messages": [{"role": "user", "content": text}]})
    assert chat.status_code == 200 and chat.json()["count"] > resp.json()["count"]
    # The longest tokens decode to the most text per id: 150k ids are 12 MB, a short body.
    vocab = tokenizer.get_vocab()
    longest = [vocab[token] for token in sorted(vocab, key=len)[-64:]]
    ids = (longest * 3000)[:150_000]
    with loop_not_blocked(gw):
        back = post(gw, "/v1/detokenize", {"tokens": ids, "skip_special_tokens": False})
    assert back.status_code == 200 and back.json()["prompt"] == tokenizer.decode(ids, skip_special_tokens=False)


@pytest.fixture(scope="module")
def tight(gateway_factory) -> RunningGateway:
    """One admission slot, no queue; stop limits set by the operator's flags."""
    return gateway_factory(admission=AdmissionConfig(max_concurrent_requests=1, queue_size=0),
                           limits=RequestLimits(max_stop_bytes=8, max_total_stop_bytes=12))


def test_tokenize_and_detokenize_take_an_admission_slot(tight: RunningGateway) -> None:
    tight.reset()
    tight.worker.timing = Timing(token_delay=0.05)
    try:
        with httpx.stream("POST", f"{tight.url}/v1/chat/completions", timeout=30,
                          json={**CHAT, "messages": [{"role": "user", "content": "LONG"}], "stream": True}) as held:
            assert held.status_code == 200
            chunks = held.iter_bytes()  # kept: a dropped iterator closes the stream
            next(chunks)  # admitted and streaming: the only slot is taken
            assert error(post(tight, "/v1/tokenize", {"prompt": "hello"}), 429)["code"] == "rate_limit_exceeded"
            assert error(post(tight, "/v1/detokenize", {"tokens": [1, 2]}), 429)["code"] == "rate_limit_exceeded"
    finally:
        tight.reset()
    assert tight.wait_for(lambda: tight.gateway.admission.running == 0)
    assert post(tight, "/v1/tokenize", {"prompt": "hello"}).status_code == 200


def test_stop_limits_follow_the_flags(tight: RunningGateway) -> None:
    assert tight.wait_for(lambda: tight.gateway.admission.running == 0)
    assert post(tight, "/v1/chat/completions", {**CHAT, "stop": ["12345678"]}).status_code == 200
    assert error(post(tight, "/v1/chat/completions", {**CHAT, "stop": ["123456789"]}), 400)["param"] == "stop"
    assert error(post(tight, "/v1/chat/completions", {**CHAT, "stop": ["1234567", "123456"]}), 400)["param"] == "stop"


# -- over-long prompts ----------------------------------------------------------------------------


class CountingSegments:
    """Stands in for a model's prompt encoder and counts the texts it is asked to tokenize."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.calls = 0

    @property
    def has_words(self) -> bool:
        return self.inner.has_words  # type: ignore[attr-defined]

    def encode(self, text: str) -> list[int]:
        self.calls += 1
        return self.inner.encode(text)  # type: ignore[attr-defined]


@contextmanager
def counting_tokenizations(gw: RunningGateway) -> Iterator[CountingSegments]:
    model = gw.gateway.model("test-model")
    spy = CountingSegments(model.segments)
    model.segments = spy  # type: ignore[assignment]
    try:
        yield spy
    finally:
        model.segments = spy.inner  # type: ignore[assignment]


def test_a_chat_its_size_proves_too_long_is_refused_before_tokenizing(gw: RunningGateway) -> None:
    """A 10 MiB chat was tokenized (5-8 s, 1.5 GB) before the context-length check."""
    model = gw.gateway.model("test-model")
    assert model.token_bound is not None
    ctx, per_token = model.context_length, model.token_bound.max_token_bytes
    huge = {**CHAT, "messages": [{"role": "user", "content": words(ctx * per_token + 1000)}]}
    with counting_tokenizations(gw) as spy, loop_not_blocked(gw):
        err = error(post(gw, "/v1/chat/completions", huge), 400)
    assert spy.calls == 0
    assert err["code"] == "context_length_exceeded" and err["param"] == "messages" and str(ctx) in err["message"]
    # With max_tokens, a prompt of at least half the context is proven too long for the rest.
    half = {**CHAT, "messages": [{"role": "user", "content": words(ctx * per_token // 2 + 1000)}],
            "max_tokens": ctx // 2 + 1}
    with counting_tokenizations(gw) as spy:
        err = error(post(gw, "/v1/chat/completions", half), 400)
    assert spy.calls == 0
    assert err["code"] == "context_length_exceeded" and err["param"] == "max_tokens"
    assert gw.worker.records.requests == []


class CountingTokenizer:
    """Stands in for a model's tokenizer and counts its encode calls."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.calls = 0

    def __getattr__(self, name: str) -> object:
        found = getattr(self.inner, name)
        if not name.startswith("encode"):
            return found

        def counted(*args: object, **kwargs: object) -> object:
            self.calls += 1
            return found(*args, **kwargs)
        return counted


def test_a_completion_prompt_its_size_proves_too_long_is_refused_before_tokenizing(gw: RunningGateway) -> None:
    model = gw.gateway.model("test-model")
    assert model.token_bound is not None
    prompt = words(model.context_length * model.token_bound.max_token_bytes + 1000)
    spy = CountingTokenizer(model.tokenizer)
    model.tokenizer = spy  # type: ignore[assignment]
    try:
        for path, body, param in (("/v1/completions", {"model": "test-model", "prompt": prompt}, "prompt"),
                                  ("/generate", {"text": prompt}, "text")):
            err = error(post(gw, path, body), 400)
            assert spy.calls == 0
            assert err["code"] == "context_length_exceeded" and err["param"] == param
    finally:
        model.tokenizer = spy.inner  # type: ignore[assignment]
    assert gw.worker.records.requests == []


def test_a_prompt_its_size_cannot_prove_too_long_is_still_counted(gw: RunningGateway) -> None:
    """In doubt the tokenized count decides: a prompt of few bytes but many tokens."""
    model = gw.gateway.model("test-model")
    many = " ".join(str(i % 10) for i in range(model.context_length))  # digits are a token each
    with counting_tokenizations(gw) as spy:
        err = error(post(gw, "/v1/chat/completions", {**CHAT, "messages": [{"role": "user", "content": many}]}), 400)
    assert err["code"] == "context_length_exceeded" and spy.calls == 1


# -- the body size ------------------------------------------------------------------------------


def test_the_default_body_limit_fits_a_chat_not_half_a_gigabyte(gw: RunningGateway) -> None:
    assert error(post(gw, "/v1/chat/completions", b" " * (DEFAULT_MAX_PAYLOAD_SIZE + 1)), 413)["code"] \
        == "payload_too_large"
    assert SecurityConfig().max_payload_size == DEFAULT_MAX_PAYLOAD_SIZE == 32 * 1024 * 1024
    # A 128k-token conversation with a 20 MB image as a data URL fits.
    image = "data:image/png;base64," + "A" * (20 * 1024 * 1024 * 4 // 3)
    chat = {**CHAT, "messages": [{"role": "user", "content": words(128_000 * 4)},
                                 {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}]}
    body = msgspec.json.encode(chat)
    assert len(body) <= DEFAULT_MAX_PAYLOAD_SIZE
    assert post(gw, "/v1/chat/completions", body).status_code != 413
