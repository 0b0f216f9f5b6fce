"""`sglang-gw render`: the server's prepare path from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from transformers import AutoTokenizer


def render(folder: Path, stdin: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sglang_gw", "render", "--model-path", str(folder), *extra],
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_render_matches_transformers(qwen3_dir: Path) -> None:
    messages = [{"role": "user", "content": "Bonjour 世界"}]
    out = render(qwen3_dir, json.dumps({"messages": messages}))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    hf = AutoTokenizer.from_pretrained(str(qwen3_dir))
    assert result["input_ids"] == list(hf.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                              return_dict=False))
    assert result["prompt"].endswith("<|im_start|>assistant\n")


def test_render_jsonl_gives_one_line_per_request(qwen3_dir: Path) -> None:
    lines = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"}]}) for i in range(3)]
    lines.insert(1, json.dumps({"messages": []}))
    out = render(qwen3_dir, "\n".join(lines) + "\n", "--jsonl")
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(results) == 4 and out.returncode == 1
    assert results[1]["error"]["param"] == "messages"
    assert [f"q{i}" in results[j]["prompt"] for i, j in ((0, 0), (1, 2), (2, 3))] == [True] * 3
