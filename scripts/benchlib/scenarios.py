"""The scenarios: what the clients send, how many of them, and how long a window lasts."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

__all__ = ["LONG_MAX_TOKENS", "SCENARIOS", "TURNS_SLICES", "Scenario", "quick", "scale_worker_counts",
           "side_request_count", "warmup_count"]

LONG_MAX_TOKENS = 16  # the long-prompt client's answers: short, so its cost is the prompt
# The two turns16 windows are compared with each other (issue 26: responses at most 1.15x
# chat's CPU per request). At 1,500 requests (~1.5 s), one window after the other, the load
# of the moment moved their ratio by +-0.15 or more; so each is 6,000 requests, cut into
# TURNS_SLICES slices that the two take in turn (runner.measure_turns, docs/benchmarks.md).
TURNS_WINDOW = 6000
TURNS_SLICES = 12


@dataclass(slots=True, frozen=True)
class Scenario:
    key: str
    title: str
    prompt: str  # "short", "multiturn", "unique8k", "fresh8k" or "zh3k" (see prompts.messages_for)
    stream: bool
    max_tokens: int
    concurrency: int
    requests: int  # window bound: this many requests ...
    seconds: float  # ... or this long, whichever comes first
    tools: bool = False
    stream_interval: int | None = None  # ask the worker for N tokens per chunk
    full_only: bool = False
    # > 0: one more client beside the others sends unique prompts of about this many tokens,
    # one at a time, starting one at most every `long_every` seconds.
    long_prompt_tokens: int = 0
    long_every: float = 0.5
    long_text: str = "words"  # the long prompts' text: "words" (WORDS), "fresh" or "zh" (benchlib/texts.py)
    # The gateway is not pinned (it may use every core) and ours runs at --workers 1..cores.
    scale: bool = False
    # Multi-turn conversations (benchlib/turns.py), each turn sent as a chat completion with
    # the whole history ("chat") or to /v1/responses with previous_response_id ("responses").
    turns: str | None = None
    # > 0: an embeddings scenario (benchlib/embed.py), this many texts per request.
    embed_batch: int = 0


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("chat16-c1", "non-streaming chat, short prompt, 16 tokens, 1 client", "short", False, 16, 1, 1500, 8),
    Scenario("chat16-c64", "non-streaming chat, short prompt, 16 tokens, 64 clients", "short", False, 16, 64, 4000, 10),
    Scenario("stream256-c64", "streaming chat, 256 tokens, 64 clients", "short", True, 256, 64, 384, 12),
    Scenario("stream256-c64-si8", "as stream256-c64, with stream_interval=8 in the body (ceiling)",
             "short", True, 256, 64, 768, 10, stream_interval=8, full_only=True),
    Scenario("multiturn4k-c16", "~4k-token multi-turn prompt, shared system prompt, streaming 16 tokens, 16 clients",
             "multiturn", True, 16, 16, 400, 10),
    Scenario("long32k-c64", "as stream256-c64, plus one client sending a unique ~32k-token prompt "
             f"({LONG_MAX_TOKENS} tokens, not streamed) at most every 0.5 s", "short", True, 256, 64, 384, 12,
             long_prompt_tokens=32_000),
    Scenario("long32k-fresh-c64", "as long32k-c64, the long prompts new ASCII text (made-up words, numbers, "
             "code marks: the word cache holds little of it)", "short", True, 256, 64, 384, 12,
             long_prompt_tokens=32_000, long_text="fresh"),
    Scenario("long32k-zh-c64", "as long32k-c64, the long prompts new Chinese text", "short", True, 256, 64, 384, 12,
             long_prompt_tokens=32_000, long_text="zh"),
    Scenario("fresh8k", "new ASCII prompts of ~8k tokens (made-up words, numbers, code marks), 1 token, "
             "not streamed, 8 clients: tokenizing new text is the gateway's main work", "fresh8k", False, 1, 8,
             600, 10),
    Scenario("zh3k", "new Chinese prompts of ~3k tokens, 1 token, not streamed, 8 clients", "zh3k", False, 1, 8,
             1200, 10),
    Scenario("tools256-c64", "streaming chat with tools and a tool-call parser, 256 tokens, 64 clients",
             "short", True, 256, 64, 384, 12, tools=True),
    Scenario("turns16-c16-chat", "4-turn conversations, each turn a chat completion carrying the whole history, "
             "16 tokens, not streamed, 16 clients", "turns", False, 16, 16, TURNS_WINDOW, 15, turns="chat"),
    Scenario("turns16-c16-responses", "the same turns via /v1/responses: only the new question and "
             "previous_response_id, the history kept by the gateway (sqlite)", "turns", False, 16, 16, TURNS_WINDOW, 15,
             turns="responses"),
    Scenario("chat16-c64-scale", "as chat16-c64, the gateway free to use every core (ours at --workers N)",
             "short", False, 16, 64, 4000, 10, scale=True),
    Scenario("stream256-c64-scale", "as stream256-c64, the gateway free to use every core (ours at --workers N)",
             "short", True, 256, 64, 384, 12, scale=True),
    Scenario("prefill8k-c8-scale", "unique ~8k-token prompts, 16 tokens, not streamed, 8 clients: tokenizing is "
             "the gateway's main work, the worker's is small; the gateway free to use every core (ours at "
             "--workers N)", "unique8k", False, 16, 8, 600, 10, scale=True),
    Scenario("embed32-c16", "/v1/embeddings, a batch of 32 short texts (~20 tokens each) per request, "
             "16 clients, on an embedding worker; tokens = inputs (gw CPU µs/tok is per input)",
             "embed", False, 0, 16, 600, 10, embed_batch=32),
)


def quick(sc: Scenario) -> Scenario:
    """About one round per client: a smoke test of every scenario, not a measurement."""
    return replace(sc, requests=max(sc.concurrency, sc.requests // 10), seconds=1.0)


def warmup_count(sc: Scenario, is_quick: bool) -> int:
    """Enough requests to reach every lazy first-use cost (imports, template compile) and
    open every client's connection, never more than the window itself."""
    return min(sc.concurrency if is_quick else max(sc.concurrency * 2, 32), sc.requests)


def side_request_count(sc: Scenario) -> int:
    """Long prompts to build: one for the warm-up, enough for the window at full pace, two spare."""
    return 1 + math.ceil(sc.seconds / sc.long_every) + 2 if sc.long_prompt_tokens else 0


def scale_worker_counts() -> list[int]:
    """--workers values for scale scenarios: 1, 2, 4, ... and the core count itself."""
    cores = os.cpu_count() or 1
    counts = [1 << k for k in range(cores.bit_length()) if 1 << k < cores]
    return counts + [cores]
