"""The parse stage in process: one output processor per run over the 256 pieces a stream of
random-vocabulary tokens detokenizes to (what the mock worker's random mode emits), for
counting its instructions per token (`scripts/parse_icount.sh`).

    .venv/bin/python scripts/parse_harness.py RUNS [--tools] [--no-reasoning] [--tool-parser hermes] [--time]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import tokenizers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib.prompts import TOOLS  # noqa: E402
from benchlib.settings import MODEL_DIR  # noqa: E402

from sglang_gw.parsers.reasoning import REASONING_PARSERS  # noqa: E402
from sglang_gw.parsers.tools import TOOL_PARSERS  # noqa: E402
from sglang_gw.pipeline.parse import plan_parsers  # noqa: E402
from sglang_gw.tokenizer.detokenizer import IncrementalDetokenizer  # noqa: E402

TOKENS = 256


def streams(count: int = 4) -> list[list[str]]:
    tokenizer = tokenizers.Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    top = tokenizer.get_vocab_size(with_added_tokens=False) - 1
    out = []
    for seed in range(count):
        rng = random.Random(seed)
        detok = IncrementalDetokenizer(tokenizer)
        out.append([p for p in (detok.feed([rng.randint(0, top)]) for _ in range(TOKENS)) if p])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", type=int)
    p.add_argument("--tools", action="store_true", help="the request declares the bench's tools")
    p.add_argument("--no-reasoning", action="store_true", help="no reasoning parser (else qwen3)")
    p.add_argument("--tool-parser", default="hermes")
    p.add_argument("--time", action="store_true", help="print wall time per token")
    a = p.parse_args()
    plan, _ = plan_parsers(
        reasoning_cls=None if a.no_reasoning else REASONING_PARSERS.get("qwen3"),
        tool_cls=TOOL_PARSERS.get(a.tool_parser), tools=TOOLS if a.tools else None, tool_choice=None,
        parallel_tool_calls=None, separate_reasoning=True, stream_reasoning=True,
        prompt_text="<|im_start|>assistant\n", enable_thinking=None)
    pieces = streams()
    t0 = time.perf_counter()
    for run in range(a.runs):
        proc = plan.processor()
        for piece in pieces[run % len(pieces)]:
            proc.feed(piece)
        proc.finish()
    if a.time and a.runs:
        print(f"{(time.perf_counter() - t0) / a.runs / TOKENS * 1e9:.0f} ns per token")


if __name__ == "__main__":
    main()
