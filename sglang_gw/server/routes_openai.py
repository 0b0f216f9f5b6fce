"""OpenAI endpoints: /v1/chat/completions, /v1/completions, /v1/models."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sglang_gw.api.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    decode_body,
)
from sglang_gw.pipeline.chat import ChatResponder
from sglang_gw.pipeline.completion import CompletionResponder
from sglang_gw.pipeline.prepare import prepare_chat, prepare_completion
from sglang_gw.server.handling import gateway_of, generate, json_response
from sglang_gw.server.proxy import proxy_if_http

__all__ = ["routes"]


async def chat_completions(request: Request) -> Response:
    """A chat request, stage by stage (the stages: pipeline/__init__.py)."""
    gw = gateway_of(request)
    raw = await request.body()
    proxied = await proxy_if_http(gw, request, raw, "chat")  # an OpenAI-compatible backend's model
    if proxied is not None:
        return proxied
    req = decode_body(raw, ChatCompletionRequest)  # validated at the edge (api/)
    model, lora = await gw.resolve_model(req.model, req.lora_path)
    prepared, plan = await gw.hooks.run("prepare", prepare_chat, req, model)  # 1 prepare
    responder = ChatResponder(req, prepared, model, plan)  # 4-6 decode, parse, frame
    return await generate(request, "chat", model, responder, [prepared], req.stream, lora=lora)  # 2-6


async def completions(request: Request) -> Response:
    gw = gateway_of(request)
    raw = await request.body()
    proxied = await proxy_if_http(gw, request, raw, "completions")
    if proxied is not None:
        return proxied
    req = decode_body(raw, CompletionRequest)
    model, lora = await gw.resolve_model(req.model, req.lora_path)
    prepared = await gw.hooks.run("prepare", prepare_completion, req, model)
    responder = CompletionResponder(req, prepared, model)
    return await generate(request, "completions", model, responder, prepared, req.stream, lora=lora)


async def list_models(request: Request) -> Response:
    gw = gateway_of(request)
    data = [{"id": name, "object": "model", "created": m.created, "owned_by": "sglang",
             "root": m.model_path or name, "max_model_len": m.context_length}
            for name, m in gw.models.items()]
    data += [{"id": f"{name}:{adapter}", "object": "model", "created": m.created, "owned_by": "sglang",
              "root": gw.loras.paths.get((name, adapter), adapter), "parent": name, "max_model_len": m.context_length}
             for name, m in gw.models.items() for adapter in sorted(gw.pool.adapters(name))]
    data += [{"id": name, "object": "model", "created": created, "owned_by": "upstream", "root": name}
             for name, created in gw.http_models.items()]
    return json_response({"object": "list", "data": data})


routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/completions", completions, methods=["POST"]),
    Route("/v1/models", list_models, methods=["GET"]),
]
