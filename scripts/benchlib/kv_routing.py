"""The `kv-routing` scenario: does routing put a conversation's next turn where its prefix
is actually cached?

A fleet of its own: four mock workers with small real block caches (`--kv-cache-blocks`,
LRU, KV events on), restarted empty for every run. Multi-turn conversations, each with a
system prompt of its own, run side by side; every turn goes to one of the gateway replicas
at random (seeded), so with two replicas a conversation's turns alternate unpredictably
between them, as behind a load balancer. Per policy (`cache_aware`, `kv_aware`) and replica
count (1, 2) the figure is the cached-token ratio the workers report (sum of
`cached_tokens` / sum of prompt tokens over every turn), and for `kv_aware` the ratio it
predicted when choosing (`sgl_router_kv_predicted_cached_tokens_total` over the same).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from benchlib.gateways import NO_PLUGINS, wait_chat_ok
from benchlib.http_client import HttpConnection
from benchlib.procs import Service, free_port, wait_port
from benchlib.prompts import WORDS
from benchlib.promscrape import _get
from benchlib.settings import HOST, MODEL_DIR, MODEL_NAME

if TYPE_CHECKING:
    from benchlib.runner import Bench

__all__ = ["KEY", "run_kv_routing"]

KEY = "kv-routing"
WORKERS = 4
CACHE_BLOCKS = 240  # per worker, of PAGE tokens: room for its share of the conversations, once
PAGE = 16
CONVERSATIONS = 48
TURNS = 4
CONCURRENCY = 48
MAX_TOKENS = 16
POLICIES = ("cache_aware", "kv_aware")


@dataclass(slots=True)
class Totals:
    prompt: int = 0
    cached: int = 0
    failed: int = 0


def _system(c: int) -> str:
    rng = random.Random(1000 + c)
    return f"Conversation {c}. Notes: " + " ".join(rng.choice(WORDS) for _ in range(160))


def _question(c: int, turn: int) -> str:
    rng = random.Random(c * 100 + turn)
    return f"Turn {turn}: and what about the {rng.choice(WORDS)} and the {rng.choice(WORDS)}?"


async def _conversation(c: int, ports: list[int], rng: random.Random, totals: Totals) -> None:
    messages = [{"role": "system", "content": _system(c)}]
    conns = {p: HttpConnection(p) for p in ports}
    try:
        for turn in range(TURNS):
            messages.append({"role": "user", "content": _question(c, turn)})
            body = msgspec.json.encode({"model": MODEL_NAME, "messages": messages, "max_tokens": MAX_TOKENS})
            status, data = await conns[rng.choice(ports)].post_plain(body)
            if status != 200:
                totals.failed += 1
                return
            answer = msgspec.json.decode(data)
            usage = answer["usage"]
            totals.prompt += usage["prompt_tokens"]
            totals.cached += (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            messages.append({"role": "assistant", "content": answer["choices"][0]["message"]["content"] or ""})
    finally:
        for conn in conns.values():
            conn.close()


async def _counter(port: int, name: str) -> float:
    text = (await _get(port, "/metrics")).decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def _start_workers(bench: Bench) -> tuple[list[Service], list[int]]:
    services, ports = [], []
    for k in range(WORKERS):
        port = free_port()
        argv = [sys.executable, "-m", "sglang_gw.testing.mock_worker", "--host", HOST, "--port", str(port),
                "--model-path", str(MODEL_DIR), "--mode", "random", "--random-tokens", str(MAX_TOKENS),
                "--served-model-name", MODEL_NAME, "--kv-cache-blocks", str(CACHE_BLOCKS),
                "--kv-page-size", str(PAGE)]
        services.append(Service.start(f"kv-worker{k}", argv, bench.out_dir, bench.cores.load))
        ports.append(port)
    return services, ports


Gateway = tuple[Service, int, int]  # the process, its API port, its Prometheus port


def _start_gateways(bench: Bench, policy: str, replicas: int, worker_ports: list[int]) -> list[Gateway]:
    urls = [f"grpc://{HOST}:{p}" for p in worker_ports]
    out = []
    for r in range(replicas):
        port, metrics_port = free_port(), free_port()
        argv = [sys.executable, "-m", "sglang_gw", "launch", "--host", HOST, "--port", str(port),
                "--worker-urls", *urls, "--model-path", str(MODEL_DIR), "--log-level", "warning",
                "--policy", policy, "--block-size", str(PAGE),
                "--prometheus-host", HOST, "--prometheus-port", str(metrics_port)]
        out.append((Service.start(f"kv-{policy}-r{r}", argv, bench.out_dir, bench.cores.gateway, NO_PLUGINS),
                    port, metrics_port))
    return out


_SERIES = ("sgl_router_prompt_tokens_total", "sgl_router_cached_tokens_total",
           "sgl_router_kv_predicted_cached_tokens_total", "sgl_router_kv_event_lag_seconds_sum",
           "sgl_router_kv_event_lag_seconds_count", "sgl_router_cache_hits_total", "sgl_router_cache_misses_total")


async def _scrape(gateways: list[Gateway]) -> dict[str, float]:
    """Each series summed over the replicas."""
    return {name: sum([await _counter(m, name) for _, _, m in gateways]) for name in _SERIES}


async def _drive(ports: list[int]) -> Totals:
    """Every conversation, CONCURRENCY at a time, each turn to a random replica."""
    totals = Totals()
    gate = asyncio.Semaphore(CONCURRENCY)
    rng = random.Random(17)

    async def one(c: int) -> None:
        async with gate:
            await _conversation(c, ports, random.Random(rng.random()), totals)

    await asyncio.gather(*(one(c) for c in range(CONVERSATIONS)))
    return totals


def _row(policy: str, replicas: int, totals: Totals, seconds: float, d: dict[str, float]) -> dict[str, Any]:
    prompt = d["sgl_router_prompt_tokens_total"] or 1.0
    kv = policy == "kv_aware"
    return {"policy": policy, "replicas": replicas, "turns": CONVERSATIONS * TURNS - totals.failed,
            "failed": totals.failed, "seconds": round(seconds, 1),
            "cached_ratio": totals.cached / max(totals.prompt, 1),
            "reported_ratio_metrics": d["sgl_router_cached_tokens_total"] / prompt,
            "predicted_ratio": d["sgl_router_kv_predicted_cached_tokens_total"] / prompt if kv else None,
            "event_lag_ms": 1000 * d["sgl_router_kv_event_lag_seconds_sum"]
            / max(d["sgl_router_kv_event_lag_seconds_count"], 1),
            "route_hits": d["sgl_router_cache_hits_total"], "route_misses": d["sgl_router_cache_misses_total"]}


async def _one_run(bench: Bench, policy: str, replicas: int) -> dict[str, Any]:
    workers, worker_ports = _start_workers(bench)
    gateways: list[Gateway] = []
    try:
        for svc, port in zip(workers, worker_ports, strict=True):
            await wait_port(svc, port, 60.0)
        gateways = _start_gateways(bench, policy, replicas, worker_ports)
        for svc, port, _ in gateways:
            await wait_chat_ok(svc, port, 120.0)
        await asyncio.sleep(1.0)  # the KV streams are up and their snapshots applied
        before = await _scrape(gateways)
        started = time.monotonic()
        totals = await _drive([port for _, port, _ in gateways])
        seconds = time.monotonic() - started
        after = await _scrape(gateways)
        return _row(policy, replicas, totals, seconds, {k: after[k] - before[k] for k in _SERIES})
    finally:
        for svc, _, _ in gateways:
            svc.stop()
        for svc in workers:
            svc.stop()


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| policy | replicas | turns | cached-token ratio (workers) | predicted at routing | seconds |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        predicted = "" if r["predicted_ratio"] is None else f"{r['predicted_ratio']:.3f}"
        lines.append(f"| {r['policy']} | {r['replicas']} | {r['turns']} | {r['cached_ratio']:.3f} | {predicted} | "
                     f"{r['seconds']} |")
    by = {(r["policy"], r["replicas"]): r["cached_ratio"] for r in rows}
    for n in (1, 2):
        base = by.get(("cache_aware", n))
        if base is not None and ("kv_aware", n) in by:
            gain = by[("kv_aware", n)] / base if base else float("inf")
            lines.append(f"\n{n} replica(s): kv_aware / cache_aware = {gain:.2f}×")
    return "\n".join(lines)


async def run_kv_routing(bench: Bench) -> None:
    """Only when asked for by name (`--scenarios kv-routing`): it runs its own fleet."""
    if KEY not in bench.args.scenarios:
        return
    rows = []
    for replicas in (1, 2):
        for policy in POLICIES:
            print(f"{KEY}: {policy}, {replicas} replica(s)", flush=True)
            rows.append(await _one_run(bench, policy, replicas))
    md = _markdown(rows)
    (bench.out_dir / "kv-routing.json").write_bytes(msgspec.json.format(msgspec.json.encode(rows), indent=2))
    (bench.out_dir / "kv-routing.md").write_text(md + "\n")
    print("\n" + md)
    bench.notes.append(f"{KEY}: see kv-routing.md")
