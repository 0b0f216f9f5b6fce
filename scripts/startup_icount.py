"""Instructions a gateway process spends starting, counted by valgrind's callgrind, so the
figure does not move with the machine's load (wall and CPU seconds of a start drift by 2x
on a shared VM). Two counts, for a checkout TREE (default: this one):

    import   `python -c "import sglang_gw.cli"`: the imports every process pays first
    ready    `python -m sglang_gw launch --worker-urls ... --model-path qwen3` from exec
             until /readiness answers 200, plus its SIGTERM shutdown (a few ms)

The mock worker runs outside valgrind. Python files are byte-compiled first, so a
checkout's first run does not count its own compilation. A few minutes (the start runs
some 50x slower under callgrind); needs valgrind and `make proto tokenizers`. Another TREE
(a git worktree) needs the generated stubs in its sglang_gw/proto/.

    .venv/bin/python scripts/startup_icount.py [TREE]
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent.parent
PYTHON = HERE / ".venv" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} not ready after {timeout:.0f}s")


def callgrind(tree: Path, args: list[str], out: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(tree), SGLANG_GW_ALLOCATOR_REEXEC="1")  # no jemalloc re-run
    return subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.cg", str(PYTHON), *args],
                            stdout=subprocess.DEVNULL, stderr=out.open("w"), env=env, cwd=tree)


def collected(log: Path) -> int:
    found = re.search(r"Collected : (\d+)", log.read_text())
    if found is None:
        raise SystemExit(f"no callgrind total in {log}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", nargs="?", type=Path, default=HERE)
    tree = parser.parse_args().tree.resolve()
    compileall.compile_dir(tree / "sglang_gw", quiet=1)
    model = tree / ".cache" / "models" / "qwen3"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        callgrind(tree, ["-c", "import sglang_gw.cli"], out / "import").wait()
        print(f"{tree}: import {collected(out / 'import'):,} instructions", flush=True)

        wport, gport = free_port(), free_port()
        worker = subprocess.Popen([str(PYTHON), "-m", "sglang_gw.testing.mock_worker", "--port", str(wport),
                                   "--model-path", str(model), "--served-model-name", "m"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=dict(os.environ, PYTHONPATH=str(tree)), cwd=tree)
        try:
            gateway = callgrind(tree, ["-m", "sglang_gw", "launch", "--port", str(gport), "--worker-urls",
                                       f"grpc://127.0.0.1:{wport}", "--model-path", str(model)], out / "ready")
            wait_ready(f"http://127.0.0.1:{gport}/readiness", gateway, timeout=1800)
            gateway.terminate()
            gateway.wait(600)
        finally:
            worker.terminate()
            worker.wait(15)
        print(f"{tree}: ready {collected(out / 'ready'):,} instructions")


if __name__ == "__main__":
    sys.exit(main())
