"""The gateway's CPU per request with its HTTP front end (uvicorn, as `launch` sets it up).

`request_harness.py` and `stream_harness.py` call the app as ASGI and leave uvicorn out.
This one serves the app with uvicorn's settings from `launch` (`cli._server_options`) in
this process, and a client in another process sends chats one after the other over one
kept-alive connection: short non-streaming chats (16 tokens) or, with `--stream`, 256-token
streamed chats; with `--tools`, carrying the bench's tools (`tools256-c64`) to a gateway
launched with `--tool-call-parser hermes`. The mock worker and the client run outside this
process (core 0), so under `scripts/http_icount.sh` only the gateway's instructions are
counted (`HARNESS_ARGS=--tools`). It prints this process's CPU per request and the SSE
events each answer carried (about 257 for a whole stream; fewer fails the run).

    .venv/bin/python scripts/http_harness.py [--stream] [--tools] [--requests 500] [--server granian] [--callgrind]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib.prompts import TOOLS  # noqa: E402
from benchlib.settings import MODEL_DIR, TOOL_PARSERS  # noqa: E402
from stream_harness import _free_port, _wait_for_worker, start_worker  # noqa: E402

WARM_UP = 100

# The client: warm-up, "ready", wait for "go", the measured requests, "done".
_CLIENT = r"""
import json, socket, sys
port, n, warm, stream = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
extra = {"tools": json.loads(sys.argv[5])} if len(sys.argv) > 5 else {}
sock = socket.create_connection(("127.0.0.1", port))
buf = b""
def one(i):
    global buf
    body = json.dumps({"model": "bench", "ignore_eos": True, "max_tokens": 256 if stream else 16, "stream": stream,
                       "messages": [{"role": "user", "content": f"Request {i}: tell me about the issue."}],
                       **extra}).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
                 b"content-length: %d\r\n\r\n" % len(body) + body)
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, buf = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(head.decode())
    lower = head.lower()
    if b"content-length:" in lower:
        size = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
        while len(buf) < size:
            buf += sock.recv(65536)
        buf = buf[size:]
        return 1
    # chunked: read to the last chunk
    while b"\r\n0\r\n\r\n" not in b"\r\n" + buf:
        buf += sock.recv(65536)
    body, buf = (b"\r\n" + buf).split(b"\r\n0\r\n\r\n", 1)
    return body.count(b"data: ")
for i in range(warm):
    one(i)
print("ready", flush=True)
sys.stdin.readline()
events = sum(one(100_000 + i) for i in range(n))
print("done", events, flush=True)
"""


async def run(a: argparse.Namespace) -> None:
    import uvicorn

    from sglang_gw.cli import _server_options, parse_args
    from sglang_gw.cli_config import config_from_args
    from sglang_gw.server.app import build_app

    worker, worker_port = start_worker(256 if a.stream else 16, 0.0)
    port = _free_port()
    try:
        args = parse_args(["launch", "--worker-urls", f"grpc://127.0.0.1:{worker_port}", "--model-path",
                           str(MODEL_DIR), "--log-level", "warning", "--port", str(port), *a.launch_args.split(),
                           *(["--tool-call-parser", TOOL_PARSERS["ours"]] if a.tools else [])])
        config = config_from_args(args)
        app = build_app(config)
        if a.server == "granian":  # an evaluation only: `launch` serves with uvicorn
            from granian.constants import Interfaces
            from granian.server.embed import Server

            server = Server(app, address="127.0.0.1", port=port, interface=Interfaces.ASGI, log_enabled=False)
            serving = asyncio.create_task(server.serve())
            await asyncio.sleep(1.0)
        else:
            server = uvicorn.Server(uvicorn.Config(app, **_server_options(config)))
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.05)
        await _wait_for_worker(app)
        client = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CLIENT, str(port), str(a.requests), str(WARM_UP), "1" if a.stream else "0",
            *([json.dumps(TOOLS)] if a.tools else []), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(client.pid, {0})
        assert client.stdout is not None and client.stdin is not None
        if (await client.stdout.readline()).strip() != b"ready":
            raise SystemExit("the client failed in its warm-up")
        if a.callgrind:  # count the measured requests only (scripts/http_icount.sh)
            subprocess.run(["callgrind_control", "--instr=on", str(os.getpid())], check=True, capture_output=True)
        cpu = time.process_time()
        client.stdin.write(b"go\n")
        done = await client.stdout.readline()
        cpu = time.process_time() - cpu
        if a.callgrind:
            subprocess.run(["callgrind_control", "--instr=off", str(os.getpid())], check=True, capture_output=True)
        if not done.startswith(b"done"):
            raise SystemExit("the client failed")
        events = int(done.split()[1])
        if a.stream and events < 250 * a.requests:  # about 257 when whole: a cut stream is no measure
            raise SystemExit(f"the streams were cut short: {events / a.requests:.1f} SSE events each")
        await client.wait()
        print(f"{cpu / a.requests * 1e6:.0f} µs/request ({events / a.requests:.1f} events each)", flush=True)
        if a.server == "granian":
            server.stop()
        else:
            server.should_exit = True
        await serving
    finally:
        worker.terminate()
        worker.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stream", action="store_true", help="256-token streamed chats instead of 16-token answers")
    p.add_argument("--tools", action="store_true", help="send the bench's tools to a gateway with a tool parser")
    p.add_argument("--requests", type=int, default=500)
    p.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn",
                   help="granian: serve the app with granian's embedded server instead (to compare; it must be "
                   "installed, e.g. with pip's --target and PYTHONPATH)")
    p.add_argument("--launch-args", default="", help="more `launch` flags, as one string")
    p.add_argument("--callgrind", action="store_true", help="switch callgrind's instrumentation on for the "
                   "measured requests only (run under valgrind --instr-atstart=no)")
    uvloop.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
