"""Pooling endpoints: /v1/embeddings, /v1/rerank (and /rerank), /v1/classify.

Each validates its body (api/pooling.py), tokenizes and checks the inputs, runs one Embed
call per input (pipeline/embed.py) and frames the answer (pipeline/pooled.py). A model
served by OpenAI-compatible HTTP workers is proxied instead.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sglang_gw.api.pooling import (
    ClassifyRequest,
    EmbeddingRequest,
    RerankRequest,
    document_texts,
    embedding_inputs,
    text_inputs,
)
from sglang_gw.api.protocol import decode_body
from sglang_gw.errors import InvalidRequestError
from sglang_gw.ids import random_hex
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.embed import EmbedInput, EmbedTarget, embed_all, tokenize_inputs, tokenize_pairs
from sglang_gw.pipeline.pooled import classification, cosine, embedding_value, rank, shorten
from sglang_gw.server.handling import gateway_of, json_response, unless_disconnected
from sglang_gw.server.proxy import proxy_if_http

__all__ = ["routes"]

_TASKS = {"embeddings": ("embedding",), "rerank": ("cross_encoder", "embedding"), "classify": ("classifier",)}


async def _target(request: Request, name: str, lora_path: str | None, endpoint: str) -> EmbedTarget:
    gw = gateway_of(request)
    model, lora = await gw.resolve_model(name, lora_path, tasks=_TASKS[endpoint])
    if lora is not None:  # the scheduler proto's EmbedRequest has no lora_id field
        raise InvalidRequestError(f"LoRA adapters are not supported on /{endpoint} over gRPC: the Embed RPC "
                                  "cannot name one", param="model")
    return EmbedTarget(model, gw.pool, gw.dispatch, gw.hooks, gw.routing_key(request.headers))


def _usage(items: list[EmbedInput]) -> dict[str, int]:
    tokens = sum(len(item.ids) for item in items)
    return {"prompt_tokens": tokens, "total_tokens": tokens}


async def embeddings(request: Request) -> Response:
    raw = await request.body()
    proxied = await proxy_if_http(gateway_of(request), request, raw, "embeddings")
    if proxied is not None:
        return proxied
    req = decode_body(raw, EmbeddingRequest)
    # A client that hangs up cancels the calls still open (their workers' slots free).
    return await unless_disconnected(request, _embeddings(request, req))


async def _embeddings(request: Request, req: EmbeddingRequest) -> Response:
    target = await _target(request, req.model, req.lora_path, "embeddings")
    model = target.model
    if req.dimensions is not None:
        _check_dimensions(model, req.dimensions)
    items = await tokenize_inputs(model, embedding_inputs(req.input, model.vocab_size))
    answers = await embed_all(target, items, f"embd-{random_hex()}")
    data = [{"object": "embedding", "index": i,
             "embedding": embedding_value(shorten(a.embedding, req.dimensions), req.encoding_format)}
            for i, a in enumerate(answers)]
    return json_response({"object": "list", "data": data, "model": req.model or model.name, "usage": _usage(items)})


def _check_dimensions(model: ServedModel, dimensions: int) -> None:
    allowed = model.kind.dimensions
    if allowed is None:
        raise InvalidRequestError(f"model {model.name!r} does not support `dimensions` (not a Matryoshka model)",
                                  param="dimensions")
    if allowed and dimensions not in allowed:
        raise InvalidRequestError(f"`dimensions` must be one of {', '.join(map(str, allowed))} for this model",
                                  param="dimensions")


async def rerank(request: Request) -> Response:
    req = decode_body(await request.body(), RerankRequest)
    return await unless_disconnected(request, _rerank(request, req))


async def _rerank(request: Request, req: RerankRequest) -> Response:
    target = await _target(request, req.model, req.lora_path, "rerank")
    model = target.model
    documents = document_texts(req.documents)
    rid = f"rerank-{random_hex()}"
    if model.kind.task == "cross_encoder":
        items = await tokenize_pairs(model, req.query, documents)
        answers = await embed_all(target, items, rid)
        scores = [a.embedding[0] if a.embedding else 0.0 for a in answers]
    else:
        items = await tokenize_inputs(model, [req.query, *documents], param="documents")
        answers = await embed_all(target, items, rid)
        query = answers[0].embedding
        scores = [cosine(query, a.embedding) for a in answers[1:]]
    body: dict[str, Any] = {"id": rid, "object": "rerank", "model": req.model or model.name,
                            "results": rank(scores, documents, req.top_n, req.return_documents),
                            "usage": _usage(items)}
    return json_response(body)


async def classify(request: Request) -> Response:
    req = decode_body(await request.body(), ClassifyRequest)
    return await unless_disconnected(request, _classify(request, req))


async def _classify(request: Request, req: ClassifyRequest) -> Response:
    target = await _target(request, req.model, req.lora_path, "classify")
    items = await tokenize_inputs(target.model, text_inputs(req.input))
    rid = f"classify-{random_hex()}"
    answers = await embed_all(target, items, rid)
    data = [classification(i, a.embedding, target.model.kind.labels) for i, a in enumerate(answers)]
    usage = {**_usage(items), "completion_tokens": 0}
    return json_response({"id": rid, "object": "list", "created": int(time.time()),
                          "model": req.model or target.model.name, "data": data, "usage": usage})


routes = [
    Route("/v1/embeddings", embeddings, methods=["POST"]),
    Route("/v1/rerank", rerank, methods=["POST"]),
    Route("/rerank", rerank, methods=["POST"]),
    Route("/v1/classify", classify, methods=["POST"]),
]
