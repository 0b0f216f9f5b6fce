"""Paths, names and limits shared by the benchmark's modules."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO_ROOT / ".cache" / "models" / "qwen3"
SMG_DEFAULT = REPO_ROOT / ".cache" / "smg-venv" / "bin" / "smg"
MODEL_NAME = "bench"
HOST = "127.0.0.1"  # every byte of load stays on loopback
REQUEST_TIMEOUT = 60.0
LOAD_CORE, GATEWAY_CORE = 0, 1
TOOL_PARSERS = {"ours": "hermes", "smg": "qwen"}  # the same <tool_call> format, by each one's name
