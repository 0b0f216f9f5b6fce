"""The gateways under test: how ours and smg are launched, and when they count as ready."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from benchlib.http_client import HttpConnection
from benchlib.procs import Service, free_port, pin
from benchlib.settings import HOST, MODEL_DIR, MODEL_NAME, REPO_ROOT, TOOL_PARSERS
from sglang_gw.plugins import ALLOW_ENV

__all__ = ["Launch", "ours_argv", "ours_has_tool_parser", "ours_launch", "smg_argv", "smg_launch", "wait_chat_ok"]


@dataclass(slots=True, frozen=True)
class Launch:
    """One gateway process (tree) to start: its target name in the results, its command
    line, its API port, and the port of its Prometheus listener when we read loop lag."""

    target: str
    argv: list[str]
    port: int
    metrics_port: int | None = None
    env: dict[str, str] | None = None  # added to the environment


# Ours runs without plugins: the test suite installs the example plugin into the venv, and
# its frame hook (a header on every answer) would be measured as the gateway's own cost.
NO_PLUGINS = {ALLOW_ENV: ""}
# More flags for every ours process of the run (`bench.py --ours-args`), e.g. an A/B of one flag.
OURS_EXTRA_ARGS: list[str] = []


def ours_argv(port: int, worker_url: str, tools: bool, *, workers: int = 1,
              metrics_port: int | None = None) -> list[str]:
    argv = [sys.executable, "-m", "sglang_gw", "launch", "--host", HOST, "--port", str(port),
            "--worker-urls", worker_url, "--model-path", str(MODEL_DIR), "--log-level", "warning",
            # The responses scenario's history: one SQLite file of this run's own.
            "--history-backend", "sqlite", "--history-sqlite-path",
            str(Path(tempfile.mkdtemp(prefix="bench-history-")) / "history.sqlite3")]
    if workers > 1:
        argv += ["--workers", str(workers)]
    if metrics_port is not None:
        argv += ["--prometheus-host", HOST, "--prometheus-port", str(metrics_port)]
    return argv + OURS_EXTRA_ARGS + (["--tool-call-parser", TOOL_PARSERS["ours"]] if tools else [])


def smg_argv(smg: str, port: int, worker_url: str, tools: bool) -> list[str]:
    argv = [smg, "launch", "--host", HOST, "--port", str(port), "--worker-urls", worker_url,
            "--model-path", str(MODEL_DIR), "--log-level", "error",  # random ids: a WARN per odd UTF-8 byte
            "--worker-startup-check-interval", "1",  # else it retries registration every 30 s
            "--prometheus-host", HOST, "--prometheus-port", str(free_port())]
    return argv + (["--tool-call-parser", TOOL_PARSERS["smg"]] if tools else [])


def ours_launch(target: str, worker_url: str, tools: bool, *, workers: int = 1) -> Launch:
    """Ours on a free port; a single process also gets a Prometheus listener for its loop
    lag (`--workers N` refuses one, each process would keep its own series)."""
    port = free_port()
    metrics_port = free_port() if workers == 1 else None
    return Launch(target, ours_argv(port, worker_url, tools, workers=workers, metrics_port=metrics_port), port,
                  metrics_port, NO_PLUGINS)


def smg_launch(smg: str, worker_url: str, tools: bool) -> Launch:
    port = free_port()
    return Launch("smg", smg_argv(smg, port, worker_url, tools), port)


def ours_has_tool_parser() -> bool:
    help_text = subprocess.run([sys.executable, "-m", "sglang_gw", "launch", "--help"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=60).stdout
    return "--tool-call-parser" in help_text


async def wait_chat_ok(svc: Service, port: int, timeout: float) -> None:
    """Ready means a real 200 from a chat request (smg registers workers lazily)."""
    body = msgspec.json.encode({"model": MODEL_NAME, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        svc.check_alive()
        conn = HttpConnection(port)
        try:
            status, data = await conn.post_plain(body)
            if status == 200:
                pin(svc.proc.pid, svc.cores)
                return
            last = f"{status} {data[:200]!r}"
        except (OSError, EOFError, ValueError) as err:  # not listening yet, or closed on us
            last = repr(err)
        finally:
            conn.close()
        await asyncio.sleep(0.25)
    raise TimeoutError(f"{svc.name}: no 200 from /v1/chat/completions within {timeout:.0f}s (last: {last})")
