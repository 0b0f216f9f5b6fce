"""The event loop's longest stretch without its timers while many requests arrive at once.

Issue 34's bench windows start with 64 streams (and a new 32k prompt) opened in the same
moment, and each read one lag sample over 20 ms there: no single step was long, but one
loop iteration ran every request's start back to back. This harness reproduces that burst
behind uvicorn (the app served as `launch` serves it, in this process), with the mock
worker streaming 256 tokens per request (another process, `--token-delay` per token) and a
client process that keeps `--open` streams going, then sends `--burst` new streamed chats
on connections it opened beforehand, all in one go, with one new 32k prompt beside them
(`--long fresh|zh`, the bench's texts; `none` for none).

It reads the loop thread's CPU (`time.thread_time`, so waiting for a core does not count) at
every run of a 1 ms timer: the largest difference between two runs during the burst is the
lag the bench sees, made load-independent (the timer's wall-clock lateness is printed too).
On the plain asyncio loop (`--loop asyncio`: its `Handle._run` and `_run_once` are wrapped,
uvloop's cannot be) it also counts what ran in that stretch, by kind, with the CPU of each
kind, gives the longest single iteration with its largest steps, and with `--profile` that
stretch's top functions (cProfile runs between every two timer runs; it inflates the CPU
figures, so read its shares). The garbage collections in the stretch are counted too.
`--budget MS` sets the request starts' budget (runtime/turns.py) of the tree under test.

    .venv/bin/python scripts/loop_burst.py [--burst 64] [--open 64] [--long fresh|zh|none] [--rounds 3]
    PYTHONPATH=OTHER_TREE .venv/bin/python scripts/loop_burst.py ...    # the same burst on another tree
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib.prompts import long_body  # noqa: E402
from benchlib.scenarios import SCENARIOS  # noqa: E402
from loop_steps import _describe, _top_functions  # noqa: E402
from stream_harness import _free_port, _wait_for_worker, start_worker  # noqa: E402

_SCENARIO = {"fresh": "long32k-fresh-c64", "zh": "long32k-zh-c64"}

# The client: `open` streams kept going; per "go" line, `burst` streams on connections
# opened beforehand plus the long prompt (if any), all sent at once; "done" when they are answered.
_CLIENT = r"""
import asyncio, json, sys
port, n_open, n_burst = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
longs = json.load(open(sys.argv[4])) if len(sys.argv) > 4 else []
def chat(i):
    body = json.dumps({"model": "bench", "ignore_eos": True, "max_tokens": 256, "stream": True,
                       "messages": [{"role": "user", "content": f"Request {i}: tell me about the issue."}]}).encode()
    return post(body)
def post(body):
    return (b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % len(body) + body)
async def answer(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(head.decode())
    if b"content-length:" in head.lower():
        await reader.readexactly(int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0]))
        return
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return
async def keep_open(u, stop):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = u
    while not stop.is_set():
        writer.write(chat(i)); await answer(reader); i += n_open
async def main():
    stop = asyncio.Event()
    opened = [asyncio.create_task(keep_open(10_000 + u, stop)) for u in range(n_open)]
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(); await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    r = 0
    while (await stdin.readline()).strip() == b"go":
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(n_burst + (1 if longs else 0))]
        print("connected", flush=True)
        await stdin.readline()
        messages = [chat(1_000_000 * (r + 1) + i) for i in range(n_burst)]
        messages += [post(longs[r].encode())] if longs else []
        for (_, writer), message in zip(conns, messages):
            writer.write(message)
        await asyncio.gather(*(answer(reader) for reader, _ in conns))
        for _, writer in conns:
            writer.close()
        r += 1
        print("done", flush=True)
    stop.set()
    for t in opened:
        t.cancel()
asyncio.run(main())
"""


@dataclass
class Stretches:
    """The loop thread's CPU between two runs of the timer, and (asyncio) what ran in it."""

    profile: bool
    on: bool = False
    worst: float = 0.0
    worst_lag: float = 0.0
    max_late: float = 0.0  # the timer's largest wall-clock lateness in the burst (waits for a core included)
    worst_steps: collections.Counter[str] = field(default_factory=collections.Counter)
    worst_profile: str = ""
    steps: collections.Counter[str] = field(default_factory=collections.Counter)
    step_cpu: collections.Counter[str] = field(default_factory=collections.Counter)  # seconds by kind
    worst_step_cpu: collections.Counter[str] = field(default_factory=collections.Counter)
    prof: cProfile.Profile | None = None
    worst_iteration: float = 0.0  # (asyncio) the longest single iteration of the loop, thread CPU
    iteration_steps: list[tuple[float, str]] = field(default_factory=list)
    worst_iteration_steps: list[tuple[float, str]] = field(default_factory=list)
    gc_cpu: list[float] = field(default_factory=list)  # the collector's passes on the loop thread, this stretch
    worst_gc: list[float] = field(default_factory=list)
    _gc_start: float = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if phase == "start":
            self._gc_start = time.thread_time()
        else:
            self.gc_cpu.append(time.thread_time() - self._gc_start)


async def _tick(s: Stretches) -> None:
    loop = asyncio.get_running_loop()
    cpu = time.thread_time()
    while True:
        due = loop.time() + 0.001
        s.steps, s.step_cpu, s.gc_cpu = collections.Counter(), collections.Counter(), []
        if s.profile and s.on:
            s.prof = cProfile.Profile()
            s.prof.enable()
        await asyncio.sleep(0.001)
        if s.prof is not None:
            s.prof.disable()
        now = time.thread_time()
        if s.on:
            s.max_late = max(s.max_late, loop.time() - due)
        if s.on and now - cpu > s.worst:
            s.worst, s.worst_lag, s.worst_gc = now - cpu, loop.time() - due, s.gc_cpu
            s.worst_steps, s.worst_step_cpu = s.steps, s.step_cpu
            s.worst_profile = _top_functions(s.prof, 10) if s.prof is not None else ""
        s.prof = None
        cpu = now


def _long_request(handle: asyncio.Handle) -> bool:
    frame = handle._callback.__self__.get_coro().cr_frame  # type: ignore[attr-defined]
    cycle = frame.f_locals.get("self") if frame is not None else None
    headers = dict(getattr(cycle, "scope", {}).get("headers", ()))
    return int(headers.get(b"content-length", 0)) > 10_000


def _count_steps(s: Stretches) -> None:
    original = asyncio.events.Handle._run
    run_once = asyncio.base_events.BaseEventLoop._run_once

    def counted(handle: asyncio.Handle) -> None:
        what = _describe(handle, handle._callback).split(" at ")[0]
        if what.endswith("run_asgi") and _long_request(handle):
            what += " [the long prompt]"
        cpu = time.thread_time()
        original(handle)
        spent = time.thread_time() - cpu
        s.steps[what] += 1
        s.step_cpu[what] += spent
        s.iteration_steps.append((spent, what))

    def timed(loop: asyncio.AbstractEventLoop) -> None:
        cpu = time.thread_time()
        s.iteration_steps = []
        run_once(loop)  # type: ignore[arg-type]
        spent = time.thread_time() - cpu
        if s.on and spent > s.worst_iteration:
            s.worst_iteration, s.worst_iteration_steps = spent, s.iteration_steps

    asyncio.events.Handle._run = counted  # type: ignore[method-assign]
    asyncio.base_events.BaseEventLoop._run_once = timed  # type: ignore[attr-defined]


async def run(a: argparse.Namespace) -> None:
    import uvicorn

    from sglang_gw.cli import _server_options, parse_args
    from sglang_gw.cli_config import config_from_args
    from sglang_gw.server.app import build_app

    worker, worker_port = start_worker(256, a.token_delay)
    port = _free_port()
    longs = []
    if a.long != "none":
        scenario = next(sc for sc in SCENARIOS if sc.key == _SCENARIO[a.long])
        longs = [json.dumps(long_body(scenario, 500 + r)) for r in range(a.rounds)]
    if a.budget is not None:  # every StartBudget the app builds gets this one
        from sglang_gw.runtime import turns

        turns.StartBudget.__init__.__defaults__ = (a.budget / 1000,)
    s = Stretches(profile=a.profile)
    gc.callbacks.append(s.on_gc)
    if a.loop == "asyncio":
        _count_steps(s)
    try:
        args = parse_args(["launch", "--worker-urls", f"grpc://127.0.0.1:{worker_port}", "--model-path",
                           a.model_path, "--log-level", "warning", "--port", str(port), *a.launch_args.split()])
        config = config_from_args(args)
        app = build_app(config)
        server = uvicorn.Server(uvicorn.Config(app, **_server_options(config)))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        await _wait_for_worker(app)
        bodies = tempfile.NamedTemporaryFile("w", suffix=".json")  # too long for a command line
        json.dump(longs, bodies)
        bodies.flush()
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CLIENT, str(port), str(a.open), str(a.burst), bodies.name,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(client.pid, {0})
        assert client.stdout is not None and client.stdin is not None
        ticker = asyncio.create_task(_tick(s))
        await asyncio.sleep(1.0)  # the open streams under way
        for r in range(a.rounds):
            client.stdin.write(b"go\n")
            if (await client.stdout.readline()).strip() != b"connected":
                raise SystemExit("the client failed")
            await asyncio.sleep(0.3)
            s.on, s.worst, s.worst_iteration, s.max_late = True, 0.0, 0.0, 0.0
            client.stdin.write(b"go\n")
            if (await client.stdout.readline()).strip() != b"done":
                raise SystemExit("the client failed")
            s.on = False
            print(f"round {r}: longest stretch between 1 ms timer runs {s.worst * 1000:.1f} ms of loop CPU "
                  f"(the timer {s.worst_lag * 1000:.1f} ms late; at most {s.max_late * 1000:.1f} ms late in the burst)",
                  flush=True)
            if s.worst_iteration:
                steps = sorted(s.worst_iteration_steps, reverse=True)
                print(f"  longest iteration {s.worst_iteration * 1000:.1f} ms, {len(steps)} steps "
                      f"({sum(cpu for cpu, _ in steps) * 1000:.1f} ms), the largest: "
                      + ", ".join(f"{what} {cpu * 1000:.1f} ms" for cpu, what in steps[:4]))
            if s.worst_gc:
                print(f"  {len(s.worst_gc)} collections in it, {sum(s.worst_gc) * 1000:.1f} ms")
            if s.worst_steps:
                print("  steps in it: " + ", ".join(f"{n}× {what} ({s.worst_step_cpu[what] * 1000:.1f} ms)"
                                                    for what, n in s.worst_steps.most_common(8)))
            if s.worst_profile:
                print(f"  {s.worst_profile}")
            await asyncio.sleep(0.5)
        ticker.cancel()
        client.stdin.close()
        await client.wait()
        server.should_exit = True
        await serving
    finally:
        worker.terminate()
        worker.wait()


def main() -> None:
    from benchlib.settings import MODEL_DIR

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--burst", type=int, default=64, help="new streamed chats sent at once")
    p.add_argument("--open", type=int, default=64, help="streams kept going beside them")
    p.add_argument("--long", choices=("fresh", "zh", "none"), default="fresh", help="a new 32k prompt with the burst")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--token-delay", type=float, default=0.004, help="mock worker seconds per token")
    p.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    p.add_argument("--profile", action="store_true", help="(asyncio) the longest stretch's top functions")
    p.add_argument("--budget", type=float, help="ms: the request starts' budget per loop iteration "
                   "(runtime/turns.py) instead of its default; a large one turns it off")
    p.add_argument("--launch-args", default="", help="more `launch` flags, as one string")
    p.add_argument("--model-path", default=str(MODEL_DIR))
    a = p.parse_args()
    (uvloop.run if a.loop == "uvloop" else asyncio.run)(run(a))


if __name__ == "__main__":
    main()
