"""LoRA adapter management: /v1/load_lora_adapter, /v1/unload_lora_adapter and
/v1/lora_adapters (each worker's adapters). The work is in workers/lora.py."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sglang_gw.api.protocol import decode_body
from sglang_gw.server.handling import gateway_of, json_response
from sglang_gw.workers.lora import LORA_KINDS, LoraOutcome

__all__ = ["routes"]

Name = Annotated[str, Meta(min_length=1, pattern=r"^[^:\s]+$")]  # `base:adapter` must stay unambiguous


class LoadBody(msgspec.Struct, kw_only=True):
    lora_name: Name
    lora_path: Annotated[str, Meta(min_length=1)]
    pinned: bool = False
    model: str = ""
    worker_urls: list[str] | None = None  # default: every worker of the model


class UnloadBody(msgspec.Struct, kw_only=True):
    lora_name: Name
    model: str = ""
    worker_urls: list[str] | None = None


def _answer(name: str, outcomes: list[LoraOutcome]) -> Response:
    ok = any(o.success for o in outcomes)
    body = {"success": ok, "lora_name": name,
            "workers": [{"url": o.url, "success": o.success, "message": o.message} for o in outcomes]}
    return json_response(body, 200 if ok else 400)


async def load_adapter(request: Request) -> Response:
    body = decode_body(await request.body(), LoadBody)
    gw = gateway_of(request)
    model = gw.model(body.model)
    outcomes = await gw.loras.load(model.name, body.lora_name, body.lora_path, pinned=body.pinned,
                                   urls=body.worker_urls)
    return _answer(body.lora_name, outcomes)


async def unload_adapter(request: Request) -> Response:
    body = decode_body(await request.body(), UnloadBody)
    gw = gateway_of(request)
    model = gw.model(body.model)
    return _answer(body.lora_name, await gw.loras.unload(model.name, body.lora_name, urls=body.worker_urls))


async def list_adapters(request: Request) -> Response:
    gw = gateway_of(request)
    data = [{"url": w.url, "model": w.model, "adapters": sorted(w.adapters)} for w in gw.pool.workers()
            if w.kind in LORA_KINDS]
    return json_response({"object": "list", "data": data})


routes = [
    Route("/v1/load_lora_adapter", load_adapter, methods=["POST"]),
    Route("/v1/unload_lora_adapter", unload_adapter, methods=["POST"]),
    Route("/v1/lora_adapters", list_adapters, methods=["GET"]),
]
