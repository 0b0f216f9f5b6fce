"""The processes a soak runs: mock workers (killable, freezable, restartable on their port)
and the gateway under test, each in its own session so signals reach only what we started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["HOST", "MODEL", "Proc", "free_port", "gateway_argv", "worker_argv"]

HOST = "127.0.0.1"
MODEL = "soak"
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def worker_argv(port: int, model_dir: Path) -> list[str]:
    return [sys.executable, "-m", "sglang_gw.testing.mock_worker", "--port", str(port), "--model-path",
            str(model_dir), "--served-model-name", MODEL, "--mode", "random", "--random-tokens", "200",
            "--token-delay", "0.005"]


def gateway_argv(port: int, metrics_port: int, worker_urls: list[str]) -> list[str]:
    # Health and timeouts short enough that faults come and go many times in a soak.
    return [sys.executable, "-m", "sglang_gw", "launch", "--port", str(port), "--prometheus-port", str(metrics_port),
            "--worker-urls", *worker_urls, "--policy", "round_robin", "--log-level", "warning",
            "--health-check-interval-secs", "1", "--health-check-timeout-secs", "1",
            "--health-failure-threshold", "1", "--health-success-threshold", "1",
            "--request-timeout-secs", "10", "--retry-max-retries", "2", "--retry-initial-backoff-ms", "10",
            "--max-concurrent-requests", "32", "--queue-size", "256", "--queue-timeout-secs", "60"]


class Proc:
    """One child process, logged to a file; `port` is where it listens once it is up."""

    def __init__(self, name: str, argv: list[str], port: int, log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.frozen = False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 120.0) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.frozen = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not listen on {self.port} within {timeout:.0f}s")

    def kill(self) -> None:
        if self.running:
            os.kill(self.pid, signal.SIGKILL)
            assert self.proc is not None
            self.proc.wait(30)
        self.frozen = False

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.frozen = False

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for {self.name}")

    def stop(self) -> None:
        if not self.running:
            return
        if self.frozen:
            self.thaw()
        os.kill(self.pid, signal.SIGTERM)
        assert self.proc is not None
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(10)
