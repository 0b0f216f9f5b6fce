"""`make soak`: the gateway under mixed traffic and worker faults for a while, then checked.

    python scripts/soak.py [--minutes 10] [--workers 3] [--concurrency 48] [--fault-every 15]
                           [--warmup-secs 60] [--seed 0] [--out DIR]

Starts mock workers and the gateway as processes on loopback (logs in --out). Clients
draw a seeded mix: chat and completions, streamed or not, stop strings, clients that hang
up before or after the first token, slow readers, bodies sent slowly, bad bodies. Every
`--fault-every` seconds (jittered) one worker is SIGKILLed and restarted on its port, or
frozen with SIGSTOP and thawed. After the warm-up the gateway's RSS is noted. When the
time is up the clients stop, every worker is whole again, and the soak checks:

1. every client request was answered with one clear outcome (none `unanswered`);
2. the gateway settled: running-requests gauges, queue depth, admission slots, in-flight
   counts and the workers' own running requests all at zero;
3. the fleet recovered: ready, every worker healthy with its breaker closed;
4. the gateway's RSS is at most 10% above its value after the warm-up.

It prints a report and exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts"))  # soaklib, beside this file

import httpx  # noqa: E402
from soaklib.checks import SETTLED, wait_for  # noqa: E402
from soaklib.faults import inject_faults  # noqa: E402
from soaklib.fleet import HOST, MODEL, Proc, free_port, gateway_argv, worker_argv  # noqa: E402
from soaklib.traffic import Tally, run_clients  # noqa: E402

RSS_BOUND = 0.10


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="length of the soak, warm-up included")
    p.add_argument("--workers", type=int, default=3, help="mock worker processes")
    p.add_argument("--concurrency", type=int, default=48, help="clients sending at once")
    p.add_argument("--fault-every", type=float, default=15.0, help="mean seconds between worker faults")
    p.add_argument("--warmup-secs", type=float, default=60.0, help="traffic before the RSS baseline")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-path", type=Path, default=REPO_ROOT / ".cache" / "models" / "qwen3")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "soak-results")
    return p.parse_args(argv)


def start_fleet(args: argparse.Namespace) -> tuple[list[Proc], Proc, int]:
    args.out.mkdir(parents=True, exist_ok=True)
    workers = []
    for i in range(args.workers):
        port = free_port()
        workers.append(Proc(f"worker{i}", worker_argv(port, args.model_path), port, args.out))
    for worker in workers:
        worker.start()
    port, metrics_port = free_port(), free_port()
    urls = [f"grpc://{HOST}:{w.port}" for w in workers]
    gateway = Proc("gateway", gateway_argv(port, metrics_port, urls), port, args.out)
    gateway.start()
    return workers, gateway, metrics_port


async def phase(port: int, workers: list[Proc], args: argparse.Namespace, seconds: float, tally: Tally,
                faults: Counter[str], seed: int) -> None:
    """Traffic and faults together for `seconds`; the faults stop with the traffic."""
    stop_at = time.monotonic() + seconds
    await asyncio.gather(run_clients(port, args.concurrency, seconds, tally, seed=seed),
                         inject_faults(workers, args.fault_every, lambda: time.monotonic() >= stop_at, faults,
                                       seed=seed))


async def recover(port: int, metrics_port: int, tally: Tally) -> dict[str, object]:
    """Light traffic until breakers that went half-open close again, then the final state."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=60) as http:
        while time.monotonic() < deadline:
            state = await wait_for(port, metrics_port, timeout=0)
            if not state["unrecovered"] and state["readiness"] == 200:
                break
            body = {"model": MODEL, "messages": [{"role": "user", "content": "recover"}], "max_tokens": 4}
            resp = await http.post("/v1/chat/completions", json=body)
            tally.add("recovery", "ok" if resp.status_code == 200 else "http_error")
            await asyncio.sleep(0.2)
    return await wait_for(port, metrics_port, timeout=60)


def report(args: argparse.Namespace, tally: Tally, faults: Counter[str], state: dict[str, object],
           rss: tuple[int, int], seconds: float) -> bool:
    warm, end = rss
    growth = (end - warm) / warm
    checks = {
        "every request answered with one clear outcome": tally.total("unanswered") == 0,
        "gateway settled (gauges, slots, in-flight, workers' running at zero)":
            {k: v for k, v in state.items() if k not in ("unrecovered", "readiness")}
            == {k: v for k, v in SETTLED.items() if k not in ("unrecovered", "readiness")},
        "fleet recovered (ready, healthy, breakers closed)":
            state["unrecovered"] == {} and state["readiness"] == 200,
        f"RSS at most {RSS_BOUND:.0%} above the warm-up's": growth <= RSS_BOUND,
    }
    print(f"\n## soak: {seconds / 60:.1f} min, {args.workers} workers, {args.concurrency} clients, seed {args.seed}")
    print(f"requests: {tally.sent} sent, {tally.total()} ended")
    for outcome in ("ok", "stream_error", "http_error", "hung_up", "unanswered"):
        kinds = {k: n for (k, o), n in sorted(tally.outcomes.items()) if o == outcome}
        print(f"  {outcome:13} {tally.total(outcome):7}  {kinds}")
    print(f"faults: {dict(faults)}")
    print(f"gateway RSS: {warm / 2**20:.1f} MiB after warm-up, {end / 2**20:.1f} MiB at the end ({growth:+.1%})")
    print(f"final state: {state}")
    for problem in tally.problems[:20]:
        print(f"  problem: {problem}")
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return all(checks.values())


async def amain(args: argparse.Namespace) -> int:
    total = args.minutes * 60
    warmup = min(args.warmup_secs, total / 2)
    workers, gateway, metrics_port = start_fleet(args)
    tally, faults = Tally(), Counter[str]()
    started = time.monotonic()
    try:
        print(f"warm-up: {warmup:.0f}s; logs in {args.out}", flush=True)
        await phase(gateway.port, workers, args, warmup, tally, faults, args.seed)
        rss_warm = gateway.rss_bytes()
        print(f"RSS after warm-up: {rss_warm / 2**20:.1f} MiB; soaking {total - warmup:.0f}s", flush=True)
        await phase(gateway.port, workers, args, total - warmup, tally, faults, args.seed + 1)
        state = await recover(gateway.port, metrics_port, tally)
        rss_end = gateway.rss_bytes()
        ok = report(args, tally, faults, state, (rss_warm, rss_end), time.monotonic() - started)
    finally:
        gateway.stop()
        for worker in workers:
            worker.stop()
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
