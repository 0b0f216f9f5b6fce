"""Gateway CPU per request of a /v1/responses turn next to the same turn as a chat completion.

`make bench` measures `turns16-c16-chat` and `turns16-c16-responses` one after the other, a
few seconds each; on a shared machine the load of the moment moves either by more than the
difference between them. This runs one gateway (as `make bench` launches it: one SQLite
history file, pinned to core 1, the mock worker and this load generator on core 0) and
alternates short phases of the two kinds of turns against it (the benchmark's own clients,
16 users, 4-turn conversations), so both kinds see the same machine. It prints each kind's
CPU ms per request (the gateway's process tree, from /proc) and the ratio of the means and
the median of the per-round ratios.

    .venv/bin/python scripts/turns_ab.py [--rounds 16] [--per-phase 300] [--history sqlite|memory]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib.gateways import ours_launch, wait_chat_ok  # noqa: E402
from benchlib.http_client import HttpConnection  # noqa: E402
from benchlib.procs import Service, choose_cores, free_port, tree_cpu_seconds, wait_port, wait_settled  # noqa: E402
from benchlib.settings import HOST, MODEL_DIR, MODEL_NAME, REPO_ROOT  # noqa: E402
from benchlib.turns import TurnClient  # noqa: E402
from benchlib.window import drive  # noqa: E402

KINDS = ("chat", "responses")
USERS = 16


async def amain(args: argparse.Namespace) -> int:
    cores = choose_cores(False)
    if cores.load is not None:
        os.sched_setaffinity(0, cores.load)
    out = REPO_ROOT / "bench-results" / "turns-ab"
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    worker = Service.start("worker", [sys.executable, "-m", "sglang_gw.testing.mock_worker", "--host", HOST,
                                      "--port", str(port), "--model-path", str(MODEL_DIR), "--mode", "random",
                                      "--random-tokens", "256", "--served-model-name", MODEL_NAME,
                                      "--token-delay", "0"], out, cores.load)
    gw: Service | None = None
    try:
        await wait_port(worker, port, 60.0)
        launch = ours_launch("ours", f"grpc://{HOST}:{port}", False)
        argv = [a if a != "sqlite" else args.history for a in launch.argv]
        gw = Service.start("ours", argv, out, cores.gateway, launch.env)
        await wait_chat_ok(gw, launch.port, 120.0)
        await wait_settled(gw, 60.0)
        cpu = await _rounds(gw, launch.port, args)
    finally:
        if gw is not None:
            gw.stop()
        worker.stop()
    chat, resp = cpu["chat"], cpu["responses"]
    ratios = [r / c for c, r in zip(chat, resp, strict=True)]
    print(f"chat      ms/req: mean {statistics.mean(chat):.3f}, median {statistics.median(chat):.3f}")
    print(f"responses ms/req: mean {statistics.mean(resp):.3f}, median {statistics.median(resp):.3f}")
    print(f"responses/chat: ratio of means {statistics.mean(resp) / statistics.mean(chat):.3f}, "
          f"median of rounds {statistics.median(ratios):.3f} ({' '.join(f'{r:.2f}' for r in ratios)})")
    return 0


async def _rounds(gw: Service, port: int, args: argparse.Namespace) -> dict[str, list[float]]:
    clients = {kind: TurnClient(kind, 16) for kind in KINDS}
    conns = {kind: [HttpConnection(port) for _ in range(USERS)] for kind in KINDS}
    next_index = dict.fromkeys(KINDS, 0)

    async def phase(kind: str, count: int) -> float:
        client, users = clients[kind], conns[kind]
        before = tree_cpu_seconds(gw.proc.pid)
        tally, _ = await drive(lambda u, i, t: client.send(users[u], u, i, t), USERS, next_index[kind], count, 120.0)
        spent = tree_cpu_seconds(gw.proc.pid) - before
        next_index[kind] += count
        if tally.errors:
            raise RuntimeError(f"{kind}: {tally.errors} failed requests ({tally.first_error})")
        return spent / max(tally.ok, 1) * 1000

    try:
        for kind in KINDS:  # warm-up
            await phase(kind, 200)
        cpu: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for r in range(args.rounds):
            for kind in KINDS if r % 2 == 0 else KINDS[::-1]:
                cpu[kind].append(await phase(kind, args.per_phase))
        return cpu
    finally:
        for users in conns.values():
            for c in users:
                c.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=16)
    p.add_argument("--per-phase", type=int, default=300, help="requests of each kind per round")
    p.add_argument("--history", choices=["sqlite", "memory"], default="sqlite")
    return asyncio.run(amain(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
