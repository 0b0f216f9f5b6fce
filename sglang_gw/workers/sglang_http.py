"""An SGLang worker over its native HTTP API (`launch_server` without `--grpc-mode`).

`SglangHttpClient` is the `WorkerClient` of such a worker, so the pool, routing, PD pairing
and every endpoint treat it as they treat a gRPC worker. The gateway still renders,
tokenizes and detokenizes: `/generate` is sent the prompt's token ids (`input_ids`) and the
stream's `output_ids` are turned back into `GenerateResponse` messages. So a stop string,
a parser or a cache_aware choice behaves the same whichever kind of worker serves, and a
mixed fleet of gRPC and HTTP workers of one model answers the same from both.

    pb.GenerateRequest ──generate_body──▶ POST /generate {"input_ids", "sampling_params",
                                           "stream": true, "rid", bootstrap_*}
    data: {"output_ids", "meta_info"} ──StreamState──▶ GenerateStreamChunk / GenerateComplete

`output_ids` are cumulative in SGLang's default streaming and per-step deltas with
`--incremental-streaming-output`; `meta_info.completion_tokens` tells which.

Pooling models answer `Embed` over `/encode` (embeddings; a cross-encoder's (query, document)
pair as SGLang's `/v1/rerank` sends it) or `/classify` (classifiers). LoRA adapters are
loaded and unloaded with `/load_lora_adapter` and `/unload_lora_adapter` and listed from
`/v1/models`; an HTTP worker knows an adapter by its name, which `/generate` takes as `lora_path`.
Failures map as for OpenAI-compatible HTTP workers (`http_backend.status_error`); an
`{"error": ...}` event before any token is a rejection, after one a broken stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
from google.protobuf import json_format, struct_pb2

from sglang_gw.errors import WorkerError, WorkerRejectedError
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.workers.client import HealthStatus, TaskEmbedCall
from sglang_gw.workers.http_backend import (
    data_payloads,
    get_json_object,
    pooled_client,
    split_base_url,
    status_error,
    transport_error,
)

__all__ = ["HttpGenerateStream", "SglangHttpClient", "StreamState", "generate_body", "probe_sglang"]

log = logging.getLogger(__name__)
_DONE = b"[DONE]"
_END = object()  # the reader task's last queue item after a normal end
_SAMPLING_FLOATS = ("temperature", "top_p", "min_p", "frequency_penalty", "presence_penalty", "repetition_penalty")
_SAMPLING_FLAGS = ("skip_special_tokens", "spaces_between_special_tokens", "ignore_eos", "no_stop_trim")


def generate_body(request: pb.GenerateRequest) -> dict[str, Any]:
    """SGLang's `/generate` body for one gRPC `GenerateRequest` (always streamed)."""
    sp = request.sampling_params
    params: dict[str, Any] = {name: getattr(sp, name) for name in (*_SAMPLING_FLOATS, *_SAMPLING_FLAGS)}
    params.update(top_k=sp.top_k, n=max(1, sp.n), min_new_tokens=sp.min_new_tokens,
                  stop_token_ids=list(sp.stop_token_ids))
    if sp.HasField("max_new_tokens"):
        params["max_new_tokens"] = sp.max_new_tokens
    if sp.stop:
        params["stop"] = list(sp.stop)
    constraint = sp.WhichOneof("constraint")
    if constraint is not None:  # SGLang calls the grammar `ebnf`
        params["ebnf" if constraint == "ebnf_grammar" else constraint] = getattr(sp, constraint)
    if sp.logit_bias:
        params["logit_bias"] = dict(sp.logit_bias)
    if sp.HasField("custom_params"):
        custom = json_format.MessageToDict(sp.custom_params)
        params["custom_params"] = custom
        if "seed" in custom:
            params["sampling_seed"] = int(custom["seed"])
    body: dict[str, Any] = {"input_ids": list(request.tokenized.input_ids), "sampling_params": params,
                            "stream": True, "rid": request.request_id}
    if request.return_logprob:
        body.update(return_logprob=True, logprob_start_len=request.logprob_start_len,
                    top_logprobs_num=request.top_logprobs_num)
    if request.lora_id:
        body["lora_path"] = request.lora_id
    if request.HasField("data_parallel_rank"):
        body["data_parallel_rank"] = request.data_parallel_rank
    if request.HasField("disaggregated_params"):
        pd = request.disaggregated_params
        body.update(bootstrap_host=pd.bootstrap_host, bootstrap_port=pd.bootstrap_port,
                    bootstrap_room=pd.bootstrap_room)
    return body


@dataclass(slots=True)
class _Choice:
    ids: list[int] = field(default_factory=list)
    done: bool = False


@dataclass(slots=True)
class StreamState:
    """Turns `/generate` events into `GenerateResponse` messages, per choice index.

    `stream=False` (a non-streaming gRPC request) yields only the `complete` messages.
    """

    request_id: str
    stream: bool
    url: str
    choices: dict[int, _Choice] = field(default_factory=dict)

    @property
    def started(self) -> bool:
        return any(c.ids for c in self.choices.values())

    def messages(self, event: dict[str, Any]) -> list[pb.GenerateResponse]:
        if "error" in event:
            raise self._error(event["error"])
        meta = event.get("meta_info") or {}
        choice = self.choices.setdefault(int(event.get("index", 0) or 0), _Choice())
        ids = [int(t) for t in event.get("output_ids") or ()]
        done = int(meta.get("completion_tokens", len(choice.ids) + len(ids)))
        # Cumulative (SGLang's default) when the list holds every token so far; else a delta.
        new = ids[len(choice.ids):] if len(ids) == done and len(ids) >= len(choice.ids) else ids
        choice.ids.extend(new)
        counts = {"prompt_tokens": int(meta.get("prompt_tokens", 0)), "completion_tokens": len(choice.ids),
                  "cached_tokens": int(meta.get("cached_tokens", 0)), "index": int(event.get("index", 0) or 0)}
        out = []
        if new and self.stream:
            chunk = pb.GenerateStreamChunk(token_ids=new, **counts)
            _logprobs(chunk.output_logprobs, meta, len(choice.ids) - len(new), len(choice.ids))
            out.append(pb.GenerateResponse(request_id=self.request_id, chunk=chunk))
        finish = meta.get("finish_reason")
        if finish and not choice.done:
            choice.done = True
            out.append(pb.GenerateResponse(request_id=self.request_id, complete=self._complete(finish, choice, meta,
                                                                                               counts)))
        return out

    def _complete(self, finish: Any, choice: _Choice, meta: dict[str, Any],
                  counts: dict[str, int]) -> pb.GenerateComplete:
        reason = finish.get("type", "stop") if isinstance(finish, dict) else str(finish)
        done = pb.GenerateComplete(output_ids=choice.ids, finish_reason=reason, **counts)
        matched = finish.get("matched") if isinstance(finish, dict) else None
        if isinstance(matched, int):
            done.matched_token_id = matched
        elif isinstance(matched, str):
            done.matched_stop_str = matched
        _logprobs(done.output_logprobs, meta, 0, len(choice.ids))
        return done

    def _error(self, error: Any) -> WorkerError:
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        if self.started:
            return WorkerError(f"worker {self.url}: stream failed: {message}")
        return WorkerRejectedError(message)


def _logprobs(target: pb.OutputLogProbs, meta: dict[str, Any], start: int, end: int) -> None:
    """SGLang's `[logprob, token_id, text]` triples (cumulative) for positions start..end."""
    entries = meta.get("output_token_logprobs")
    if not entries:
        return
    entries = entries[start:end] if len(entries) >= end else entries[-(end - start):]
    target.token_logprobs.extend(float(e[0]) for e in entries)
    target.token_ids.extend(int(e[1]) for e in entries)
    tops = meta.get("output_top_logprobs") or []
    tops = tops[start:end] if len(tops) >= end else tops[-(end - start):] if tops else []
    for top in tops:
        target.top_logprobs.add(values=[float(e[0]) for e in top or ()], token_ids=[int(e[1]) for e in top or ()])


class HttpGenerateStream:
    """`GenerateStream` over one streamed `/generate` call: a task reads the events into a
    queue, `read()` takes from it, `cancel()` cancels the task, which closes the response
    (SGLang aborts a request whose client went away)."""

    pushes = False

    def __init__(self, opener: Callable[[], Any], state: StreamState) -> None:
        self.finished = False
        self._url = state.url
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._pump(opener, state))

    async def _pump(self, opener: Callable[[], Any], state: StreamState) -> None:
        try:
            response: httpx.Response = await opener()
            try:
                ended = False
                async for payload in data_payloads(response.aiter_bytes()):
                    # Read on past [DONE] to EOF (it follows at once): the connection goes back to the pool.
                    ended = ended or payload == _DONE
                    if ended:
                        continue
                    event = msgspec.json.decode(payload)
                    if isinstance(event, dict):
                        for message in state.messages(event):
                            self._queue.put_nowait(message)
            except httpx.HTTPError as err:
                raise transport_error(err, state.url, sent=True) from None
            except msgspec.DecodeError:
                raise WorkerError(f"worker {state.url}: a stream event is not JSON") from None
            finally:
                await response.aclose()
            if not all(c.done for c in state.choices.values()) or not state.choices:
                raise WorkerError(f"worker {state.url}: the stream ended before the generation finished")
            self._queue.put_nowait(_END)
        except WorkerError as err:
            self._queue.put_nowait(err)
        except (ValueError, TypeError, KeyError, IndexError) as err:  # a malformed event
            self._queue.put_nowait(WorkerError(f"worker {state.url}: unreadable stream event ({err!r})"))

    async def read(self) -> pb.GenerateResponse | None:
        item = await self._queue.get()
        if item is _END:
            self.finished = True
            self._queue.put_nowait(_END)  # a read after the end reads the end again
            return None
        if isinstance(item, WorkerError):
            self._queue.put_nowait(item)
            raise item
        return item

    async def __aiter__(self) -> AsyncIterator[pb.GenerateResponse]:
        while (response := await self.read()) is not None:
            yield response

    def cancel(self) -> None:
        if not self._task.done():
            self._task.cancel()
            # A reader waiting now (or later) learns of it, as a cancelled gRPC call's does.
            self._queue.put_nowait(WorkerError(f"worker {self._url}: call cancelled"))

    def push_to(self, sink: object) -> None:
        raise NotImplementedError("HTTP worker streams are read, not pushed")

    def settle(self) -> None:
        raise NotImplementedError("HTTP worker streams are read, not pushed")


class SglangHttpClient:
    """`WorkerClient` for one SGLang HTTP worker, over one pooled `httpx.AsyncClient`.

    `timeout` bounds each read (for a stream, the gap between two events); the control
    calls (info, loads, abort, flush) use at most 30 s. `http2`: see `pooled_client`.
    """

    kind = "sglang_http"

    def __init__(self, url: str, *, api_key: str | None = None, timeout: float = 600.0,
                 connect_timeout: float = 10.0, max_connections: int = 512, http2: bool = False) -> None:
        _, server = split_base_url(url)
        if server is None:
            raise WorkerError(f"worker {url}: an SGLang HTTP worker url is its server root, http(s)://host:port")
        self.url = url
        self._root = server
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        connect = min(connect_timeout, timeout)
        self._timeout = httpx.Timeout(timeout, connect=connect, pool=connect)
        self._control = httpx.Timeout(min(timeout, 30.0), connect=connect, pool=connect)
        self._client = pooled_client(self._timeout, max_connections, http2=http2)
        self._classifier = False  # learnt from `model_info`: pooled inputs go to /classify

    def __repr__(self) -> str:
        return f"SglangHttpClient(url={self.url!r})"

    # -- generation ---------------------------------------------------------------------

    def generate(self, request: pb.GenerateRequest, *, timeout: float | None = None,
                 metadata: Sequence[tuple[str, str]] = ()) -> HttpGenerateStream:
        """`/generate` for the request; `metadata` (a trace's `traceparent`) goes as headers."""
        limit = httpx.Timeout(timeout, connect=self._timeout.connect, pool=self._timeout.pool) if timeout \
            else self._timeout
        headers = {**self._headers, **dict(metadata)} if metadata else self._headers
        http_request = self._client.build_request("POST", self._root + "/generate", json=generate_body(request),
                                                  headers=headers, timeout=limit)
        state = StreamState(request.request_id, request.stream, self.url)
        return HttpGenerateStream(lambda: self._send(http_request), state)

    async def abort(self, request_id: str, reason: str = "") -> bool:
        await self._call("POST", "/abort_request", {"rid": request_id})
        return True

    # -- control ------------------------------------------------------------------------

    async def health(self, *, timeout: float | None = None) -> HealthStatus:
        try:
            response = await self._client.get(self._root + "/health", headers=self._headers,
                                              timeout=httpx.Timeout(timeout or 5.0))
        except httpx.HTTPError as err:
            return HealthStatus(False, f"not answering ({type(err).__name__})")
        return HealthStatus(response.is_success, "ok" if response.is_success else f"HTTP {response.status_code}")

    async def model_info(self) -> pb.GetModelInfoResponse:
        """`/get_model_info` for the paths and kind, `/get_server_info` for the served name and
        context length (the `--context-length` argument, else the scheduler's input limit + 1)."""
        info, server = await asyncio.gather(self._call("GET", "/get_model_info"), self._server_args())
        preferred = info.get("preferred_sampling_params")
        input_limit = _int(server.get("max_req_input_len"))
        context = _int(server.get("context_length")) or (input_limit + 1 if input_limit else 0)
        answer = pb.GetModelInfoResponse(
            model_path=_str(info.get("model_path")), tokenizer_path=_str(info.get("tokenizer_path")),
            is_generation=bool(info.get("is_generation", True)), weight_version=_str(info.get("weight_version")),
            served_model_name=_str(server.get("served_model_name") or info.get("served_model_name")),
            max_context_length=context, max_req_input_len=input_limit,
            preferred_sampling_params=preferred if isinstance(preferred, str) else "",
            default_sampling_params_json=preferred if isinstance(preferred, str) else "",
            model_type=_str(info.get("model_type")), num_labels=_int(info.get("num_labels")),
            architectures=[a for a in info.get("architectures") or () if isinstance(a, str)],
        )
        if isinstance(info.get("id2label"), dict):
            answer.id2label_json = json.dumps(info["id2label"])
        self._classifier = not answer.is_generation and any(
            a.endswith("ForSequenceClassification") for a in answer.architectures)
        return answer

    async def server_info(self) -> pb.GetServerInfoResponse:
        server = await self._server_args()
        args = struct_pb2.Struct()
        args.update({k: v for k, v in server.items() if isinstance(v, (str, int, float, bool))})
        return pb.GetServerInfoResponse(server_args=args, sglang_version=_str(server.get("version")),
                                        server_type="http")

    async def loads(self) -> pb.GetLoadsResponse:
        """`GET /get_load`: one entry per data-parallel rank, `num_reqs` counting running and
        waiting requests."""
        answer = await self._call("GET", "/get_load")
        ranks = answer if isinstance(answer, list) else [answer]
        loads = []
        for rank in ranks:
            if not isinstance(rank, dict):
                continue
            waiting = _int(rank.get("num_waiting_reqs"))
            total = _int(rank.get("num_reqs", rank.get("num_running_reqs", 0)))
            loads.append(pb.SchedulerLoad(dp_rank=_int(rank.get("dp_rank")), num_running_reqs=max(0, total - waiting),
                                          num_waiting_reqs=waiting, num_total_reqs=total,
                                          num_used_tokens=_int(rank.get("num_tokens"))))
        return pb.GetLoadsResponse(dp_rank_count=len(loads), loads=loads)

    async def flush_cache(self) -> bool:
        try:
            await self._call("POST", "/flush_cache")
        except WorkerError as err:
            log.info("flush_cache on %s failed: %s", self.url, err.message)
            return False
        return True

    async def get_tokenizer(self) -> bytes:
        raise WorkerError(f"worker {self.url}: an HTTP worker does not send its tokenizer; "
                          "give the gateway a local one (--tokenizer-path or the worker's model path)")

    def start_embed(self, request: pb.EmbedRequest, *, timeout: float | None = None) -> TaskEmbedCall:
        return TaskEmbedCall(self.embed(request, timeout=timeout))

    async def embed(self, request: pb.EmbedRequest, *, timeout: float | None = None) -> pb.EmbedResponse:
        """One input's vector, scores or logits, as SGLang's native API serves each kind:
        a cross-encoder pair is `POST /encode {"text": [[query, document]],
        "is_cross_encoder_request": true}` (the worker pairs and tokenizes it, as its own
        `/v1/rerank` does); a classifier's logits come from `POST /classify`, an embedding from
        `POST /encode`, both sent the prompt's token ids."""
        if request.is_cross_encoder:
            if len(request.texts) != 2:
                raise WorkerRejectedError(f"worker {self.url}: a cross-encoder input needs its (query, document) "
                                          "texts over HTTP")
            body: dict[str, Any] = {"text": [list(request.texts)], "is_cross_encoder_request": True,
                                    "rid": [request.request_id]}
        else:
            body = {"input_ids": list(request.tokenized.input_ids), "rid": request.request_id}
        path = "/classify" if self._classifier and not request.is_cross_encoder else "/encode"
        answer = await self._call("POST", path, body, timeout=timeout)
        if isinstance(answer, list) and len(answer) == 1:  # a batch of one (the cross-encoder form)
            answer = answer[0]
        vector = answer.get("embedding") if isinstance(answer, dict) else None
        if not isinstance(vector, list):
            raise WorkerError(f"worker {self.url}: {path} answered no embedding")
        meta = answer.get("meta_info") or {}
        return pb.EmbedResponse(embedding=vector, embedding_dim=len(vector),
                                prompt_tokens=_int(meta.get("prompt_tokens", len(request.tokenized.input_ids))))

    # -- LoRA adapters ------------------------------------------------------------------

    async def list_loras(self) -> pb.ListLoadedLoRAAdaptersResponse:
        """`GET /v1/models`: SGLang lists each loaded adapter as a model card whose `parent`
        is the base model. An HTTP worker names adapters by name (`lora_path` in `/generate`
        is the name), so the name is also the id the gateway sends."""
        answer = await self._call("GET", "/v1/models")
        cards = answer.get("data") if isinstance(answer, dict) else None
        adapters = [pb.LoadedLoRAAdapter(lora_id=card["id"], lora_name=card["id"], lora_path=_str(card.get("root")))
                    for card in cards or () if isinstance(card, dict) and card.get("parent")
                    and isinstance(card.get("id"), str)]
        return pb.ListLoadedLoRAAdaptersResponse(loaded_adapters=adapters)

    async def load_lora(self, request: pb.LoadLoRAAdapterRequest) -> pb.LoadLoRAAdapterResponse:
        """`POST /load_lora_adapter`; a refusal is SGLang's 400 with `success: false`."""
        body = {"lora_name": request.lora_name, "lora_path": request.lora_path, "pinned": request.pinned}
        ok, message, names = await self._update_lora("/load_lora_adapter", body)
        return pb.LoadLoRAAdapterResponse(success=ok, message=message, loaded_lora_ids=names)

    async def unload_lora(self, request: pb.UnloadLoRAAdapterRequest) -> pb.UnloadLoRAAdapterResponse:
        """`POST /unload_lora_adapter` by name (the id is the name on an HTTP worker)."""
        ok, message, names = await self._update_lora("/unload_lora_adapter",
                                                     {"lora_name": request.lora_name or request.lora_id})
        return pb.UnloadLoRAAdapterResponse(success=ok, message=message, loaded_lora_ids=names)

    async def _update_lora(self, path: str, body: dict[str, Any]) -> tuple[bool, str, list[str]]:
        """SGLang's `LoRAUpdateOutput`: success, `error_message`, and `loaded_adapters`
        (name → path in older versions, name → {lora_id, lora_name, lora_path, pinned} now)."""
        answer = await self._call("POST", path, body, accept=(400,))
        if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
            said = answer.get("message") or answer.get("text") if isinstance(answer, dict) else None
            raise WorkerRejectedError(f"worker {self.url}: {path} failed: {_str(said)[:200] or 'no `success`'}")
        loaded = answer.get("loaded_adapters")
        names = sorted(loaded) if isinstance(loaded, dict) else []
        message = _str(answer.get("error_message")) or ("ok" if answer["success"] else f"{path} failed")
        return answer["success"], message, names

    async def close(self) -> None:
        await self._client.aclose()

    # -- plumbing -----------------------------------------------------------------------

    async def _server_args(self) -> dict[str, Any]:
        for path in ("/get_server_info", "/server_info"):
            with contextlib.suppress(WorkerRejectedError):
                answer = await self._call("GET", path)
                return answer if isinstance(answer, dict) else {}
        return {}

    async def _call(self, method: str, path: str, body: object = None, *, timeout: float | None = None,
                    accept: tuple[int, ...] = ()) -> Any:
        """The decoded answer; an error status raises, except those in `accept` (answers
        whose body says what failed)."""
        request = self._client.build_request(method, self._root + path, json=body, headers=self._headers,
                                             timeout=httpx.Timeout(timeout) if timeout else self._control)
        response = await self._send(request, accept)
        try:
            data = await response.aread()
        except httpx.HTTPError as err:
            raise transport_error(err, self.url, sent=True) from None
        finally:
            await response.aclose()
        if not data.strip():
            return {}
        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError:
            return {"text": data.decode("utf-8", "replace")}

    async def _send(self, request: httpx.Request, accept: tuple[int, ...] = ()) -> httpx.Response:
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as err:
            raise transport_error(err, self.url) from None
        if response.status_code < 300 or response.status_code in accept:
            return response
        try:
            body = await response.aread()
        except httpx.HTTPError:
            body = b""
        finally:
            await response.aclose()
        raise status_error(response.status_code, body[:64 * 1024], self.url)


async def probe_sglang(url: str, *, api_key: str | None = None, timeout: float = 5.0) -> bool:
    """True when `url` is an SGLang worker: `GET /get_model_info` answers a `model_path` and
    `GET /get_server_info` its server arguments (a gateway in front of workers, ours or smg,
    answers the first but not with server arguments: it is proxied at the OpenAI level).
    False for any other HTTP server; unreachable raises like the clients do."""
    _, server = split_base_url(url)
    if server is None:
        return False
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, headers=headers) as client:
        return all([isinstance((await get_json_object(client, server + path, url)).get("model_path"), str)
                    for path in ("/get_model_info", "/get_server_info")])


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
