"""A default `launch` pays only for what it serves: the packages of features that are off
(MCP, JWT, HTTP workers, tracing, discovery, SQL history, the demo's mock worker) stay
unimported until a configuration or a request asks for them (docs/performance.md, Start-up).

The gateway runs in a fresh interpreter, exactly as `sglang-gw launch` starts it, and lists
its modules once /readiness says it serves.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from sglang_gw.testing.mock_worker import MockWorker, ThreadedMockWorker
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.replies import ReplyPolicy
from tests.conftest import free_port

# Each of these costs a noticeable part of a start and belongs to a feature that is off by default.
LAZY = ("mcp", "mcp_types", "httpx", "jwt", "cryptography", "opentelemetry", "kubernetes_asyncio", "aiohttp",
        "psycopg", "transformers", "sglang_gw.testing")

# Start the gateway in this interpreter; once it is ready, print its modules and leave.
SCRIPT = textwrap.dedent("""
    import json, os, sys, threading, time, urllib.request

    def report_when_ready(url):
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        print(json.dumps(sorted(sys.modules)), flush=True)
        os._exit(0)

    port, argv = int(sys.argv[1]), sys.argv[1:]
    threading.Thread(target=report_when_ready, args=(f"http://127.0.0.1:{port}/readiness",), daemon=True).start()
    from sglang_gw.cli import main
    main(["launch", "--port", *argv])
""")


def modules_of_a_ready_gateway(*launch_args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(free_port()), *launch_args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


def loaded(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


def test_a_default_launch_imports_no_package_of_an_unused_feature(qwen3_dir: Path) -> None:
    facts = read_model_facts(qwen3_dir)
    mock = ThreadedMockWorker(MockWorker(facts, policy=ReplyPolicy(facts), served_model_name="m"))
    try:
        modules = modules_of_a_ready_gateway("--worker-urls", mock.url, "--model-path", str(qwen3_dir))
    finally:
        mock.stop()
    assert {"sglang_gw.gateway", "sglang_gw.mcp.pool", "sglang_gw.server.door"} <= modules  # it did start
    assert {package: loaded(modules, package) for package in LAZY} == {package: [] for package in LAZY}
