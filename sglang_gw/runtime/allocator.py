"""The C allocator of the gateway process: jemalloc when the machine has it.

Tokenizing new text is mostly the `tokenizers` wheel's BPE (Rust), which allocates for every
word it has not seen; the wheel uses the C library's malloc. smg runs the same crate with
jemalloc linked in, and under jemalloc the same calls cost 30–55% less CPU here (a new
~8k-token ASCII prompt: 18 → 8 ms; Chinese text: 1.4 → 1.0 µs per character;
docs/performance.md). A process picks its allocator when it loads, so `launch` runs
itself again, once, with the library in ``LD_PRELOAD`` (`reexec_with`), before it has
started anything; the processes of `--workers N` inherit it.

`--allocator`: ``auto`` (jemalloc if found, else the C library's), ``jemalloc`` (an error
if not found), ``system`` (never re-run).
"""

from __future__ import annotations

import ctypes.util
import logging
import os
import sys
from collections.abc import Sequence

from sglang_gw.errors import ConfigError

__all__ = ["ALLOCATORS", "REEXEC_ENV", "find_jemalloc", "preload_argv", "reexec_with"]

ALLOCATORS = ("auto", "jemalloc", "system")
# Set in the process run again, so that it never runs itself a third time (a library that
# does not load would otherwise loop).
REEXEC_ENV = "SGLANG_GW_ALLOCATOR_REEXEC"

log = logging.getLogger(__name__)


def find_jemalloc() -> str | None:
    """The jemalloc shared library's name as the dynamic loader finds it, or None."""
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.util.find_library("jemalloc")


def _preloaded(env: dict[str, str] | os._Environ[str]) -> bool:
    return "jemalloc" in env.get("LD_PRELOAD", "")


def preload_argv(choice: str, argv: Sequence[str],
                 env: dict[str, str] | os._Environ[str]) -> tuple[list[str], dict[str, str]] | None:
    """The command line and environment to run this process again with jemalloc, or None
    when it should go on as it is (already preloaded, already re-run, `system`, or `auto`
    without the library)."""
    if choice == "system" or _preloaded(env) or env.get(REEXEC_ENV):
        return None
    lib = find_jemalloc()
    if lib is None:
        if choice == "jemalloc":
            raise ConfigError("--allocator jemalloc: no jemalloc library found (Debian/Ubuntu: libjemalloc2)")
        return None
    preload = " ".join(p for p in (env.get("LD_PRELOAD", ""), lib) if p)
    return [sys.executable, "-m", "sglang_gw", *argv], {**env, "LD_PRELOAD": preload, REEXEC_ENV: "1"}


def reexec_with(choice: str, argv: Sequence[str]) -> None:
    """Replace this process with itself under jemalloc (see `preload_argv`); returns only
    when nothing is to be done."""
    plan = preload_argv(choice, argv, os.environ)
    if plan is None:
        return
    command, env = plan
    log.debug("running again with LD_PRELOAD=%s", env["LD_PRELOAD"])
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], command, env)
