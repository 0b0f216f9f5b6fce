"""What must hold when a soak ends: the gateway settles to zeros (its running-requests
gauges, queue depth, admission slots, in-flight counts, and the workers' own running
requests), the fleet recovers (ready, every worker healthy with its breaker closed), and
its memory stays within a bound of what it used after the warm-up."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from soaklib.fleet import HOST

__all__ = ["SETTLED", "settled_state", "wait_for"]


async def settled_state(port: int, metrics_port: int) -> dict[str, object]:
    """Every count that must be zero once no request is in flight (zero values only)."""
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=30) as http:
        scrape = (await http.get(f"http://{HOST}:{metrics_port}/metrics")).text
        info = (await http.get("/get_server_info")).json()
        loads = (await http.get("/get_loads")).json()["workers"]
        ready = (await http.get("/readiness")).status_code
    gauges = [(s.labels.get("worker", ""), s.value) for family in text_string_to_metric_families(scrape)
              for s in family.samples if s.name == "sgl_router_running_requests"]
    depth = [s.value for family in text_string_to_metric_families(scrape) for s in family.samples
             if s.name == "sgl_router_queue_depth"]
    return {
        "running_requests_gauge": {url: value for url, value in gauges if value},
        "queue_depth_gauge": sum(depth),
        "admission_slots": info["admission"]["running"] + info["admission"]["queued"],
        "inflight": {w["url"]: w["inflight"] for w in info["workers"] if w["inflight"]},
        "worker_running": {w["url"]: w.get("running", w.get("error")) for w in loads if w.get("running") != 0},
        "unrecovered": {w["url"]: (w["healthy"], w["breaker"]) for w in info["workers"]
                        if not w["healthy"] or w["breaker"] != "closed"},
        "readiness": ready,
    }


SETTLED = {"running_requests_gauge": {}, "queue_depth_gauge": 0, "admission_slots": 0, "inflight": {},
           "worker_running": {}, "unrecovered": {}, "readiness": 200}


async def wait_for(port: int, metrics_port: int, timeout: float) -> dict[str, object]:
    """The settled state, or whatever it still is after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        state = await settled_state(port, metrics_port)
        if state == SETTLED or time.monotonic() > deadline:
            return state
        await asyncio.sleep(0.5)
