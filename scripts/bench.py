"""`make bench`: what the gateway costs per request and per token, next to smg and the floor.

    python scripts/bench.py [--quick] [--smg PATH | --no-smg] [--token-delay S]
                            [--scenarios KEY ...] [--targets floor ours smg] [--no-pin] [--rss-streams N]
                            [--ours-args "FLAGS"]
                            [--py-spy PATH --profile KEY [--profile-native]] [--out DIR]

One mock worker (random mode, zero token delay unless `--token-delay`) serves every target
in turn, so all of them face the same worker:

- **floor**: a direct gRPC client in this process sends the same prompts, rendered and
  tokenized beforehand by the gateway's own code: what the worker alone costs;
- **ours**: `python -m sglang_gw launch` in front of the worker (in scale scenarios
  `ours-wN`: the same with `--workers N`);
- **smg**: the Rust gateway (`make bench-smg` installs smg==1.13.0 into .cache/smg-venv,
  used automatically when present).

`--scenarios kv-routing` (only when named) runs KV-event routing on a fleet of its own
(benchlib/kv_routing.py): cache_aware vs kv_aware, one and two gateway replicas.

Pinning (when the machine has two cores or more): the worker and this load generator share
core 0, the gateway under test gets core 1 to itself, so the gateway's CPU time is its own
and the load generator's cost never lands on it; in scale scenarios the gateway may use
every core. The gateway's CPU seconds come from the OS (utime+stime of its process tree in
/proc, read before and after each measured window); ours' event-loop lag comes from its own
Prometheus series.

Last, each gateway's resident memory, idle and with `--rss-streams` streams open
(benchlib/memory.py, on a slow worker of its own).

Every window is bounded by a request count and a time limit, whichever comes first, and
follows a short warm-up. Output lengths are exact (`max_tokens` with `ignore_eos`). Results
are printed as markdown and written to bench-results/results.{json,md}. The pieces live in
scripts/benchlib/ (see its __init__).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # lets the script run before `pip install -e .`

from benchlib import gateways  # noqa: E402
from benchlib.embed import run_embed  # noqa: E402
from benchlib.kv_routing import KEY as KV_ROUTING  # noqa: E402
from benchlib.kv_routing import run_kv_routing  # noqa: E402
from benchlib.memory import RSS_KEY, run_memory  # noqa: E402
from benchlib.procs import Service, choose_cores, free_port, wait_port  # noqa: E402
from benchlib.report import machine_info, write_report  # noqa: E402
from benchlib.runner import Bench, run_all  # noqa: E402
from benchlib.scenarios import SCENARIOS  # noqa: E402
from benchlib.settings import HOST, MODEL_DIR, MODEL_NAME, SMG_DEFAULT  # noqa: E402


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short windows, fewer requests (about a minute)")
    p.add_argument("--smg", default=None,
                   help=f"smg executable (default: {SMG_DEFAULT.relative_to(REPO_ROOT)} if present)")
    p.add_argument("--no-smg", action="store_true", help="skip smg even when installed")
    p.add_argument("--token-delay", type=float, default=0.0, help="mock worker seconds per token (models a GPU)")
    p.add_argument("--scenarios", nargs="*", default=[],
                   help=f"subset of: {' '.join(s.key for s in SCENARIOS)}; {KV_ROUTING} (its own fleet) only "
                        "when named")
    p.add_argument("--targets", nargs="*", default=["floor", "ours", "smg"], choices=["floor", "ours", "smg"])
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    p.add_argument("--py-spy", default=None, help="py-spy executable: profile ours during --profile's window")
    p.add_argument("--profile", default="stream256-c64", help="the scenario to profile with --py-spy")
    p.add_argument("--profile-native", action="store_true", help="py-spy --native --threads (C frames, per thread)")
    p.add_argument("--rss-streams", type=int, default=1000,
                   help=f"streams held open for the RSS figure (0: skip it; with --scenarios, only if "
                        f"{RSS_KEY} is named)")
    p.add_argument("--ours-args", default="", help="more flags for ours, as one string (e.g. '--allocator system')")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench-results")
    return p.parse_args(argv)


def find_smg(args: argparse.Namespace) -> str | None:
    if args.no_smg or "smg" not in args.targets:
        return None
    if args.smg:
        return args.smg
    return str(SMG_DEFAULT) if SMG_DEFAULT.exists() else None


async def amain(args: argparse.Namespace) -> int:
    gateways.OURS_EXTRA_ARGS[:] = shlex.split(args.ours_args)
    cores = choose_cores(args.no_pin)
    if cores.load is not None:
        os.sched_setaffinity(0, cores.load)  # before any thread exists, so all inherit it
    args.out.mkdir(parents=True, exist_ok=True)
    smg = find_smg(args)
    info = machine_info(smg, cores, args)
    port = free_port()
    worker = Service.start("worker", [sys.executable, "-m", "sglang_gw.testing.mock_worker", "--host", HOST,
                                      "--port", str(port), "--model-path", str(MODEL_DIR), "--mode", "random",
                                      "--random-tokens", "256", "--served-model-name", MODEL_NAME,
                                      "--token-delay", str(args.token_delay)], args.out, cores.load)
    bench = Bench(args, worker, f"grpc://{HOST}:{port}", args.out, cores)
    if smg is None and "smg" in args.targets and not args.no_smg:
        bench.notes.append("smg not installed (`make bench-smg`): no smg column")
    started = time.monotonic()
    try:
        await wait_port(worker, port, 60.0)
        print(f"pinning: load+worker cores {sorted(cores.load or [])}, gateway cores {sorted(cores.gateway or [])} "
              f"(scale scenarios: {sorted(cores.spread or [])}); smg: {smg or 'none'}", flush=True)
        await run_all(bench, smg)
        await run_embed(bench)
        await run_kv_routing(bench)
        if args.rss_streams > 0 and (not args.scenarios or RSS_KEY in args.scenarios):
            await run_memory(bench, smg, args.rss_streams)
    finally:
        worker.stop()
    bench.notes.append(f"whole run took {time.monotonic() - started:.0f} s")
    write_report(args.out, info, bench.scenarios() + bench.scenarios(embed=True), bench.results, bench.notes,
                 bench.memory)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
