"""Resident memory: each gateway idle, and with many streams open at once.

A worker of its own runs slowly (`TOKEN_DELAY` per token), so streams stay open while they
are counted. Each gateway starts in front of it, settles, and its RSS (the sum over its
process tree, from /proc) is read idle; then `count` clients each open a streaming chat and
wait for its first generated text, the RSS is read again, and the clients hang up (the
gateway aborts the streams). The figure per 1,000 streams is the difference, scaled.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from benchlib.gateways import Launch, ours_launch, smg_launch, wait_chat_ok
from benchlib.http_client import HttpConnection
from benchlib.procs import Service, descendants, free_port, wait_port, wait_settled
from benchlib.settings import HOST, MODEL_DIR, MODEL_NAME

if TYPE_CHECKING:
    from benchlib.runner import Bench

__all__ = ["RSS_KEY", "run_memory", "tree_rss_mb"]

RSS_KEY = "rss-streams"
TOKEN_DELAY = 0.5  # seconds per token: 64 tokens keep a stream open for half a minute
OPEN_TIMEOUT = 60.0


def tree_rss_mb(root: int) -> float:
    """Resident set size of a process and its descendants, in MiB."""
    total_kb = 0
    for pid in [root, *descendants(root)]:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:  # gone meanwhile
            continue
        total_kb += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total_kb / 1024


async def _measure(launch: Launch, out_dir: Path, cores: frozenset[int] | None, count: int) -> dict[str, Any]:
    gw = Service.start(f"{launch.target}-rss", launch.argv, out_dir, cores, launch.env)
    conns = [HttpConnection(launch.port) for _ in range(count)]
    try:
        await wait_chat_ok(gw, launch.port, 120.0)
        await wait_settled(gw, 60.0)
        idle = tree_rss_mb(gw.proc.pid)
        body = msgspec.json.encode({"model": MODEL_NAME, "messages": [{"role": "user", "content": "Tell me a story."}],
                                    "max_tokens": 64, "ignore_eos": True, "stream": True})
        started = time.monotonic()
        tasks = [asyncio.create_task(c.open_stream(body)) for c in conns]
        await asyncio.wait(tasks, timeout=OPEN_TIMEOUT)
        busy = tree_rss_mb(gw.proc.pid)
        opened = sum(1 for t in tasks if t.done() and not t.cancelled() and t.exception() is None)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not opened:
            raise RuntimeError("no stream opened")
        return {"rss_idle_mb": round(idle, 1), "rss_open_mb": round(busy, 1), "streams": opened,
                "rss_per_1000_streams_mb": round((busy - idle) * 1000 / opened, 1),
                "open_seconds": round(time.monotonic() - started, 1)}
    finally:
        for c in conns:
            c.close()
        gw.stop()


async def run_memory(bench: Bench, smg: str | None, count: int) -> None:
    """RSS of ours and smg, idle and with `count` streams open, into `bench.memory`."""
    port = free_port()
    worker = Service.start("rss-worker", [sys.executable, "-m", "sglang_gw.testing.mock_worker", "--host", HOST,
                                          "--port", str(port), "--model-path", str(MODEL_DIR), "--mode", "random",
                                          "--served-model-name", MODEL_NAME, "--token-delay", str(TOKEN_DELAY)],
                           bench.out_dir, bench.cores.load)
    url = f"grpc://{HOST}:{port}"
    launches = []
    if "ours" in bench.args.targets:
        launches.append(ours_launch("ours", url, False))
    if "smg" in bench.args.targets and smg:
        launches.append(smg_launch(smg, url, False))
    try:
        await wait_port(worker, port, 60.0)
        for launch in launches:
            try:
                row = await _measure(launch, bench.out_dir, bench.cores.gateway, count)
            except (RuntimeError, TimeoutError, OSError) as err:
                bench.notes.append(f"RSS of {launch.target} with {count} streams not measured: {str(err)[:200]}")
                continue
            bench.memory[launch.target] = row
            print(f"  {RSS_KEY:<20} {launch.target:<7} idle {row['rss_idle_mb']:.1f} MiB, {row['streams']} streams "
                  f"open {row['rss_open_mb']:.1f} MiB: {row['rss_per_1000_streams_mb']:.1f} MiB per 1000 streams",
                  flush=True)
    finally:
        worker.stop()
