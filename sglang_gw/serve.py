"""`sglang-gw serve`: start N SGLang workers and the gateway in front of them, stop them together.

The command line mixes three kinds of flag (SGLang's `launch_server --dp-size N` convention):

    sglang-gw serve --dp-size 2 --model-path Qwen/Qwen3-8B --tp-size 2 --router-policy cache_aware
                    └ serve's own ┘ └─ worker flags, passed through ─┘ └ gateway flags, --router-X → --X ┘

Lifecycle, in order:
`--connection-mode` (smg's flag) says how the gateway speaks to them: "grpc" adds SGLang's
`--grpc-mode` to the worker command, "http" takes it out (SGLang HTTP workers).

1. each worker is started in its own session (so its process group holds it and every child it
   forks) on a free port of `--worker-host`;
2. serve waits until every worker's port accepts connections (a worker that exits first fails
   the start, saying which and with what status);
3. the gateway runs in this process with `--worker-urls` naming the workers (its registrar
   waits for their health and loads the model as for any worker);
4. on SIGTERM or SIGINT, at any step, the gateway shuts down, then every worker's process group
   gets SIGTERM, and SIGKILL after `--worker-stop-timeout-secs`, so nothing is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sglang_gw.errors import ConfigError

__all__ = ["DEFAULT_WORKER_CMD", "WorkerProcess", "run_serve", "split_argv", "start_worker", "stop_workers"]

log = logging.getLogger(__name__)
DEFAULT_WORKER_CMD = "python -m sglang.launch_server --grpc-mode"
ROUTER_PREFIX = "--router-"
GRPC_MODE = "--grpc-mode"  # SGLang's flag for a gRPC worker


@dataclass(slots=True)
class WorkerProcess:
    process: subprocess.Popen[bytes]
    url: str
    port: int


def split_argv(argv: Sequence[str], own: set[str]) -> tuple[list[str], list[str], list[str]]:
    """(serve's own flags, worker flags, gateway flags): each flag keeps the values after it
    (the tokens up to the next `--flag`); `--router-X` becomes the gateway's `--X`."""
    buckets: tuple[list[str], list[str], list[str]] = ([], [], [])
    target = buckets[1]
    for token in argv:
        name = token.split("=", 1)[0]
        if token.startswith("--") or name in own:
            if name in own:
                target = buckets[0]
            elif name.startswith(ROUTER_PREFIX):
                target, token = buckets[2], "--" + token[len(ROUTER_PREFIX):]
            else:
                target = buckets[1]
        target.append(token)
    return buckets


def worker_command(cmd: str, mode: str) -> list[str]:
    """The worker command's words for `mode` ("grpc": with `--grpc-mode`, added if missing;
    "http": without it); a leading `python` is this interpreter (same environment)."""
    words = shlex.split(cmd)
    if not words:
        raise ConfigError("--worker-cmd is empty")
    if words[0] in ("python", "python3"):
        words[0] = sys.executable
    words = [w for w in words if w != GRPC_MODE]
    return [*words, GRPC_MODE] if mode == "grpc" else words


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_worker(cmd: list[str], worker_args: list[str], host: str, scheme: str) -> WorkerProcess:
    """One worker on a free port, the leader of its own process group."""
    port = free_port(host)
    argv = [*cmd, *worker_args, "--host", host, "--port", str(port)]
    log.info("starting worker: %s", shlex.join(argv))
    process = subprocess.Popen(argv, start_new_session=True)
    return WorkerProcess(process, f"{scheme}://{host}:{port}", port)


def wait_for_ports(workers: list[WorkerProcess], host: str, timeout: float) -> None:
    """Until every worker accepts connections; a worker that exits, or the deadline, fails."""
    deadline = time.monotonic() + timeout
    waiting = list(workers)
    while waiting:
        for worker in list(waiting):
            code = worker.process.poll()
            if code is not None:
                raise ConfigError(f"worker {worker.url} exited with status {code} before it was up")
            with contextlib.suppress(OSError), socket.create_connection((host, worker.port), timeout=1):
                waiting.remove(worker)
        if waiting and time.monotonic() > deadline:
            raise ConfigError(f"workers {', '.join(w.url for w in waiting)} were not up within {timeout:g}s")
        if waiting:
            time.sleep(0.2)


def stop_workers(workers: list[WorkerProcess], timeout: float) -> None:
    """SIGTERM to every worker's process group, SIGKILL to what is left after `timeout`."""
    for worker in workers:
        _signal_group(worker, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for worker in workers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(max(0.0, deadline - time.monotonic()))
    for worker in workers:  # the leader may be gone while children it forked linger
        _signal_group(worker, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(5)


def _signal_group(worker: WorkerProcess, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(worker.process.pid, sig)


class Terminated(Exception):
    """SIGTERM or SIGINT arrived while serve was starting the workers."""


class StopSignals:
    """SIGTERM and SIGINT raise `Terminated`, so every step unwinds through the clean-up; inside
    `held()` they wait until the block ends. A worker being started is held: a signal raised
    inside `Popen`, or between `Popen` and keeping the worker, would leave a process no one stops."""

    def __init__(self) -> None:
        self._holding = False
        self._pending = False

    def _arrived(self, signum: int, frame: object) -> None:
        if self._holding:
            self._pending = True
        else:
            raise Terminated()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self._arrived) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self._pending:
            raise Terminated()

    def stopping(self) -> None:
        """From here on a signal is noted, never raised: a second SIGTERM must not cut the clean-up short."""
        self._holding = True


def run_serve(args: argparse.Namespace, worker_args: list[str], gateway_args: list[str],
              launch: Callable[[list[str]], int]) -> int:
    """Start the workers, run the gateway (`launch` with a `launch` argv), stop the workers."""
    if args.dp_size < 1:
        raise ConfigError("--dp-size must be at least 1")
    cmd = worker_command(args.worker_cmd, args.connection_mode)
    worker_args = [a for a in worker_args if a != GRPC_MODE]
    workers: list[WorkerProcess] = []
    signals = StopSignals()
    with signals.installed():
        try:
            for _ in range(args.dp_size):
                with signals.held():
                    workers.append(start_worker(cmd, worker_args, args.worker_host, args.connection_mode))
            wait_for_ports(workers, args.worker_host, args.worker_startup_timeout_secs)
            print(f"sglang-gw serve: {len(workers)} workers up, gateway on {args.host}:{args.port}", flush=True)
            return launch(["launch", "--host", args.host, "--port", str(args.port),
                           "--worker-startup-timeout-secs", str(args.worker_startup_timeout_secs),
                           *gateway_args, "--worker-urls", *(w.url for w in workers)])
        except Terminated:
            return 0
        finally:
            signals.stopping()
            stop_workers(workers, args.worker_stop_timeout_secs)
