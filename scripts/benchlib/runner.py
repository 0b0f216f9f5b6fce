"""Every scenario against every target: the floor first, then one gateway process at a time."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from benchlib.floor import floor_call
from benchlib.gateways import Launch, ours_has_tool_parser, ours_launch, smg_launch, wait_chat_ok
from benchlib.http_client import HttpConnection, Tally
from benchlib.procs import Cores, Service, process_cpu_seconds, system_busy_seconds, thread_cpu_seconds, wait_settled
from benchlib.profiling import start_profiler, stop_profiler
from benchlib.prompts import chat_body, floor_requests, long_body, long_floor_requests
from benchlib.promscrape import LagReading, lag_in_window, merged_lag, read_loop_lag
from benchlib.scenarios import (
    SCENARIOS,
    TURNS_SLICES,
    Scenario,
    quick,
    scale_worker_counts,
    side_request_count,
    warmup_count,
)
from benchlib.turns import TurnClient
from benchlib.window import Send, SideClient, drive, figures, side_figures
from sglang_gw.workers.client import GrpcWorkerClient

__all__ = ["Bench", "run_all"]


@dataclass(slots=True, frozen=True)
class CpuSnapshot:
    """CPU seconds so far: per role (`worker`, `loadgen`, `system`, `gateway`), and the
    gateway's per thread name and per process."""

    roles: dict[str, float]
    threads: dict[str, float]
    processes: dict[int, float]

    def spent_since(self, before: CpuSnapshot) -> tuple[dict[str, float], dict[str, Any]]:
        """CPU per role over the window, and the gateway's breakdown for results.json."""
        roles = {k: self.roles[k] - before.roles[k] for k in before.roles}
        threads = {k: round(v - before.threads.get(k, 0.0), 2) for k, v in self.threads.items()
                   if v - before.threads.get(k, 0.0) > 0}
        processes = [round(v - before.processes.get(pid, 0.0), 2) for pid, v in self.processes.items()]
        return roles, {"gw_cpu_s_by_thread": threads, "gw_cpu_s_by_process": processes}


@dataclass(slots=True)
class _Slices:
    """A window measured in slices (Bench.measure_turns): what they add up to."""

    next_index: int  # the next request index (a slice continues where the last one stopped)
    tally: Tally = field(default_factory=Tally)
    elapsed: float = 0.0
    roles: dict[str, float] = field(default_factory=dict)
    threads: dict[str, float] = field(default_factory=dict)
    processes: list[float] = field(default_factory=list)
    lags: list[dict[str, Any]] = field(default_factory=list)

    def add(self, tally: Tally, elapsed: float, roles: dict[str, float], breakdown: dict[str, Any]) -> None:
        self.tally.add(tally)
        self.elapsed += elapsed
        for key, value in roles.items():
            self.roles[key] = self.roles.get(key, 0.0) + value
        for key, value in breakdown["gw_cpu_s_by_thread"].items():
            self.threads[key] = round(self.threads.get(key, 0.0) + value, 2)
        spent = breakdown["gw_cpu_s_by_process"]
        self.processes = [round(a + b, 2) for a, b in zip(self.processes, spent, strict=False)] or spent

    def figures(self) -> dict[str, Any]:
        row = figures(self.tally, self.elapsed, self.roles)
        row |= {"gw_cpu_s_by_thread": self.threads, "gw_cpu_s_by_process": self.processes}
        return row | (merged_lag(self.lags) if self.lags else {})


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


@dataclass(slots=True)
class Bench:
    args: argparse.Namespace
    worker: Service
    worker_url: str
    out_dir: Path
    cores: Cores
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)  # benchlib/memory.py, per target

    def scenarios(self, *, tools: bool | None = None, scale: bool | None = None,
                  embed: bool = False) -> list[Scenario]:
        """The chosen scenarios; embeddings ones (benchlib/embed.py) only when `embed`."""
        chosen = [s for s in SCENARIOS if (not self.args.scenarios or s.key in self.args.scenarios)
                  and (s.embed_batch > 0) == embed]
        chosen = [quick(s) for s in chosen if not s.full_only] if self.args.quick else chosen
        return [s for s in chosen if (tools is None or s.tools == tools) and (scale is None or s.scale == scale)]

    # ---- one window -----------------------------------------------------------------------

    async def measure(self, target: str, sc: Scenario, send: Send, gateway: Service | None,
                      side: SideClient | None = None, metrics_port: int | None = None) -> None:
        warm = warmup_count(sc, self.args.quick)
        await self._warm_up(sc, send, warm, side)
        profiler = await self._start_profiler(target, sc, gateway)
        lag_before = await self._loop_lag(metrics_port)
        before = self._snapshot(gateway)
        stop = asyncio.Event()
        side_task = side.start(stop, side.limit) if side else None
        tally, elapsed = await drive(send, sc.concurrency, warm, sc.requests, sc.seconds)
        stop.set()  # the side client's request in flight finishes after the window
        roles, breakdown = self._snapshot(gateway).spent_since(before)
        lag_after = await self._loop_lag(metrics_port)
        if side_task is not None:
            await side_task
        self._stop_profiler(profiler, sc)
        row = figures(tally, elapsed, roles) | (breakdown if gateway else {})
        if lag_before is not None and lag_after is not None:
            row |= lag_in_window(lag_before, lag_after)
        if side is not None:
            row["long"] = side_figures(side.tally)
        row["profiled"] = profiler is not None
        self.results.setdefault(sc.key, {})[target] = row
        self._print(sc, target, row)

    async def measure_turns(self, target: str, runs: list[tuple[Scenario, Send]], gateway: Service,
                            metrics_port: int | None) -> None:
        """The turns scenarios, each window cut into TURNS_SLICES slices taken in turn (A B,
        B A, A B, ...): they are read as a pair (issue 26's responses/chat ratio), and one
        window after the other met different loads on a shared machine."""
        quick_run = self.args.quick
        for sc, send in runs:
            await self._warm_up(sc, send, warmup_count(sc, quick_run), None)
        slices = 1 if quick_run else TURNS_SLICES
        windows = {sc.key: _Slices(warmup_count(sc, quick_run)) for sc, _ in runs}
        for n in range(slices):
            for sc, send in runs if n % 2 == 0 else runs[::-1]:
                window = windows[sc.key]
                lag_before = await self._loop_lag(metrics_port)
                before = self._snapshot(gateway)
                tally, elapsed = await drive(send, sc.concurrency, window.next_index, sc.requests // slices,
                                             sc.seconds / slices)
                window.add(tally, elapsed, *self._snapshot(gateway).spent_since(before))
                window.next_index += sc.requests // slices
                lag_after = await self._loop_lag(metrics_port)
                if lag_before is not None and lag_after is not None:
                    window.lags.append(lag_in_window(lag_before, lag_after))
        for sc, _ in runs:
            row = windows[sc.key].figures() | {"profiled": False}
            self.results.setdefault(sc.key, {})[target] = row
            self._print(sc, target, row)

    async def _warm_up(self, sc: Scenario, send: Send, warm: int, side: SideClient | None) -> None:
        stop = asyncio.Event()
        side_task = side.start(stop, 1) if side else None  # one long prompt beside the warm-up
        await drive(send, sc.concurrency, 0, warm, 0.5 if self.args.quick else 3.0)
        stop.set()
        if side_task is not None:
            await side_task

    def _snapshot(self, gateway: Service | None) -> CpuSnapshot:
        roles = {"worker": self.worker.cpu(), "loadgen": time.process_time(), "system": system_busy_seconds()}
        if gateway is None:
            return CpuSnapshot(roles, {}, {})
        pid = gateway.proc.pid
        threads = thread_cpu_seconds(pid)
        roles["gateway"] = gateway.cpu()
        return CpuSnapshot(roles, threads, process_cpu_seconds(pid))

    async def _loop_lag(self, metrics_port: int | None) -> LagReading | None:
        if metrics_port is None:
            return None
        try:
            return await read_loop_lag(metrics_port)
        except (OSError, RuntimeError, ValueError) as err:  # a gateway without the series: no figure
            self.notes.append(f"loop lag not read from port {metrics_port}: {err}")
            return None

    def _print(self, sc: Scenario, target: str, row: dict[str, Any]) -> None:
        extra = ""
        if row.get("loop_lag_max_ms") is not None:
            extra += f"  loop lag max {'' if row['loop_lag_max_exact'] else '≤'}{row['loop_lag_max_ms']:.1f} ms"
        if "long" in row:
            extra += f"  ITL max {_fmt(row['itl_max_ms'])} ms  long prompts {row['long']['requests']}"
        if row["errors"]:
            extra += f"  errors {row['errors']}: {(row['first_error'] or '')[:120]}"
        print(f"  {sc.key:<20} {target:<7} {row['rps']:8.1f} req/s  {row['out_tok_s']:9.0f} tok/s  "
              f"TTFT p50 {_fmt(row['ttft_p50_ms'])} ms  gw CPU {_fmt(row.get('gw_cpu_ms_per_req'), 3)} ms/req"
              + extra, flush=True)

    async def _start_profiler(self, target: str, sc: Scenario,
                              gateway: Service | None) -> subprocess.Popen[bytes] | None:
        if not (self.args.py_spy and target == "ours" and sc.key == self.args.profile and gateway):
            return None
        out = self.out_dir / f"profile-{sc.key}.txt"
        return await start_profiler(self.args.py_spy, gateway, out, sc.seconds, self.args.profile_native,
                                    self.cores.load)

    def _stop_profiler(self, proc: subprocess.Popen[bytes] | None, sc: Scenario) -> None:
        if proc is None:
            return
        raw = self.out_dir / f"profile-{sc.key}.txt"
        print(stop_profiler(proc, raw), flush=True)
        self.notes.append(f"profile of ours under {sc.key}: {raw} and .summary.txt "
                          "(py-spy raw format; sampling pauses the gateway, so this run's figures are low)")

    # ---- targets --------------------------------------------------------------------------

    async def run_floor(self) -> None:
        client = GrpcWorkerClient(self.worker_url)
        try:
            for sc in self.scenarios(scale=False):
                if sc.turns:
                    continue  # a conversation's turns depend on its answers: no pre-built floor
                reqs = floor_requests(sc, warmup_count(sc, self.args.quick) + sc.requests)
                side = None
                if sc.long_prompt_tokens:
                    longs = long_floor_requests(sc, side_request_count(sc))
                    side = SideClient(lambda u, i, t, r=longs: floor_call(client, r[i], t), sc.long_every, len(longs))
                await self.measure("floor", sc, lambda u, i, t, r=reqs: floor_call(client, r[i], t), None, side)
                lengths = [len(r.tokenized.input_ids) for r in reqs]
                self.results[sc.key]["floor"]["prompt_tokens_mean"] = sum(lengths) / len(lengths)
        finally:
            await client.close()

    async def run_gateway(self, launch: Launch, scenarios: list[Scenario], cores: frozenset[int] | None) -> None:
        if not scenarios:
            return
        gw = Service.start(launch.target, launch.argv, self.out_dir, cores, launch.env)
        try:
            started = time.monotonic()
            try:
                await wait_chat_ok(gw, launch.port, 120.0)
                await wait_settled(gw, 60.0)
            except (RuntimeError, TimeoutError) as err:  # one target failing to start skips only its rows
                self.notes.append(f"{launch.target} ({' '.join(s.key for s in scenarios)}) did not start: "
                                  f"{str(err)[:300]}")
                print(f"  {launch.target} did not start: {err}", flush=True)
                return
            print(f"  {launch.target} ready in {time.monotonic() - started:.1f} s", flush=True)
            # The turns scenarios are measured together (measure_turns), unless one is profiled.
            together = [sc for sc in scenarios if sc.turns]
            if self.args.py_spy and any(sc.key == self.args.profile for sc in together):
                together = []
            for sc in scenarios:
                if sc not in together:
                    await self._run_http(launch, sc, gw)
            if together:
                await self._run_turns(launch, together, gw)
        finally:
            gw.stop()

    async def _run_http(self, launch: Launch, sc: Scenario, gw: Service) -> None:
        if sc.turns:
            await self._run_turns(launch, [sc], gw)
            return
        bodies = [msgspec.json.encode(chat_body(sc, i)) for i in range(warmup_count(sc, self.args.quick) + sc.requests)]
        conns = [HttpConnection(launch.port) for _ in range(sc.concurrency + 1)]  # the last: the side client
        side = None
        if sc.long_prompt_tokens:
            longs = [msgspec.json.encode(long_body(sc, i)) for i in range(side_request_count(sc))]
            side = SideClient(lambda u, i, t: conns[-1].chat(longs[i], False, t), sc.long_every, len(longs))
        try:
            for c in conns:
                # One at a time, so each is a separate accept race between pre-forked
                # processes rather than one burst that the first one up takes whole.
                await c.connect()
                await asyncio.sleep(0.001)
            await self.measure(launch.target, sc, lambda u, i, t: conns[u].chat(bodies[i], sc.stream, t), gw,
                               side, launch.metrics_port)
        finally:
            for c in conns:
                c.close()


    async def _run_turns(self, launch: Launch, scenarios: list[Scenario], gw: Service) -> None:
        """One turns scenario measured alone, or several side by side (measure_turns)."""
        conns: list[HttpConnection] = []
        runs: list[tuple[Scenario, Send]] = []
        for sc in scenarios:
            assert sc.turns is not None
            own = [HttpConnection(launch.port) for _ in range(sc.concurrency)]
            conns += own
            runs.append((sc, _turn_sender(TurnClient(sc.turns, sc.max_tokens), own)))
        try:
            if len(runs) == 1:
                await self.measure(launch.target, runs[0][0], runs[0][1], gw, None, launch.metrics_port)
            else:
                await self.measure_turns(launch.target, runs, gw, launch.metrics_port)
        finally:
            for c in conns:
                c.close()


def _turn_sender(client: TurnClient, conns: list[HttpConnection]) -> Send:
    return lambda u, i, t: client.send(conns[u], u, i, t)


async def run_all(bench: Bench, smg: str | None) -> None:
    targets = bench.args.targets
    if "floor" in targets:
        await bench.run_floor()
    tools_ok = ours_has_tool_parser()
    if not tools_ok and bench.scenarios(tools=True, scale=False):
        bench.notes.append("tools256-c64 skipped for ours: `sglang_gw launch --help` lists no --tool-call-parser yet")
    for tools in (False, True):
        chosen = bench.scenarios(tools=tools, scale=False)
        if "ours" in targets and (tools_ok or not tools):
            await bench.run_gateway(ours_launch("ours", bench.worker_url, tools), chosen, bench.cores.gateway)
        if "smg" in targets and smg:
            await bench.run_gateway(smg_launch(smg, bench.worker_url, tools), chosen, bench.cores.gateway)
    await run_scale(bench, smg)


async def run_scale(bench: Bench, smg: str | None) -> None:
    """Scale scenarios: the gateway may use every core; ours at each --workers count."""
    chosen = bench.scenarios(scale=True)
    if not chosen:
        return
    if "ours" in bench.args.targets:
        for n in scale_worker_counts():
            launch = ours_launch(f"ours-w{n}", bench.worker_url, False, workers=n)
            await bench.run_gateway(launch, chosen, bench.cores.spread)
    if "smg" in bench.args.targets and smg:
        await bench.run_gateway(smg_launch(smg, bench.worker_url, False), chosen, bench.cores.spread)
