"""py-spy around one window of our gateway, and a per-function summary of what it recorded."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

from benchlib.procs import Service, pin

__all__ = ["start_profiler", "stop_profiler", "summarize_profile"]


async def start_profiler(py_spy: str, gateway: Service, out: Path, seconds: float, native: bool,
                         cores: frozenset[int] | None) -> subprocess.Popen[bytes]:
    argv = [py_spy, "record", "--pid", str(gateway.proc.pid), "--rate", "200", "--format", "raw",
            "--duration", str(int(seconds) + 30), "-o", str(out)]
    argv += ["--native", "--threads"] if native else []
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pin(proc.pid, cores)
    await asyncio.sleep(0.5)  # let it attach
    return proc


def stop_profiler(proc: subprocess.Popen[bytes], raw: Path) -> str:
    """Stop recording and write the summary beside the raw file; returns the summary."""
    proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    proc.wait(30)
    summary = summarize_profile(raw)
    raw.with_suffix(".summary.txt").write_text(summary)
    return summary


def _frame(frame: str) -> str:
    return frame.rsplit(":", 1)[0] + ")" if frame.endswith(")") and ":" in frame else frame  # drop line numbers


def summarize_profile(path: Path, top: int = 20) -> str:
    """Self and inclusive shares of the event-loop thread's samples by function, from
    py-spy's raw (collapsed) output. Other threads (gRPC's poller) are only counted: py-spy
    takes a thread in epoll_wait for busy, so their share is overstated; the OS figure per
    thread is `gw_cpu_s_by_thread` in results.json."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = background = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_frame(f) for f in stack.split(";") if not f.startswith(("thread (", "process "))]
        if not frames:
            continue
        if any(f.startswith("Thread._bootstrap") for f in frames):
            background += int(count)
            continue
        total += int(count)
        own[frames[-1]] = own.get(frames[-1], 0) + int(count)
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + int(count)
    lines = [f"event-loop thread: {total} samples (other threads: {background}, not shown)", "self:"]
    lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in sorted(own.items(), key=lambda x: -x[1])[:top]]
    lines += ["inclusive:"]
    lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in sorted(inclusive.items(), key=lambda x: -x[1])[:top * 3]]
    return "\n".join(lines) + "\n"

