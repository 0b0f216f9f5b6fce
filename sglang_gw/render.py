"""`sglang-gw render`: chat requests on stdin → `{"prompt", "input_ids"}` on stdout.

It runs the server's own prepare code (template, normalisation, tokenization), so what it
prints is exactly what the gateway would send to a worker.
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from sglang_gw.api.protocol import ChatCompletionRequest, decode_body
from sglang_gw.errors import GatewayError
from sglang_gw.model import model_from_folder
from sglang_gw.pipeline.prepare import render_chat
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.server.errors import error_body
from sglang_gw.tokenizer.loader import resolve_local

__all__ = ["run_render"]

_encode = msgspec.json.Encoder().encode


def _render_one(raw: bytes, model) -> tuple[bool, bytes]:  # noqa: ANN001
    try:
        req = decode_body(raw, ChatCompletionRequest)
        prompt, ids = render_chat(req, model)
        return True, _encode({"prompt": prompt, "input_ids": ids})
    except GatewayError as err:
        return False, _encode(error_body(err)[1])


def run_render(model_path: str, chat_template: Path | None, *, jsonl: bool = False) -> int:
    folder = resolve_local(model_path)
    model = model_from_folder(folder, pb.GetModelInfoResponse(), chat_template=chat_template)
    raws = [line.encode() for line in sys.stdin if line.strip()] if jsonl else [sys.stdin.buffer.read()]
    ok_all = True
    for raw in raws:
        ok, out = _render_one(raw, model)
        ok_all &= ok
        sys.stdout.write(out.decode() + "\n")
    return 0 if ok_all else 1
