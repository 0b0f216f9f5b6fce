"""SGLang-native and operational endpoints: /generate, tokenize, health, model/server info."""

from __future__ import annotations

import asyncio
import os

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sglang_gw import __version__
from sglang_gw.api.protocol import (
    DetokenizeRequest,
    GenerateRequestBody,
    TokenizeRequest,
    decode_body,
)
from sglang_gw.api.validation import check_token_ids
from sglang_gw.errors import NoHealthyWorkerError, WorkerError
from sglang_gw.pipeline.native import NativeResponder
from sglang_gw.pipeline.prepare import prepare_generate
from sglang_gw.pipeline.tokenize import detokenize as detokenize_request
from sglang_gw.pipeline.tokenize import tokenize as tokenize_request
from sglang_gw.server.handling import (
    gateway_of,
    generations_for,
    json_response,
    respond,
)

__all__ = ["routes"]


async def generate(request: Request) -> Response:
    gw = gateway_of(request)
    body = decode_body(await request.body(), GenerateRequestBody)
    model, lora = await gw.resolve_model(body.model, body.lora_path)
    prepared = await gw.hooks.run("prepare", prepare_generate, body, model)
    generations = generations_for(request, model, prepared, lora=lora)
    responder = NativeResponder(prepared, generations)
    return await respond(request, "generate", model, responder, generations, body.stream)


async def tokenize(request: Request) -> Response:
    gw = gateway_of(request)
    req = decode_body(await request.body(), TokenizeRequest)
    model = gw.model(req.model)
    ids = await tokenize_request(req, model)
    return json_response({"tokens": ids, "count": len(ids), "max_model_len": model.context_length})


async def detokenize(request: Request) -> Response:
    gw = gateway_of(request)
    req = decode_body(await request.body(), DetokenizeRequest)
    model = gw.model(req.model)
    check_token_ids(req.tokens, model.vocab_size, "tokens")
    return json_response({"prompt": await detokenize_request(req, model)})


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def liveness(request: Request) -> Response:
    return json_response({"status": "alive"})


async def readiness(request: Request) -> Response:
    """Ready when routing can serve some model: a worker that is healthy, not draining and
    whose breaker is not open (what `select` asks), so a load balancer and the router agree."""
    gw = gateway_of(request)
    models = gw.pool.servable_models()
    if not gw.ready or not models:
        raise NoHealthyWorkerError("no worker can take requests: none is healthy with its circuit breaker closed")
    serving = sum(1 for w in gw.pool.workers() if w.serving)
    return json_response({"status": "ready", "healthy_workers": serving, "models": models})


async def get_model_info(request: Request) -> Response:
    gw = gateway_of(request)
    model = gw.model(request.query_params.get("model", ""))
    return json_response({
        "model_path": model.model_path or model.name, "served_model_name": model.name,
        "tokenizer_path": str(model.folder), "is_generation": True,
        "max_context_length": model.context_length, "eos_token_ids": sorted(model.eos_token_ids),
        "default_sampling_params": model.sampling_defaults, **model.info,
    })


async def get_server_info(request: Request) -> Response:
    gw = gateway_of(request)
    workers = [{"url": w.url, "model": w.model, "healthy": w.healthy, "inflight": w.inflight,
                "breaker": str(w.breaker.state) if w.breaker is not None else None}
               for w in gw.pool.workers()]
    admission = {"running": gw.admission.running, "queued": gw.admission.queued}
    return json_response({"version": __version__, "pid": os.getpid(), "models": list(gw.models), "workers": workers,
                          "admission": admission, "request_timeout_secs": gw.config.request_timeout_secs})


async def get_loads(request: Request) -> Response:
    """A fresh load snapshot of every worker (GetLoads), next to this gateway's in-flight count."""
    gw = gateway_of(request)
    workers = gw.pool.workers()
    answers = await asyncio.gather(*(w.client.loads() for w in workers), return_exceptions=True)
    out = []
    for worker, answer in zip(workers, answers, strict=True):
        entry: dict[str, object] = {"url": worker.url, "model": worker.model, "inflight": worker.inflight}
        if isinstance(answer, WorkerError):
            entry["error"] = answer.message
        elif isinstance(answer, BaseException):
            raise answer
        else:
            entry["running"] = sum(load.num_running_reqs for load in answer.loads)
            entry["waiting"] = sum(load.num_waiting_reqs for load in answer.loads)
            entry["token_usage"] = max((load.token_usage for load in answer.loads), default=0.0)
        out.append(entry)
    return json_response({"workers": out})


async def flush_cache(request: Request) -> Response:
    """Forward FlushCache to every worker; 200 only if all of them flushed."""
    gw = gateway_of(request)
    workers = [w for w in gw.pool.workers() if w.kind != "http"]  # the OpenAI API has no cache flush
    answers = await asyncio.gather(*(w.client.flush_cache() for w in workers), return_exceptions=True)
    results = {w.url: (a if isinstance(a, bool) else False) for w, a in zip(workers, answers, strict=True)}
    return json_response({"success": all(results.values()), "workers": results},
                         status=200 if all(results.values()) else 502)


routes = [
    Route("/generate", generate, methods=["POST"]),
    Route("/v1/tokenize", tokenize, methods=["POST"]),
    Route("/v1/detokenize", detokenize, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
    Route("/liveness", liveness, methods=["GET"]),
    Route("/readiness", readiness, methods=["GET"]),
    Route("/get_model_info", get_model_info, methods=["GET"]),
    Route("/get_server_info", get_server_info, methods=["GET"]),
    Route("/get_loads", get_loads, methods=["GET"]),
    Route("/flush_cache", flush_cache, methods=["POST"]),
]
