"""The soak's clients: a seeded mix of requests, each ending with exactly one outcome.

    ok            a 200 answer, or a 200 stream ending with a finish_reason and [DONE]
    stream_error  a 200 stream whose one error event (OpenAI-shaped) precedes [DONE]
    http_error    an OpenAI-shaped error status: 5xx for worker faults, 4xx for bad bodies
                  (and 429/408 from admission, for anyone)
    hung_up       the client left on purpose, before or after the first token
    unanswered    anything else: a transport error, a 5xx to a bad body, a stream without
                  [DONE], a body that is not OpenAI's shape. A soak must end with none.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from benchlib.promscrape import unchunk

from soaklib.fleet import HOST, MODEL

__all__ = ["KINDS", "Tally", "run_clients"]


class BadAnswer(Exception):
    """An answer that is not one clear outcome."""


@dataclass
class Tally:
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    sent: int = 0

    def add(self, kind: str, outcome: str, problem: str | None = None) -> None:
        self.outcomes[kind, outcome] += 1
        if problem is not None and len(self.problems) < 50:
            self.problems.append(f"{kind}: {problem}")

    def total(self, outcome: str | None = None) -> int:
        return sum(n for (_, o), n in self.outcomes.items() if outcome is None or o == outcome)


def _openai_error(body: bytes) -> None:
    try:
        err = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        raise BadAnswer(f"not an OpenAI error: {body[:200]!r}") from None
    if set(err) != {"message", "type", "param", "code"} or not err["message"]:
        raise BadAnswer(f"not an OpenAI error: {body[:200]!r}")


def classify(status: int, body: bytes, *, stream: bool, bad_body: bool = False) -> str:
    if status != 200:
        _openai_error(body)
        if status in (408, 429) or (bad_body and 400 <= status < 500) or (not bad_body and status >= 500):
            return "http_error"
        raise BadAnswer(f"status {status} to a {'bad' if bad_body else 'good'} body: {body[:200]!r}")
    if bad_body:
        raise BadAnswer(f"200 to a bad body: {body[:200]!r}")
    if not stream:
        if not json.loads(body).get("choices"):
            raise BadAnswer(f"no choices: {body[:200]!r}")
        return "ok"
    events = [line[6:] for line in body.decode().split("\n") if line.startswith("data: ")]
    if not events or events[-1] != "[DONE]" or events.count("[DONE]") != 1:
        raise BadAnswer(f"a stream not ended by one [DONE]: {body[-200:]!r}")
    decoded = [json.loads(e) for e in events[:-1]]
    errors = [e for e in decoded if "error" in e]
    if errors:
        if len(errors) != 1 or decoded[-1] is not errors[0]:
            raise BadAnswer(f"error events not one, last: {body[-300:]!r}")
        _openai_error(json.dumps(errors[0]).encode())
        return "stream_error"
    if not decoded or decoded[-1]["choices"] and decoded[-1]["choices"][0].get("finish_reason") is None:
        raise BadAnswer(f"a stream that ended without a finish_reason: {body[-300:]!r}")
    return "ok"


def _chat(rng: random.Random, stream: bool, **extra: object) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"soak {rng.random()}"}],
            "max_tokens": rng.randint(4, 120), "stream": stream, **extra}


def _completion(rng: random.Random, stream: bool) -> dict:
    return {"model": MODEL, "prompt": f"soak {rng.random()}", "max_tokens": rng.randint(4, 80), "stream": stream}


BAD_BODIES: tuple[bytes, ...] = (
    b"{not json", b"[]", b"null", b'{"model": "soak", "messages": "x"}', b'{"model": "soak", "messages": []}',
    b'{"model": "soak", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}',
    b'{"model": "soak", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
    b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}',
    b'{"model": "soak", "messages": [{"role": "user", "content": "x"}], "n": 0}',
)


async def _post(http: httpx.AsyncClient, path: str, body: dict | bytes, *, bad: bool = False) -> str:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    stream = isinstance(body, dict) and bool(body.get("stream"))
    async with http.stream("POST", path, content=content, headers={"content-type": "application/json"}) as resp:
        data = await resp.aread()
    return classify(resp.status_code, data, stream=stream, bad_body=bad)


async def _hang_up_after_first(http: httpx.AsyncClient, rng: random.Random) -> str:
    body = _chat(rng, True, max_tokens=200)
    async with http.stream("POST", "/v1/chat/completions", json=body) as resp:
        data = b""
        async for chunk in resp.aiter_bytes():
            data += chunk
            if b'"content"' in data and b"[DONE]" not in data:
                return "hung_up"  # leaving the block closes the connection mid-stream
    return classify(resp.status_code, data, stream=True)  # it ended before a token came


async def _hang_up_early(http: httpx.AsyncClient, rng: random.Random) -> str:
    try:
        async with asyncio.timeout(rng.uniform(0.001, 0.05)):
            return await _post(http, "/v1/chat/completions", _chat(rng, rng.random() < 0.5, max_tokens=200))
    except TimeoutError:
        return "hung_up"


async def _slow_reader(http: httpx.AsyncClient, rng: random.Random) -> str:
    body = _chat(rng, True, max_tokens=30)
    async with http.stream("POST", "/v1/chat/completions", json=body) as resp:
        data = b""
        async for chunk in resp.aiter_bytes():
            data += chunk
            await asyncio.sleep(0.02)
    return classify(resp.status_code, data, stream=True)


async def _slow_body(port: int, rng: random.Random) -> str:
    """A client that sends its body in pieces, pausing between them."""
    body = json.dumps(_chat(rng, False, max_tokens=8)).encode()
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        third = len(body) // 3
        for piece in (body[:third], body[third: 2 * third], body[2 * third:]):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(rng.uniform(0.05, 0.3))
        raw = await reader.read()
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        raise BadAnswer(f"no HTTP answer: {raw[:200]!r}")
    if b"transfer-encoding: chunked" in head.lower():
        payload = unchunk(payload)
    return classify(int(head.split()[1]), payload, stream=False)


Request = Callable[[httpx.AsyncClient, random.Random, int], Awaitable[str]]

# name → (weight, request): the mix each client draws from.
KINDS: dict[str, tuple[int, Request]] = {
    "chat_stream": (30, lambda h, r, p: _post(h, "/v1/chat/completions", _chat(r, True))),
    "chat": (14, lambda h, r, p: _post(h, "/v1/chat/completions", _chat(r, False))),
    "completion_stream": (8, lambda h, r, p: _post(h, "/v1/completions", _completion(r, True))),
    "completion": (5, lambda h, r, p: _post(h, "/v1/completions", _completion(r, False))),
    "stop_string": (6, lambda h, r, p: _post(h, "/v1/chat/completions", _chat(r, r.random() < 0.5, stop=["e"]))),
    "hang_up_after_first": (8, lambda h, r, p: _hang_up_after_first(h, r)),
    "hang_up_early": (6, lambda h, r, p: _hang_up_early(h, r)),
    "slow_reader": (5, lambda h, r, p: _slow_reader(h, r)),
    "slow_body": (4, lambda h, r, p: _slow_body(p, r)),
    "bad_body": (8, lambda h, r, p: _post(h, "/v1/chat/completions", r.choice(BAD_BODIES), bad=True)),
}


async def _client(seed: int, http: httpx.AsyncClient, port: int, until: Callable[[], bool], tally: Tally) -> None:
    rng = random.Random(seed)
    names = list(KINDS)
    weights = [KINDS[n][0] for n in names]
    while not until():
        kind = rng.choices(names, weights)[0]
        tally.sent += 1
        try:
            tally.add(kind, await KINDS[kind][1](http, rng, port))
        except Exception as err:  # noqa: BLE001 - whatever it was, the request got no clear answer
            tally.add(kind, "unanswered", f"{type(err).__name__}: {err}")


async def run_clients(port: int, concurrency: int, seconds: float, tally: Tally, *, seed: int = 0) -> None:
    """`concurrency` clients, each drawing requests from the mix for `seconds`."""
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=60, limits=limits) as http:
        await asyncio.gather(*(_client(seed * 1000 + i, http, port, lambda: time.monotonic() >= stop_at, tally)
                               for i in range(concurrency)))
