"""The mock worker in SGLang's HTTP mode: `launch_server` without `--grpc-mode`.

The same `MockWorker` generates, so a gRPC and an HTTP mock of one model answer alike; this
module only speaks SGLang's native HTTP API around it:

    POST /generate          `input_ids` (or `text`) in; JSON, or `data: {json}` events with the
                            cumulative `text` and `output_ids` and a `meta_info`, then `data: [DONE]`
    POST /encode, /classify `input_ids` (or `text`) in, `{"embedding", "meta_info"}` out; a
                            cross-encoder's `{"text": [[query, document]], "is_cross_encoder_request":
                            true}` is tokenized here as the gateway pairs it, answered as a list
    POST /load_lora_adapter, /unload_lora_adapter   SGLang's `LoRAUpdateOutput` (400 on failure);
                            `lora_path` in /generate names an adapter; /v1/models lists the
                            adapters as cards whose `parent` is the served model
    POST /abort_request     {"rid"}: aborts a running request
    GET  /health, /health_generate, /get_model_info, /get_server_info, /get_load, /v1/models
    POST /flush_cache
    POST /v1/chat/completions  a small one: template, generate, plain text (no parsers)

PD bootstrap fields (`bootstrap_host/port/room`) are kept in the recorded request's
`disaggregated_params`, so tests assert on them as on a gRPC worker's. Stop strings are not
matched (the gateway matches them itself).

Run it alone:  python -m sglang_gw.testing.mock_worker --http --port 30000 --model-path DIR
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import jinja2.sandbox
import msgspec
import uvicorn
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.mock_worker import MockWorker

__all__ = ["MockHttpWorker", "ThreadedMockHttpWorker", "build_app", "request_from_body", "serve_http"]

_HTTP_STATUS = {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.NOT_FOUND: 404,
                grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.UNAVAILABLE: 503,
                grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.DEADLINE_EXCEEDED: 504}
_SAMPLING = ("temperature", "top_p", "top_k", "min_p", "frequency_penalty", "presence_penalty", "repetition_penalty",
             "skip_special_tokens", "spaces_between_special_tokens", "min_new_tokens", "ignore_eos", "no_stop_trim",
             "regex", "json_schema", "ebnf", "structural_tag")
_encode = msgspec.json.Encoder().encode


class _Rejected(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _Context:
    """What `MockWorker`'s servicer methods use of a gRPC context; a request's headers are
    its metadata (recorded as the gRPC mock records a call's)."""

    def __init__(self, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._headers = headers

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._headers

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise _Rejected(code, details)


def request_from_body(body: dict[str, Any], tokenize: Callable[[str], list[int]]) -> pb.GenerateRequest:
    """A `/generate` body as the gRPC `GenerateRequest` the mock servicer reads."""
    params = body.get("sampling_params") or {}
    sp = pb.SamplingParams(temperature=1.0, top_p=1.0, top_k=-1, repetition_penalty=1.0)
    for name in _SAMPLING:
        if params.get(name) is not None:
            setattr(sp, "ebnf_grammar" if name == "ebnf" else name, params[name])
    if params.get("max_new_tokens") is not None:
        sp.max_new_tokens = int(params["max_new_tokens"])
    sp.n = int(params.get("n") or 1)
    sp.stop_token_ids.extend(int(t) for t in params.get("stop_token_ids") or ())
    custom = dict(params.get("custom_params") or {})
    if params.get("sampling_seed") is not None:
        custom["seed"] = params["sampling_seed"]
    if custom:
        json_format.ParseDict(custom, sp.custom_params)
    ids = body.get("input_ids")
    request = pb.GenerateRequest(
        request_id=str(body.get("rid") or uuid.uuid4().hex), sampling_params=sp, stream=bool(body.get("stream")),
        return_logprob=bool(body.get("return_logprob")), logprob_start_len=int(body.get("logprob_start_len", -1)),
        top_logprobs_num=int(body.get("top_logprobs_num") or 0), lora_id=str(body.get("lora_path") or ""))
    request.tokenized.input_ids.extend(ids if isinstance(ids, list) else tokenize(str(body.get("text", ""))))
    if body.get("bootstrap_room") is not None:
        request.disaggregated_params.CopyFrom(pb.DisaggregatedParams(
            bootstrap_host=str(body.get("bootstrap_host") or ""), bootstrap_port=int(body.get("bootstrap_port") or 0),
            bootstrap_room=int(body["bootstrap_room"])))
    return request


class MockHttpWorker:
    """SGLang's HTTP API over one `MockWorker`. `disaggregation_mode` ("prefill"/"decode")
    and `bootstrap_port` are reported in `/get_server_info` as SGLang's PD workers do."""

    def __init__(self, worker: MockWorker, *, disaggregation_mode: str = "null",
                 bootstrap_port: int | None = None) -> None:
        self.worker = worker
        self.disaggregation_mode = disaggregation_mode
        self.bootstrap_port = bootstrap_port
        self._context = _Context()
        config = worker.facts.path / "config.json"
        found = json.loads(config.read_text()) if config.is_file() else {}
        self._token_types = int(found.get("type_vocab_size") or 0) > 1

    def _ids(self, text: str) -> list[int]:
        return self.worker.facts.tokenizer.encode(text, add_special_tokens=False).ids

    def _text(self, ids: list[int]) -> str:
        return self.worker.facts.tokenizer.decode(ids, skip_special_tokens=True)

    # ---- /generate -------------------------------------------------------------------

    async def generate(self, request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body, dict):
            return _error("the body must be a JSON object", 400)
        context = _Context(tuple(request.headers.items()))
        generate = request_from_body(body, self._ids)
        if generate.lora_id:  # SGLang finds the adapter by its name only
            lora_id = self._lora_id(generate.lora_id)
            if lora_id is None:
                return _error(f"LoRA adapter {generate.lora_id!r} is not loaded", 400)
            generate.lora_id = lora_id
        generation = self.worker.Generate(generate, context).__aiter__()
        try:
            first = await anext(generation, None)
        except _Rejected as err:
            return _error(err.details, _HTTP_STATUS.get(err.code, 500))
        events = self._events(first, generation)
        if body.get("stream"):
            return StreamingResponse(self._sse(events), media_type="text/event-stream")
        finals = [event async for event in events if event["meta_info"]["finish_reason"] is not None]
        finals.sort(key=lambda e: e.get("index", 0))
        return JSONResponse(finals[0] if len(finals) == 1 else finals)

    async def _events(self, first: pb.GenerateResponse | None,
                      rest: AsyncIterator[pb.GenerateResponse]) -> AsyncIterator[dict[str, Any]]:
        """Each gRPC message as SGLang's event: cumulative ids and text per choice index."""
        ids: dict[int, list[int]] = {}
        logprobs: dict[int, list[list[Any]]] = {}
        tops: dict[int, list[list[list[Any]]]] = {}
        started = time.perf_counter()
        message = first
        while message is not None:
            part = message.chunk if message.HasField("chunk") else message.complete
            if message.HasField("chunk"):
                ids.setdefault(part.index, []).extend(part.token_ids)
            else:
                ids[part.index] = list(part.output_ids)
            finish = None if message.HasField("chunk") else _finish_reason(message.complete)
            meta = {"id": message.request_id, "finish_reason": finish, "prompt_tokens": part.prompt_tokens,
                    "completion_tokens": len(ids[part.index]), "cached_tokens": part.cached_tokens,
                    "e2e_latency": time.perf_counter() - started}
            if part.HasField("output_logprobs"):
                _add_logprobs(meta, part.output_logprobs, logprobs.setdefault(part.index, []),
                              tops.setdefault(part.index, []), whole=not message.HasField("chunk"))
            yield {"text": self._text(ids[part.index]), "output_ids": list(ids[part.index]), "meta_info": meta,
                   "index": part.index}
            message = await anext(rest, None)

    async def _sse(self, events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
        try:
            async for event in events:
                yield b"data: " + _encode(event) + b"\n\n"
        except _Rejected as err:  # SGLang reports a failure inside the stream, then ends it
            yield b"data: " + _encode({"error": {"message": err.details}}) + b"\n\n"
        yield b"data: [DONE]\n\n"

    # ---- /encode, /classify -------------------------------------------------------------

    async def encode(self, request: Request) -> Response:
        """`/encode` and `/classify` (one handler in SGLang too): one input's vector or
        logits; a cross-encoder's `{"text": [[query, document]], "is_cross_encoder_request":
        true}` is a batch of pairs the worker tokenizes, answered as a list."""
        body = await _json(request)
        if not isinstance(body, dict):
            return _error("the body must be a JSON object", 400)
        if body.get("is_cross_encoder_request"):
            return await self._score_pairs(body)
        ids = body.get("input_ids")
        embed = pb.EmbedRequest(request_id=str(body.get("rid") or uuid.uuid4().hex))
        embed.tokenized.input_ids.extend(ids if isinstance(ids, list) else self._ids(str(body.get("text", ""))))
        answer = await self._embed(embed)
        return answer if isinstance(answer, Response) else JSONResponse(answer)

    async def _score_pairs(self, body: dict[str, Any]) -> Response:
        pairs, rids = body.get("text"), body.get("rid")
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            return _error("a cross-encoder request's `text` is a list of [query, document] pairs", 400)
        rids = rids if isinstance(rids, list) and len(rids) == len(pairs) else [uuid.uuid4().hex for _ in pairs]
        out = []
        for (query, document), rid in zip(pairs, rids, strict=True):
            answer = await self._embed(self._pair_request(str(rid), str(query), str(document)))
            if isinstance(answer, Response):
                return answer
            out.append(answer)
        return JSONResponse(out)

    def _pair_request(self, rid: str, query: str, document: str) -> pb.EmbedRequest:
        """The pair as the gateway tokenizes it for a gRPC worker (token types only for a
        model whose config has them), so both kinds score the same ids."""
        enc = self.worker.facts.tokenizer.encode(query, document, add_special_tokens=True)
        embed = pb.EmbedRequest(request_id=rid, is_cross_encoder=True, texts=[query, document])
        embed.tokenized.original_text = document
        embed.tokenized.input_ids.extend(enc.ids)
        if self._token_types:
            embed.token_type_ids.extend(enc.type_ids)
        return embed

    async def _embed(self, embed: pb.EmbedRequest) -> dict[str, Any] | Response:
        try:
            answer = await self.worker.Embed(embed, self._context)
        except _Rejected as err:
            return _error(err.details, _HTTP_STATUS.get(err.code, 500))
        return {"embedding": list(answer.embedding),
                "meta_info": {"id": embed.request_id, "prompt_tokens": answer.prompt_tokens}}

    # ---- /v1/chat/completions (minimal) ------------------------------------------------

    async def chat(self, request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error("`messages` is required", 400)
        prompt = _render_chat(self.worker.facts.path, body["messages"])
        params = {"max_new_tokens": body.get("max_tokens") or body.get("max_completion_tokens")}
        generate = request_from_body({"text": prompt, "sampling_params": params}, self._ids)
        try:
            final = [m async for m in self.worker.Generate(generate, self._context)][-1].complete
        except _Rejected as err:
            return _error(err.details, _HTTP_STATUS.get(err.code, 500))
        text = self._text(list(final.output_ids))
        return JSONResponse({
            "id": f"chatcmpl-{generate.request_id}", "object": "chat.completion", "created": int(time.time()),
            "model": self.worker.served_model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "length" if final.finish_reason == "length" else "stop"}],
            "usage": {"prompt_tokens": final.prompt_tokens, "completion_tokens": final.completion_tokens,
                      "total_tokens": final.prompt_tokens + final.completion_tokens}})

    # ---- control ---------------------------------------------------------------------

    async def abort_request(self, request: Request) -> Response:
        body = await _json(request)
        rid = body.get("rid") if isinstance(body, dict) else None
        if isinstance(rid, str):
            await self.worker.Abort(pb.AbortRequest(request_id=rid), self._context)
        return Response(status_code=200)

    async def health(self, request: Request) -> Response:
        return Response(status_code=503 if self.worker.faults.unhealthy else 200)

    async def model_info(self, request: Request) -> Response:
        """SGLang's fields, from what the gRPC mock reports; `num_labels` and `id2label` are
        the mock's own (SGLang has none: a gateway reads them from the model's config.json,
        and the mock's folder is a generative model's)."""
        info = await self.worker.GetModelInfo(pb.GetModelInfoRequest(), self._context)
        answer = {"model_path": info.model_path, "tokenizer_path": info.tokenizer_path,
                  "is_generation": info.is_generation, "preferred_sampling_params": None,
                  "weight_version": info.weight_version, "model_type": info.model_type,
                  "architectures": list(info.architectures)}
        if info.id2label_json:
            answer.update(num_labels=info.num_labels, id2label=json.loads(info.id2label_json))
        return JSONResponse(answer)

    async def server_info(self, request: Request) -> Response:
        w = self.worker
        return JSONResponse({"model_path": w.model_path, "served_model_name": w.served_model_name,
                             "context_length": w.facts.max_context_length, "tp_size": 1, "dp_size": 1,
                             "disaggregation_mode": self.disaggregation_mode,
                             "disaggregation_bootstrap_port": self.bootstrap_port,
                             "version": "mock", "internal_states": [{"aborts": list(w.records.aborts)}]})

    async def load(self, request: Request) -> Response:
        running = len(self.worker.running)
        return JSONResponse([{"dp_rank": 0, "num_reqs": running, "num_waiting_reqs": 0, "num_tokens": 0}])

    async def flush_cache(self, request: Request) -> Response:
        await self.worker.FlushCache(None, self._context)  # type: ignore[arg-type]
        return Response("Cache flushed.", status_code=200)

    async def models(self, request: Request) -> Response:
        """The served model, then each loaded LoRA adapter with the model as its `parent`."""
        name = self.worker.served_model_name
        cards = [{"id": name, "object": "model", "owned_by": "sglang", "root": name, "parent": None}]
        cards += [{"id": a.lora_name, "object": "model", "owned_by": "sglang", "root": a.lora_path, "parent": name}
                  for a in self.worker.loras.listing()]
        return JSONResponse({"object": "list", "data": cards})

    # ---- LoRA adapters -----------------------------------------------------------------

    def _lora_id(self, name: str) -> str | None:
        """`lora_path` in `/generate` names an adapter; the servicer knows it by its id."""
        return next((a.lora_id for a in self.worker.loras.listing() if a.lora_name == name), None)

    async def load_lora_adapter(self, request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body, dict):
            return _error("the body must be a JSON object", 400)
        answer = await self.worker.LoadLoRAAdapter(pb.LoadLoRAAdapterRequest(
            lora_name=str(body.get("lora_name") or ""), lora_path=str(body.get("lora_path") or ""),
            pinned=bool(body.get("pinned"))), self._context)
        return self._lora_update(answer.success, answer.message)

    async def unload_lora_adapter(self, request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body, dict):
            return _error("the body must be a JSON object", 400)
        answer = await self.worker.UnloadLoRAAdapter(pb.UnloadLoRAAdapterRequest(
            lora_name=str(body.get("lora_name") or "")), self._context)
        return self._lora_update(answer.success, answer.message)

    def _lora_update(self, success: bool, message: str) -> Response:
        """SGLang's `LoRAUpdateOutput`, 400 when it failed."""
        loaded = {a.lora_name: {"lora_id": a.lora_id, "lora_name": a.lora_name, "lora_path": a.lora_path,
                                "pinned": a.pinned} for a in self.worker.loras.listing()}
        return JSONResponse({"success": success, "error_message": None if success else message,
                             "loaded_adapters": loaded}, status_code=200 if success else 400)


def build_app(http: MockHttpWorker) -> Starlette:
    return Starlette(routes=[
        Route("/generate", http.generate, methods=["POST", "PUT"]),
        Route("/encode", http.encode, methods=["POST", "PUT"]),
        Route("/classify", http.encode, methods=["POST", "PUT"]),
        Route("/load_lora_adapter", http.load_lora_adapter, methods=["POST"]),
        Route("/unload_lora_adapter", http.unload_lora_adapter, methods=["POST"]),
        Route("/v1/chat/completions", http.chat, methods=["POST"]),
        Route("/abort_request", http.abort_request, methods=["POST"]),
        Route("/health", http.health, methods=["GET"]),
        Route("/health_generate", http.health, methods=["GET"]),
        Route("/get_model_info", http.model_info, methods=["GET"]),
        Route("/get_server_info", http.server_info, methods=["GET"]),
        Route("/get_load", http.load, methods=["GET"]),
        Route("/flush_cache", http.flush_cache, methods=["GET", "POST"]),
        Route("/v1/models", http.models, methods=["GET"]),
    ])


def _add_logprobs(meta: dict[str, Any], found: pb.OutputLogProbs, sofar: list[list[Any]],
                  tops: list[list[list[Any]]], *, whole: bool) -> None:
    """SGLang's cumulative `[logprob, token_id, null]` triples (and top alternatives)."""
    triples = [[lp, tid, None] for lp, tid in zip(found.token_logprobs, found.token_ids, strict=True)]
    alternatives = [[[v, t, None] for v, t in zip(top.values, top.token_ids, strict=True)]
                    for top in found.top_logprobs]
    if whole:
        sofar[:], tops[:] = triples, alternatives
    else:
        sofar.extend(triples)
        tops.extend(alternatives)
    meta["output_token_logprobs"] = list(sofar)
    if tops:
        meta["output_top_logprobs"] = list(tops)


def _render_chat(folder: Path, messages: list[Any]) -> str:
    """The folder's chat template, rendered plainly (the gateway's own renderer sits above
    this layer; the mock needs no more for plain conversations)."""
    path = folder / "chat_template.jinja"
    source = path.read_text() if path.is_file() else json.loads((folder / "tokenizer_config.json").read_text()).get(
        "chat_template", "")
    if isinstance(source, list):
        source = next((t["template"] for t in source if t.get("name") == "default"), source[0]["template"])
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                       extensions=["jinja2.ext.loopcontrols"])
    return env.from_string(source).render(messages=messages, add_generation_prompt=True)


def _finish_reason(done: pb.GenerateComplete) -> dict[str, Any]:
    reason: dict[str, Any] = {"type": done.finish_reason}
    if done.finish_reason == "length":
        reason["length"] = done.completion_tokens
    elif done.HasField("matched_token_id"):
        reason["matched"] = done.matched_token_id
    elif done.HasField("matched_stop_str"):
        reason["matched"] = done.matched_stop_str
    return reason


async def _json(request: Request) -> Any:
    try:
        return msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        return None


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status)


def _server(http: MockHttpWorker, host: str, port: int) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(build_app(http), host=host, port=port, log_level="warning",
                                         log_config=None, lifespan="off", timeout_graceful_shutdown=1))


async def serve_http(http: MockHttpWorker, host: str, port: int) -> None:
    """Serve until the process is told to stop (uvicorn handles SIGINT and SIGTERM)."""
    print(f"mock worker ready on http://{host}:{port}", flush=True)
    await _server(http, host, port).serve()


class ThreadedMockHttpWorker:
    """An HTTP mock worker on uvicorn in a background thread, for synchronous tests."""

    def __init__(self, worker: MockWorker, *, port: int = 0, disaggregation_mode: str = "null",
                 bootstrap_port: int | None = None) -> None:
        self.worker = worker
        self.http = MockHttpWorker(worker, disaggregation_mode=disaggregation_mode, bootstrap_port=bootstrap_port)
        self.server = _server(self.http, "127.0.0.1", port)
        self._thread = threading.Thread(target=self.server.run, daemon=True, name="mock-http-worker")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the HTTP mock worker failed to start")
            time.sleep(0.01)
        worker.on_die = self._die

    def _die(self) -> None:
        self.server.should_exit = True
        self.server.force_exit = True

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
