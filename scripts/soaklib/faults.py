"""Worker faults during a soak, one at a time: SIGKILL then a restart on the same port, or
SIGSTOP (the worker hangs: it holds its connections and answers nothing) then SIGCONT.

A kill lasts 1–5 s. A hang lasts 2–15 s: past the soak's 10 s request timeout, so streams
open on the hung worker end with a timeout event, and shorter, so they resume."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable

from soaklib.fleet import Proc

__all__ = ["inject_faults"]


async def _kill_and_restart(worker: Proc, down: float) -> None:
    worker.kill()
    await asyncio.sleep(down)
    await asyncio.to_thread(worker.start)


async def _hang(worker: Proc, down: float) -> None:
    worker.freeze()
    await asyncio.sleep(down)
    worker.thaw()


async def inject_faults(workers: list[Proc], every: float, until: Callable[[], bool], done: Counter[str], *,
                        seed: int = 0) -> None:
    """Every `every` seconds (jittered) hurt one worker, until `until()`; every worker is
    whole again when this returns."""
    rng = random.Random(seed)
    while not until():
        await asyncio.sleep(rng.uniform(0.5, 1.5) * every)
        if until():
            break
        worker = rng.choice(workers)
        fault = rng.choice(("kill", "hang"))
        down = rng.uniform(1.0, 5.0) if fault == "kill" else rng.uniform(2.0, 15.0)
        print(f"[{time.strftime('%H:%M:%S')}] fault: {fault} {worker.name} for {down:.1f}s", flush=True)
        await (_kill_and_restart if fault == "kill" else _hang)(worker, down)
        done[fault] += 1
