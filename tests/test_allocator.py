"""`--allocator`: when `launch` runs itself again with jemalloc preloaded, and that the
process it runs really has jemalloc."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sglang_gw.errors import ConfigError
from sglang_gw.runtime import allocator
from sglang_gw.runtime.allocator import REEXEC_ENV, find_jemalloc, preload_argv

ARGV = ["launch", "--worker-urls", "grpc://127.0.0.1:1"]
needs_jemalloc = pytest.mark.skipif(find_jemalloc() is None, reason="no jemalloc library on this machine")


@needs_jemalloc
def test_auto_runs_again_with_jemalloc_preloaded() -> None:
    plan = preload_argv("auto", ARGV, {"PATH": "/bin", "LD_PRELOAD": "libother.so"})
    assert plan is not None
    command, env = plan
    assert command == [sys.executable, "-m", "sglang_gw", *ARGV]
    assert env["LD_PRELOAD"] == f"libother.so {find_jemalloc()}"
    assert env[REEXEC_ENV] == "1" and env["PATH"] == "/bin"


@pytest.mark.parametrize("env", [{"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}, {REEXEC_ENV: "1"}])
def test_never_twice(env: dict[str, str]) -> None:
    assert preload_argv("auto", ARGV, env) is None
    assert preload_argv("jemalloc", ARGV, env) is None


def test_system_keeps_the_process() -> None:
    assert preload_argv("system", ARGV, {}) is None


def test_without_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "find_jemalloc", lambda: None)
    assert preload_argv("auto", ARGV, {}) is None  # auto: the C library's malloc
    with pytest.raises(ConfigError, match="libjemalloc2"):
        preload_argv("jemalloc", ARGV, {})


@needs_jemalloc
def test_the_launched_process_maps_jemalloc(tmp_path: Path) -> None:
    """A real `python -m sglang_gw launch` runs itself again, the same pid, with jemalloc
    mapped; an unknown parser name then stops it (exit status 2) before any server starts."""
    probe = tmp_path / "sitecustomize.py"  # runs at interpreter start, in both processes
    probe.write_text("import os\n"
                     "print('pid', os.getpid(), 'jemalloc' in open('/proc/self/maps').read(), flush=True)\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.getcwd()}", "SGLANG_GW_PLUGINS": ""}
    env.pop(REEXEC_ENV, None)
    env.pop("LD_PRELOAD", None)
    done = subprocess.run([sys.executable, "-m", "sglang_gw", *ARGV, "--reasoning-parser", "no-such-parser"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2, done.stderr
    runs = [line.split() for line in done.stdout.splitlines() if line.startswith("pid ")]
    assert [mapped for _, _, mapped in runs] == ["False", "True"], runs
    assert runs[0][1] == runs[1][1]  # exec: the same process
