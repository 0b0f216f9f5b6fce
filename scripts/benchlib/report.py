"""The results: machine facts, results.json, and the markdown tables."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import msgspec

from benchlib.procs import Cores
from benchlib.scenarios import SCENARIOS, Scenario
from benchlib.settings import REPO_ROOT

__all__ = ["machine_info", "markdown", "write_report"]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _smg_version(smg: str | None) -> str | None:
    smg_python = Path(smg).parent / "python" if smg else None
    if smg_python is None or not smg_python.exists():
        return None
    probe = "import importlib.metadata as m; print(m.version('smg'))"  # smg's own venv knows its version
    return subprocess.run([str(smg_python), "-c", probe], capture_output=True, text=True, timeout=60).stdout.strip() \
        or None


def _first(cores: frozenset[int] | None) -> int | None:
    return None if cores is None else min(cores)


def machine_info(smg: str | None, cores: Cores, args: argparse.Namespace) -> dict[str, Any]:
    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                            capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu_model, "cores": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "commit": commit or None,
        "pinning": {"loadgen_and_worker": _first(cores.load), "gateway": _first(cores.gateway),
                    "gateway_in_scale_scenarios": None if cores.spread is None else sorted(cores.spread)},
        "mode": "quick" if args.quick else "full", "token_delay_s": args.token_delay,
        "versions": {d: _version(d) for d in ("sglang-gw", "grpcio", "protobuf", "tokenizers", "uvicorn",
                                              "starlette", "msgspec", "uvloop", "httptools")}
        | {"smg": _smg_version(smg)},
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def _diff(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a - b:+.2f}"


def _lag(row: dict[str, Any]) -> str:
    value = row.get("loop_lag_max_ms")
    if value is None:
        return "—"
    return f"{value:.1f}" if row.get("loop_lag_max_exact") else f"≤{value:.1f}"


def _target_order(target: str) -> tuple[int, int]:
    """floor, ours, ours-w1, ours-w2, ..., smg."""
    if target.startswith("ours-w"):
        return 1, int(target.removeprefix("ours-w"))
    return {"floor": (0, 0), "ours": (1, 0)}.get(target, (2, 0))


def _ours(by_target: dict[str, Any]) -> dict[str, Any]:
    """Our row to set against smg's: the single process, or in scale scenarios the most processes."""
    if "ours" in by_target:
        return by_target["ours"]
    scaled = sorted((t for t in by_target if t.startswith("ours-w")), key=_target_order)
    return by_target[scaled[-1]] if scaled else {}


LEGEND = [
    "- TTFT: time to the first generated text (non-streaming: the whole answer); ITL: gap between "
    "chunks of one stream (max: the longest of the window). At 64 clients both include queueing on a "
    "saturated core, so the added TTFT over the floor means most at 1 client.",
    "- gw CPU: user+system seconds of the gateway's process tree in the window (from /proc); "
    "gw core util: that over the window (1.00 = one core full; scale scenarios may exceed it); core 0 util: "
    "worker + load generator; other load: CPU used on the machine by anything else (cores).",
    "- chunks/req: stream events carrying text; ≈ tokens when the worker sends one token per chunk.",
    "- loop lag max: the largest event-loop lag in the window from our gateway's own "
    "`sgl_router_event_loop_lag_*` series (single process only); `≤` marks a bound from the histogram "
    "when a larger lag before the window hides the window's own.",
    "- `ours-wN`: `--workers N`, N pre-forked processes on one port, not pinned. The ratio table sets "
    "the largest N against smg.",
]


def _main_table(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| scenario | target | req/s | out tok/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms "
             "| ITL max ms | gw CPU ms/req | gw CPU µs/tok | gw core util | core 0 util | other load | chunks/req "
             "| loop lag max ms | errors |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, by_target in results.items():
        for target in sorted(by_target, key=_target_order):
            r = by_target[target]
            lines.append(f"| {key} | {target} | {r['rps']:.1f} | {r['out_tok_s']:.0f} | {_fmt(r['ttft_p50_ms'])} "
                         f"| {_fmt(r['ttft_p99_ms'])} | {_fmt(r['itl_p50_ms'], 3)} | {_fmt(r['itl_p99_ms'], 3)} "
                         f"| {_fmt(r.get('itl_max_ms'))} "
                         f"| {_fmt(r.get('gw_cpu_ms_per_req'), 3)} | {_fmt(r.get('gw_cpu_us_per_tok'), 1)} "
                         f"| {_fmt(r.get('gw_cpu_util'))} | {r['core0_util']:.2f} | {r['other_load']:.2f} "
                         f"| {r['chunks_per_req']:.1f} | {_lag(r)} | {r['errors']} |")
    return lines


def _ratio_table(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| scenario | CPU/req ours/smg | req/s ours/smg | TTFT p50 ours/floor | added TTFT p50 ms ours "
             "| added TTFT p50 ms smg |", "|---|---|---|---|---|---|"]
    for key, t in results.items():
        ours, smg, floor = _ours(t), t.get("smg", {}), t.get("floor", {})
        lines.append(f"| {key} | {_ratio(ours.get('gw_cpu_ms_per_req'), smg.get('gw_cpu_ms_per_req'))} "
                     f"| {_ratio(ours.get('rps'), smg.get('rps'))} "
                     f"| {_ratio(ours.get('ttft_p50_ms'), floor.get('ttft_p50_ms'))} "
                     f"| {_diff(ours.get('ttft_p50_ms'), floor.get('ttft_p50_ms'))} "
                     f"| {_diff(smg.get('ttft_p50_ms'), floor.get('ttft_p50_ms'))} |")
    return lines


def _long_table(results: dict[str, dict[str, Any]]) -> list[str]:
    """The long-prompt client's own figures, where a scenario has one."""
    rows = [(key, target, r) for key, t in results.items() for target in sorted(t, key=_target_order)
            if "long" in (r := t[target])]
    if not rows:
        return []
    lines = ["", "| scenario | target | long prompts | prompt tokens | long latency p50 ms | long latency max ms "
             "| loop stalls > 20 ms / lag samples | long errors |", "|---|---|---|---|---|---|---|---|"]
    for key, target, r in rows:
        long = r["long"]
        stalls = "—" if "loop_lag_over_20ms" not in r else f"{r['loop_lag_over_20ms']} / {r['loop_lag_samples']}"
        lines.append(f"| {key} | {target} | {long['requests']} | {_fmt(long['prompt_tokens_mean'], 0)} "
                     f"| {_fmt(long['latency_p50_ms'])} | {_fmt(long['latency_max_ms'])} | {stalls} "
                     f"| {long['errors']} |")
    return lines


def _prompt_note(by_target: dict[str, Any]) -> str:
    mean = by_target.get("floor", {}).get("prompt_tokens_mean")
    return "" if mean is None else f" (prompt: {mean:.0f} tokens on average)"


def _memory_table(memory: dict[str, dict[str, Any]]) -> list[str]:
    """RSS idle and with many streams open (benchlib/memory.py), per gateway."""
    if not memory:
        return []
    lines = ["", "| RSS | idle MiB | streams open | with them MiB | MiB per 1000 open streams |",
             "|---|---|---|---|---|"]
    for target in sorted(memory, key=_target_order):
        m = memory[target]
        lines.append(f"| {target} | {m['rss_idle_mb']:.1f} | {m['streams']} | {m['rss_open_mb']:.1f} "
                     f"| {m['rss_per_1000_streams_mb']:.1f} |")
    return lines


def markdown(results: dict[str, dict[str, Any]], notes: list[str],
             memory: dict[str, dict[str, Any]] | None = None) -> str:
    titles = {s.key: s.title for s in SCENARIOS}
    lines = _main_table(results) + [""] + _ratio_table(results) + _long_table(results) + _memory_table(memory or {})
    lines += [""] + [f"- `{k}`: {titles[k]}{_prompt_note(t)}" for k, t in results.items()]
    lines += LEGEND + [f"- note: {n}" for n in notes]
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, info: dict[str, Any], scenarios: list[Scenario],
                 results: dict[str, dict[str, Any]], notes: list[str],
                 memory: dict[str, dict[str, Any]] | None = None) -> None:
    md = markdown(results, notes, memory)
    settings = {s.key: {k: getattr(s, k) for k in s.__dataclass_fields__} for s in scenarios}
    doc = {"machine": info, "scenarios": settings, "results": results, "notes": notes, "memory": memory or {}}
    (out_dir / "results.json").write_bytes(msgspec.json.format(msgspec.json.encode(doc), indent=2))
    header = f"# sglang_gw bench ({info['mode']}, {info['date']})\n\n{info['cpu']}, {info['cores']} cores, " \
             f"Python {info['python']}, commit {info['commit']}, smg {info['versions']['smg']}\n\n"
    (out_dir / "results.md").write_text(header + md)
    print("\n" + md)
    print(f"wrote {out_dir / 'results.json'} and {out_dir / 'results.md'}")
