"""Gateway CPU per multi-turn request, /v1/responses next to the same turn as a chat completion,
with the HTTP front end cut out (the companion of `request_harness.py`).

The real app runs as ASGI in this process with a SQLite history file; the mock worker
(16 tokens per answer, as in `make bench`'s turns16 scenarios) in another process.
Each round sends the same turns of 16 users' 4-turn conversations both ways, chat first
then responses, and prints this process's CPU per request for each and their ratio.
`--profile FILE` writes a cProfile of the measured rounds, one file per kind.

    .venv/bin/python scripts/turns_harness.py [--rounds 6] [--history sqlite|memory] [--profile out]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib.turns import TURNS, TurnClient  # noqa: E402
from stream_harness import call_app, launched_app, start_worker  # noqa: E402

USERS = 16
MAX_TOKENS = 16  # as `make bench`'s turns16 scenarios


class _AppConnection:
    """`HttpConnection.post_plain` over the app as ASGI: what TurnClient needs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def post_plain(self, body: bytes, path: str) -> tuple[int, bytes]:
        status = [0]
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            else:
                chunks.append(message.get("body", b""))

        await call_app(self.app, body, send, path.encode())
        return status[0], b"".join(chunks)


class _Tally:
    def __init__(self) -> None:
        self.ok = self.tokens = self.prompt_tokens = 0
        self.ttft: list[float] = []

    def fail(self, why: str) -> None:
        raise SystemExit(why)


async def _round(conn: _AppConnection, client: TurnClient, first: int) -> float:
    """CPU seconds per request of USERS conversations of TURNS turns, users side by side."""
    tally = _Tally()
    cpu = time.process_time()
    for turn in range(TURNS):
        await asyncio.gather(*(client.send(conn, u, first + turn * USERS + u, tally) for u in range(USERS)))
    return (time.process_time() - cpu) / (TURNS * USERS)


async def run(args: argparse.Namespace) -> None:
    worker, port = start_worker(256, 0.0)
    history = ["--history-backend", args.history]
    if args.history == "sqlite":
        history += ["--history-sqlite-path", str(Path(tempfile.mkdtemp(prefix="turns-")) / "history.sqlite3")]
    try:
        async with launched_app(port, "--served-model-name", "bench", *history) as app:
            conn = _AppConnection(app)
            clients = {kind: TurnClient(kind, MAX_TOKENS) for kind in ("chat", "responses")}
            # CPU time of this thread, not wall time: on a busy machine, time spent descheduled
            # would land on whatever function was running.
            profiles = {kind: cProfile.Profile(time.thread_time) for kind in clients}
            if args.only:
                clients = {args.only: clients[args.only]}
            for client in clients.values():  # warm-up
                await _round(conn, client, 0)
            cpu: dict[str, list[float]] = {kind: [] for kind in clients}
            if args.callgrind:  # count the measured rounds only (scripts/turns_icount.sh)
                subprocess.run(["callgrind_control", "--instr=on", str(os.getpid())], check=True, capture_output=True)
            for r in range(args.rounds):
                for kind, client in clients.items():
                    if args.profile:
                        profiles[kind].enable()
                    cpu[kind].append(await _round(conn, client, 10_000 * (r + 1)))
                    if args.profile:
                        profiles[kind].disable()
                print(f"round {r}: " + ", ".join(f"{k} {v[-1] * 1e6:.0f} µs" for k, v in cpu.items()), flush=True)
            if args.callgrind:
                subprocess.run(["callgrind_control", "--instr=off", str(os.getpid())], check=True, capture_output=True)
            if args.only:
                return
            ratios = [b / a for a, b in zip(cpu["chat"], cpu["responses"], strict=True)]
            print(f"median ratio {statistics.median(ratios):.3f}; ratio of means "
                  f"{statistics.mean(cpu['responses']) / statistics.mean(cpu['chat']):.3f}")
            if args.profile:
                for kind, prof in profiles.items():
                    prof.dump_stats(f"{args.profile}.{kind}")
    finally:
        worker.terminate()
        worker.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--history", choices=("sqlite", "memory"), default="sqlite")
    p.add_argument("--only", choices=("chat", "responses"), help="send only this kind (for scripts/turns_icount.sh)")
    p.add_argument("--callgrind", action="store_true", help="switch callgrind's instrumentation on for the "
                   "measured rounds only (run under valgrind --instr-atstart=no)")
    p.add_argument("--profile", help="write cProfile stats to PROFILE.chat and PROFILE.responses")
    uvloop.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
