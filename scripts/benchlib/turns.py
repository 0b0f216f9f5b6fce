"""Multi-turn scenarios: each user holds conversations of `TURNS` turns, and sends each turn
either as a chat completion with the whole history (`chat`) or to /v1/responses with only
the new question and `previous_response_id` (`responses`, history kept by the gateway).

Both send the same turns, so the worker sees the same prompts, and the gateway CPU per
request of the two is the price of keeping the history in the gateway.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from benchlib.http_client import HttpConnection, Tally
from benchlib.prompts import WORDS
from benchlib.settings import MODEL_NAME

__all__ = ["TURNS", "TurnClient"]

TURNS = 4


@dataclass(slots=True)
class _Conversation:
    turn: int = 0
    messages: list[dict[str, str]] = field(default_factory=list)  # chat: the history so far
    last_id: str | None = None  # responses: the previous response


def _question(i: int) -> str:
    rng = random.Random(i)
    return f"Request {i}: and what about the {rng.choice(WORDS)} and the {rng.choice(WORDS)}?"


class TurnClient:
    """Sends request i of user u as the next turn of u's conversation (a new one every TURNS)."""

    def __init__(self, kind: str, max_tokens: int) -> None:
        assert kind in ("chat", "responses")
        self.kind = kind
        self.max_tokens = max_tokens
        self._conversations: dict[int, _Conversation] = {}

    def _body(self, conv: _Conversation, question: str) -> tuple[str, dict[str, Any]]:
        if self.kind == "chat":
            return "/v1/chat/completions", {"model": MODEL_NAME, "max_tokens": self.max_tokens,
                                            "messages": [*conv.messages, {"role": "user", "content": question}]}
        body: dict[str, Any] = {"model": MODEL_NAME, "input": question, "max_output_tokens": self.max_tokens}
        if conv.last_id is not None:
            body["previous_response_id"] = conv.last_id
        return "/v1/responses", body

    async def send(self, conn: HttpConnection, u: int, i: int, tally: Tally) -> None:
        conv = self._conversations.get(u)
        if conv is None or conv.turn == TURNS:
            conv = self._conversations[u] = _Conversation()
        question = _question(i)
        path, body = self._body(conv, question)
        start = time.perf_counter()
        status, data = await conn.post_plain(msgspec.json.encode(body), path)
        if status != 200:
            tally.fail(f"HTTP {status}: {data[:300]!r}")
            self._conversations.pop(u, None)
            return
        tally.ttft.append(time.perf_counter() - start)
        answer = msgspec.json.decode(data)
        usage = answer["usage"]
        if self.kind == "chat":
            tally.tokens += usage["completion_tokens"]
            tally.prompt_tokens += usage["prompt_tokens"]
            conv.messages += [{"role": "user", "content": question},
                              {"role": "assistant", "content": answer["choices"][0]["message"]["content"] or ""}]
        else:
            tally.tokens += usage["output_tokens"]
            tally.prompt_tokens += usage["input_tokens"]
            conv.last_id = answer["id"]
        conv.turn += 1
        tally.ok += 1
