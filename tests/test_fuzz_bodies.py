"""Seeded, schema-aware mutation fuzzing of every route that reads a JSON body.

Each case starts from a valid body of its route and mutates it where it hurts: integers past
the proto's ranges, floats and NaN/Infinity spellings, wrong types, unicode digits, deep
nesting, long strings, unknown and duplicate keys, nulls and empty containers; a few cases
are broken JSON outright. Every answer must be below 500; every 4xx must be an OpenAI error
object; a stream must not report an internal error; and no request may stall the gateway's
event loop for more than 100 ms (time the loop's own thread spent on the CPU while it was
late, so another process or thread taking the core does not count).

``SGLANG_GW_FUZZ_SEED`` and ``SGLANG_GW_FUZZ_BODIES`` change the seed and the count, for longer
runs; a failure prints the seed and the case to replay.
"""

from __future__ import annotations

import copy
import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from sglang_gw.runtime.loop_lag import LoopLagMonitor
from tests.conftest import SCRIPT, RunningGateway

SEED = int(os.environ.get("SGLANG_GW_FUZZ_SEED", "20260523"))
BODIES = int(os.environ.get("SGLANG_GW_FUZZ_BODIES", "2400"))
MAX_STALL = 0.1

# -- values that emit raw JSON -----------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """Emitted as is: NaN spellings, lone surrogates, deep nesting, invalid numbers."""

    text: str


@dataclass(frozen=True)
class Pairs:
    """An object with a key given twice."""

    items: tuple[tuple[str, Any], ...]


def to_json(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


# -- valid bodies, one factory per route -------------------------------------------------------

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]
TOOL_REPLY = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
MARKERS = ["hi", "MULTIBYTE", "THINK", "STOPTEST", "TOOLCALL"]


def _messages(rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."}]
    if rng.random() < 0.3:
        out += [{"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                                      "arguments": '{"city": "Paris"}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    return [*out, {"role": "user", "content": rng.choice(MARKERS)}]


def chat(rng: random.Random) -> dict[str, Any]:
    return {"model": "test-model", "messages": _messages(rng), "max_tokens": 12, "temperature": 0.7, "top_p": 0.9,
            "top_k": 20, "min_p": 0.0, "frequency_penalty": 0.1, "presence_penalty": 0.0, "repetition_penalty": 1.0,
            "n": 1, "seed": 7, "stop": ["delta"], "stop_token_ids": [151643], "logit_bias": {"100": 1.5},
            "logprobs": True, "top_logprobs": 2, "stream": rng.random() < 0.5,
            "stream_options": {"include_usage": True}, "tools": TOOLS, "tool_choice": "auto",
            "response_format": {"type": "text"}, "chat_template_kwargs": {"enable_thinking": False},
            "min_tokens": 0, "stream_interval": 1, "ignore_eos": False, "skip_special_tokens": True,
            "separate_reasoning": True, "user": "fuzz"}


def completion(rng: random.Random) -> dict[str, Any]:
    prompt: Any = rng.choice([rng.choice(MARKERS), [9707, 1879], ["hi", "STOPTEST"], [[9707], [1879, 11]]])
    return {"model": "test-model", "prompt": prompt, "max_tokens": 12, "temperature": 0.5, "n": 1,
            "stream": rng.random() < 0.5, "echo": False, "logprobs": 1, "stop": ["gamma"], "seed": 3,
            "top_k": 5, "min_tokens": 1, "logit_bias": {"9707": -1}, "stream_options": {"include_usage": True}}


def generate(rng: random.Random) -> dict[str, Any]:
    prompt = {"text": rng.choice(MARKERS)} if rng.random() < 0.6 else {"input_ids": [9707, 1879]}
    return {**prompt, "sampling_params": {"max_new_tokens": 12, "min_new_tokens": 0, "temperature": 0.3,
                                          "top_k": 10, "top_p": 0.95, "stop": ["beta"], "stop_token_ids": [151643],
                                          "n": 1, "logit_bias": {"5": 0.5}, "sampling_seed": 11,
                                          "stream_interval": 2, "ignore_eos": False},
            "stream": rng.random() < 0.5, "return_logprob": False, "top_logprobs_num": 0, "logprob_start_len": -1,
            "rid": f"fuzz-{rng.randrange(10**6)}"}


def tokenize(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.5:
        return {"model": "test-model", "prompt": "Hello world", "add_special_tokens": True}
    return {"model": "test-model", "messages": _messages(rng), "tools": TOOLS, "add_generation_prompt": True,
            "chat_template_kwargs": {"enable_thinking": True}}


def detokenize(rng: random.Random) -> dict[str, Any]:
    return {"model": "test-model", "tokens": [9707, 1879, 151643], "skip_special_tokens": rng.random() < 0.5}


def parse_reasoning(rng: random.Random) -> dict[str, Any]:
    return {"text": "<think>first</think>then", "reasoning_parser": "qwen3", "prompt_text": "<think>"}


def parse_tools(rng: random.Random) -> dict[str, Any]:
    return {"text": f"Sure. {TOOL_REPLY}", "tool_call_parser": "hermes", "tools": TOOLS}


def add_worker(rng: random.Random) -> dict[str, Any]:
    # A port that refuses at once: a registration that cannot succeed and costs nothing.
    return {"url": "grpc://127.0.0.1:1", "worker_type": "regular", "labels": {"zone": "a"}, "bootstrap_port": 8998}


ROUTES: dict[str, tuple[float, Callable[[random.Random], dict[str, Any]]]] = {
    "/v1/chat/completions": (0.30, chat),
    "/v1/completions": (0.18, completion),
    "/generate": (0.18, generate),
    "/v1/tokenize": (0.10, tokenize),
    "/v1/detokenize": (0.08, detokenize),
    "/parse/reasoning": (0.05, parse_reasoning),
    "/parse/function_call": (0.05, parse_tools),
    "/workers": (0.06, add_worker),
}
# Keys whose values the mutations leave alone: a URL that resolves would make the gateway
# dial out, which is not what this test is about.
PINNED = {"/workers": {"url", "provider"}}

# -- mutations ---------------------------------------------------------------------------------

BIG_INTS = [2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30, 10**400,
            -1, -2, -(2**31) - 1, -(2**63) - 1, -(10**30), 0, 1]
FLOATS = [0.0, -0.0, 0.5, 1e-320, 2.0000001, 100.0001, 3.4e38, 3.5e38, 1e308, -1e308, 1.5, -100.5]
RAWS = ["NaN", "-NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400", "0.1e-99999", "00", "-0", "1.",
        ".5", "+1", "0x10", "1_000", "true1", '"\\ud800"', '"\\udc00x"', '"\\u0000"', '"a\\qb"']
STRINGS = ["", "NaN", "Infinity", "-inf", "1e999", "²", "１２３", "٣", "𝟙", "\u0000", "\u202e", "\ufeff", "\n",
           "<think>", "</think>", "<tool_call>", "<|im_end|>", "<|endoftext|>", "system", "developer", "tool",
           "function", "bogus", "auto", "required", "none", "json_object", "json_schema", "test-model", "other-model",
           "hermes", "qwen3", "prefill", "decode", "\\", '"', "{}", "[]", "😀" * 50, "ʻokina", "a b" * 30]
# Long strings and lists, of moderate size: past most limits, quick to send. Kept as
# encoded JSON, so that mutations do not walk them.
LONG = [Raw(json.dumps(v, ensure_ascii=False)) for v in (
    "x" * 20_000, "[" * 20_000, "{{" * 5_000, "😀" * 5_000, "\\" * 4_000, "<think>" * 2_000, list(range(3000)),
    [2**40] * 50, ["a"] * 2000, {str(i): i for i in range(2000)}, [{"role": "user", "content": "hi"}] * 500)]
KEYS = ["x", "", "²", "__proto__", "constructor", "model", "messages", "prompt", "n", "stream", "tools",
        "sampling_params", "logit_bias", "top_k", "𝟙", "a" * 300]


def _nested(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


def value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.random()
    if kind < 0.22:
        return rng.choice(BIG_INTS) if rng.random() < 0.7 else rng.randint(-5, 200_000)
    if kind < 0.32:
        return rng.choice(FLOATS)
    if kind < 0.42:
        return Raw(rng.choice(RAWS))
    if kind < 0.60:
        return rng.choice(STRINGS)
    if kind < 0.66:
        return rng.choice([True, False, None])
    if kind < 0.72:
        return rng.choice(LONG)
    if kind < 0.78:
        return _nested(rng.choice([64, 127, 128, 129, 1000, 20_000]))
    if kind < 0.90 and depth < 3:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if depth < 3:
        return {rng.choice(KEYS): value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return rng.choice([[], {}, None])


def like(old: Any, rng: random.Random) -> Any:
    """A value of the same JSON type as ``old``, often at or past an edge: what a schema
    lets through to the code behind it."""
    if isinstance(old, bool):
        return not old
    if isinstance(old, int):
        return rng.choice([rng.choice(BIG_INTS), old + rng.choice([-1, 1]), rng.randint(0, 2 * abs(old) + 3), -old])
    if isinstance(old, float):
        return rng.choice([rng.choice(FLOATS), old * rng.choice([0, -1, 10, 1e10]), old + 1e-9])
    if isinstance(old, str):
        return rng.choice([rng.choice(STRINGS), old * rng.randint(2, 50), old.upper(), old + "²", old[:1]])
    if isinstance(old, list) and len(old) <= 50:
        return rng.choice([old[::-1], old[:1], old * rng.randint(2, 20), [*old, like(old[0], rng)] if old else []])
    return value(rng)


def _slots(node: Any, pinned: set[str], top: bool = True) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in the body a mutation may touch."""
    found: list[tuple[Any, Any]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        if top and key in pinned:
            continue
        found.append((node, key))
        found.extend(_slots(child, pinned, top=False))
    return found


def mutate(body: dict[str, Any], rng: random.Random, pinned: set[str]) -> Any:
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        slots = _slots(body, pinned)
        op = rng.random()
        if not slots or op < 0.08:
            body[rng.choice(KEYS)] = value(rng)
            continue
        parent, key = rng.choice(slots)
        child = parent[key]
        if op < 0.45:
            parent[key] = like(child, rng)
        elif op < 0.65:
            parent[key] = value(rng)
        elif op < 0.71 and isinstance(parent, dict):
            del parent[key]
        elif op < 0.76:
            parent[key] = [child] if rng.random() < 0.5 else {"value": child}
        elif op < 0.86 and isinstance(child, dict) and child:
            dup = rng.choice(list(child))
            parent[key] = Pairs((*child.items(), (dup, value(rng))))
        elif op < 0.92:
            parent[key] = rng.choice([[], {}, None, ""])
        elif isinstance(parent, dict):
            parent[rng.choice(KEYS)] = value(rng)
    return body


BROKEN = [b"", b"{", b"}", b"[]", b"null", b"1", b'"x"', b"\xff\xfe{}", b"\xef\xbb\xbf{}", b'{"model": "m"} x',
          b'{"a": "\xff"}', b"{" * 50_000, b"[" * 50_000, b'{"a":' * 3_000, b'{"x": "\\', b"{'a': 1}", b"{,}",
          b'{"stream": true' + b" " * 10_000]


def case(rng: random.Random) -> tuple[str, bytes]:
    paths = list(ROUTES)
    path = rng.choices(paths, weights=[ROUTES[p][0] for p in paths])[0]
    if rng.random() < 0.04:
        return path, rng.choice(BROKEN)
    body = mutate(copy.deepcopy(ROUTES[path][1](rng)), rng, PINNED.get(path, set()))
    return path, to_json(body).encode("utf-8", "surrogatepass")


# -- what every answer must be -----------------------------------------------------------------


def is_openai_error(payload: object) -> bool:
    err = payload.get("error") if isinstance(payload, dict) else None
    return (isinstance(err, dict) and set(err) == {"message", "type", "param", "code"}
            and isinstance(err["message"], str) and bool(err["message"]) and isinstance(err["type"], str)
            and (err["param"] is None or isinstance(err["param"], str)))


def error_status_problem(resp: httpx.Response, is_error: Callable[[object], bool], api: str) -> str | None:
    """What is wrong with a 4xx or 5xx answer (any 5xx; a 4xx whose body is not `api`'s error
    shape), or None."""
    if resp.status_code >= 500:
        return f"status {resp.status_code}: {resp.text[:300]}"
    try:
        payload = msgspec.json.decode(resp.content)
    except msgspec.DecodeError:
        return f"status {resp.status_code} without a JSON body: {resp.text[:300]}"
    return None if is_error(payload) else f"status {resp.status_code}, not an {api} error: {resp.text[:300]}"


def problem(resp: httpx.Response) -> str | None:
    """What is wrong with an answer, or None."""
    if resp.status_code >= 400:
        return error_status_problem(resp, is_openai_error, "OpenAI")
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        for line in resp.text.splitlines():
            if line.startswith("data: {") and '"error"' in line:
                event = msgspec.json.decode(line[6:])
                if not is_openai_error(event) or event["error"]["code"] == "internal_error":
                    return f"stream error event: {line[:300]}"
    return None


def _run_delay() -> float:
    """Seconds this thread has waited for a CPU while runnable (Linux schedstat), else 0."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class StallMeter:
    """Wraps the gateway's loop-lag monitor (it runs on the loop's thread, right after each
    late wake-up). A stall is lag less the time the OS kept the runnable loop thread off
    the CPU: other test processes sharing two cores are no fault of the gateway's. Work,
    blocking calls and waits for the GIL on the loop all count."""

    def __init__(self, monitor: LoopLagMonitor) -> None:
        self.record = monitor.record
        self.delay: float | None = None
        self.worst = 0.0
        self.worst_lag = 0.0

    def __call__(self, lag: float) -> None:
        delay = _run_delay()
        if self.delay is not None:
            self.worst = max(self.worst, lag - (delay - self.delay))
        self.worst_lag = max(self.worst_lag, lag)
        self.delay = delay
        self.record(lag)


@pytest.fixture(scope="module")
def fuzz_gw(gateway_factory: Callable[..., RunningGateway]) -> RunningGateway:
    script = {**SCRIPT, "TOOLCALL": TOOL_REPLY}
    return gateway_factory(script=script, reasoning_parser="qwen3", tool_call_parser="hermes",
                           worker_startup_timeout_secs=1.0)


def test_fuzzed_bodies_never_fail_the_gateway(fuzz_gw: RunningGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(SEED)
    monitor = fuzz_gw.gateway.loop_lag
    meter = StallMeter(monitor)
    monkeypatch.setattr(monitor, "record", meter)
    failures: list[str] = []
    stalls: list[str] = []
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=fuzz_gw.url, timeout=60, headers={"content-type": "application/json"}) as client:
        for index in range(BODIES):
            path, body = case(rng)
            before = meter.worst
            try:
                resp = client.post(path, content=body)
            except httpx.TransportError as err:  # a dropped connection, ours or an earlier answer's
                failures.append(f"case {index} POST {path} {body[:300]!r}: {type(err).__name__}: {err}")
                continue
            statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
            if (found := problem(resp)) is not None:
                failures.append(f"case {index} POST {path} {body[:300]!r}: {found}")
            if meter.worst > max(before, MAX_STALL):
                stalls.append(f"case {index} POST {path} ({len(body)} bytes) {body[:200]!r}: "
                              f"stalled {meter.worst * 1000:.0f} ms")
    replay = f"(SGLANG_GW_FUZZ_SEED={SEED}, statuses {dict(sorted(statuses.items()))})"
    assert not failures, f"{len(failures)} bad answers {replay}:\n" + "\n".join(failures[:15])
    assert not stalls, f"event loop stalls over {MAX_STALL * 1000:.0f} ms {replay}:\n" + "\n".join(stalls[:15])
    assert meter.delay is not None, "the loop-lag monitor never ran"
    assert statuses.get(200, 0) > BODIES // 10, f"too few valid bodies reached a worker {replay}"
    assert all(not w.inflight for w in fuzz_gw.gateway.pool.workers())


@pytest.mark.parametrize("block", ["cpu", "sleep"])
def test_the_stall_meter_sees_a_blocked_loop(fuzz_gw: RunningGateway, monkeypatch: pytest.MonkeyPatch,
                                             block: str) -> None:
    """The fuzz run's stall check is not vacuous: a handler that holds the loop is seen."""
    monitor = fuzz_gw.gateway.loop_lag
    meter = StallMeter(monitor)
    monkeypatch.setattr(monitor, "record", meter)
    model = fuzz_gw.gateway.model

    def slow_model(name: str = "") -> Any:
        # 0.2 s of this thread's CPU, not of the clock: the meter leaves out the time a busy
        # machine keeps the thread waiting for a core, and so must the work it is shown.
        end = time.thread_time() + 0.2
        while block == "cpu" and time.thread_time() < end:
            pass
        if block == "sleep":
            time.sleep(0.2)
        return model(name)

    time.sleep(0.05)  # a first sample, to measure from
    monkeypatch.setattr(fuzz_gw.gateway, "model", slow_model)
    assert httpx.post(f"{fuzz_gw.url}/v1/detokenize", json={"tokens": [1]}).status_code == 200
    time.sleep(0.05)
    assert meter.worst > MAX_STALL
