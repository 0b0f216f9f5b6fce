"""Walk one chat request's path through the gateway's request-path modules, call by call.

Issue 24 measured how far a newcomer has to travel to follow a chat request: which files it
passes through, how often the path climbs back up a layer, how often it comes back to the
server's glue. This script measures it instead of reading it. One non-streaming chat
request (after a warm-up) runs through the real app against the mock worker, under
`sys.setprofile`; every call made from the route handler onwards from one module of the
request path (`server/`, `pipeline/`, `api/`, `gateway.py`, `model.py`, `plugins.py`) into
another is a step (a coroutine's first step only, not its resumptions); a step into a higher
layer (tests/test_layers.py) is a climb, a lower layer calling back up. Calls into leaf
helpers (tokenizer, parsers, metrics, workers) are stages' insides, not the path, and are
left out.

    .venv/bin/python scripts/request_path.py [--stream] [--show]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_harness import call_app, chat_body, launched_app, start_worker  # noqa: E402

PATH_UNITS = ("server", "pipeline", "api", "gateway", "model", "plugins")
# The layers of tests/test_layers.py for the units above.
LAYER = {"server": 8, "gateway": 7, "pipeline": 6, "plugins": 5, "model": 5, "api": 2}
ROUTE = "chat_completions"


def _unit_and_file(frame: FrameType, package: str) -> tuple[str, str] | None:
    filename = frame.f_code.co_filename
    if not filename.startswith(package):
        return None
    rel = filename[len(package) + 1:]
    unit = rel.split("/")[0].removesuffix(".py")
    return (unit, rel) if unit in PATH_UNITS else None


def trace_calls(package: str) -> tuple[list[tuple[tuple[str, str], tuple[str, str]]], Any]:
    """A profiler recording each call from one request-path file into another, as (caller,
    callee) pairs of (unit, file), once the route has begun."""
    calls: list[tuple[tuple[str, str], tuple[str, str]]] = []
    state = {"on": False}
    seen: dict[int, FrameType] = {}  # a coroutine resumed is a "call" too: only its first counts

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        if event != "call" or id(frame) in seen:
            return
        seen[id(frame)] = frame  # kept alive, so its id is not reused within the request
        callee = _unit_and_file(frame, package)
        if callee is None:
            return
        if frame.f_code.co_name == ROUTE:
            state["on"] = True
            return
        caller = _unit_and_file(frame.f_back, package) if frame.f_back is not None else None
        if state["on"] and caller is not None and caller[1] != callee[1]:
            calls.append((caller, callee))

    return calls, profile


def summarise(calls: list[tuple[tuple[str, str], tuple[str, str]]]) -> dict[str, Any]:
    """Steps: calls from one file into another; climbs: those into a higher layer (a lower
    layer calling back up); returns: calls into server/handling.py from elsewhere."""
    glue = "server/handling.py"
    files = {rel for pair in calls for _, rel in pair}
    climbs = [f"{a[1]} -> {b[1]}" for a, b in calls if LAYER[b[0]] > LAYER[a[0]]]
    returns = sum(1 for a, b in calls if b[1] == glue)
    return {"files": len(files), "steps": len(calls), "climbs": len(climbs), "returns_to_handling": returns,
            "path": [f"{a[1]} -> {b[1]}" for a, b in calls], "climb_list": climbs}


async def run(stream: bool, show: bool) -> None:
    import sglang_gw

    package = str(Path(sglang_gw.__file__).parent)
    worker, port = start_worker(16, 0.0)

    async def send(message: dict[str, Any]) -> None:
        pass

    try:
        async with launched_app(port) as app:
            for i in range(20):  # warm-up: caches filled, lazy imports done
                await call_app(app, chat_body(i, max_tokens=16, stream=stream), send)
            calls, profile = trace_calls(package)
            sys.setprofile(profile)
            try:
                await call_app(app, chat_body(999, max_tokens=16, stream=stream), send)
            finally:
                sys.setprofile(None)
    finally:
        worker.terminate()
        worker.wait()
    summary = summarise(calls)
    print(f"{summary['files']} files, {summary['steps']} steps, {summary['climbs']} climbs up a layer, "
          f"{summary['returns_to_handling']} returns to server/handling.py")
    if show:
        print("\n".join(summary["path"]))
        print("climbs:", *summary["climb_list"], sep="\n  ")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stream", action="store_true", help="a streamed request instead")
    p.add_argument("--show", action="store_true", help="print the path, a file per step")
    a = p.parse_args()
    uvloop.run(run(a.stream, a.show))


if __name__ == "__main__":
    main()
