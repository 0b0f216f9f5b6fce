"""The processes under test: starting and stopping them, their CPU time from /proc, and
which cores they may run on."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib.settings import GATEWAY_CORE, HOST, LOAD_CORE, REPO_ROOT

__all__ = ["Cores", "Service", "choose_cores", "free_port", "pin", "process_cpu_seconds", "system_busy_seconds",
           "thread_cpu_seconds", "tree_cpu_seconds", "wait_port", "wait_settled"]

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(slots=True, frozen=True)
class Cores:
    """Where processes run. `load`: the worker and this load generator; `gateway`: the
    gateway in ordinary scenarios; `spread`: every core, for a gateway in scale scenarios.
    None leaves a process where it starts (it inherits this process's affinity)."""

    load: frozenset[int] | None
    gateway: frozenset[int] | None
    spread: frozenset[int] | None


def choose_cores(no_pin: bool) -> Cores:
    """Read before this process pins itself, so `spread` is every core it was given."""
    available = sorted(os.sched_getaffinity(0))
    if no_pin or len(available) < 2:
        return Cores(None, None, None)
    return Cores(frozenset({available[LOAD_CORE]}), frozenset({available[GATEWAY_CORE]}), frozenset(available))


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses


def descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (f := _stat_fields(int(entry))):
            parents.setdefault(int(f[1]), []).append(int(entry))
    found, todo = [root], [root]
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def tree_cpu_seconds(root: int) -> float:
    """utime+stime of a process and its live descendants, plus what their reaped children
    used (cutime+cstime), so a forking gateway is measured whole."""
    ticks = 0
    for pid in descendants(root):
        if f := _stat_fields(pid):
            ticks += sum(int(x) for x in f[11:15])
    return ticks / CLK_TCK


def process_cpu_seconds(root: int) -> dict[int, float]:
    """utime+stime per live process of a tree: shows how `--workers N` spreads the load."""
    out = {}
    for pid in descendants(root):
        if f := _stat_fields(pid):
            out[pid] = (int(f[11]) + int(f[12])) / CLK_TCK
    return out


def threads(root: int) -> list[tuple[int, int]]:
    """(pid, tid) of every thread in a process tree."""
    try:
        return [(pid, int(tid)) for pid in descendants(root) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []  # a process ended meanwhile; the next call sees the rest


def thread_cpu_seconds(root: int) -> dict[str, float]:
    """CPU time per thread name (e.g. the event loop vs gRPC's poller) across the tree."""
    out: dict[str, float] = {}
    for pid, tid in threads(root):
        try:
            name = "main" if tid == pid else Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            f = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        out[name] = out.get(name, 0.0) + (int(f[11]) + int(f[12])) / CLK_TCK
    return out


def system_busy_seconds() -> float:
    """CPU time of the whole machine (all cores, every process) from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def pin(root: int, cores: frozenset[int] | None) -> None:
    """Every thread of a process tree onto these cores. Called right after spawning (before
    the child starts threads) and again once it is ready, to catch stragglers."""
    if cores is None:
        return
    for _, tid in threads(root):
        try:
            os.sched_setaffinity(tid, cores)
        except OSError:
            pass  # the thread ended meanwhile


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass(slots=True)
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    cores: frozenset[int] | None

    @classmethod
    def start(cls, name: str, argv: list[str], log_dir: Path, cores: frozenset[int] | None,
              env: dict[str, str] | None = None) -> Service:
        log = log_dir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    env=None if env is None else {**os.environ, **env})
        pin(proc.pid, cores)
        return cls(name, proc, log, cores)

    def cpu(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: only what we started
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


async def wait_port(svc: Service, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        svc.check_alive()
        try:
            _, w = await asyncio.open_connection(HOST, port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{svc.name} did not listen on {port} within {timeout:.0f}s")


async def wait_settled(svc: Service, timeout: float, *, step: float = 0.5, idle: float = 0.1) -> None:
    """Wait until the process tree uses under `idle` cores for one `step`: every process of
    a pre-forked gateway has finished starting (imports, tokenizer) and accepts
    connections, so the first clients do not all land on the first one up."""
    deadline = time.monotonic() + timeout
    last = svc.cpu()
    while time.monotonic() < deadline:
        await asyncio.sleep(step)
        svc.check_alive()
        now = svc.cpu()
        if now - last < idle * step:
            return
        last = now
