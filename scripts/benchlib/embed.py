"""The embeddings scenarios: batches of short texts to /v1/embeddings, against a worker of
their own (the mock worker with `--pooling embedding`).

The floor sends the same inputs, tokenized beforehand with the model's tokenizer as the
gateway does (its special tokens), as one `Embed` call each, a request's calls side by side
as the gateway sends them. In the tally a request's "tokens" are its inputs, so the
report's `out tok/s` reads as inputs per second and `gw CPU µs/tok` as gateway CPU per input.
smg is not measured here.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from typing import TYPE_CHECKING

import msgspec

from benchlib.gateways import ours_launch
from benchlib.http_client import HttpConnection, Tally
from benchlib.procs import Service, free_port, pin, wait_port, wait_settled
from benchlib.prompts import WORDS
from benchlib.scenarios import Scenario, warmup_count
from benchlib.settings import HOST, MODEL_DIR, REQUEST_TIMEOUT
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.workers.client import GrpcWorkerClient

if TYPE_CHECKING:
    from benchlib.runner import Bench

__all__ = ["EMBED_MODEL", "embed_body", "embed_texts", "floor_embed_requests", "run_embed"]

EMBED_MODEL = "bench-embed"


def embed_texts(sc: Scenario, i: int) -> list[str]:
    """Request i's batch: short texts (about 12 words), each unique (it names i and its place)."""
    rng = random.Random(31 * (i + 1))
    return [f"Request {i} item {k}: " + " ".join(rng.choices(WORDS, k=10)) for k in range(sc.embed_batch)]


def embed_body(sc: Scenario, i: int) -> bytes:
    return msgspec.json.encode({"model": EMBED_MODEL, "input": embed_texts(sc, i), "encoding_format": "float"})


def floor_embed_requests(sc: Scenario, count: int) -> list[list[pb.EmbedRequest]]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    batches = []
    for i in range(count):
        texts = embed_texts(sc, i)
        batch = []
        for k, enc in enumerate(tokenizer.encode_batch(texts, add_special_tokens=True)):
            req = pb.EmbedRequest(request_id=f"floor-{sc.key}-{i}-{k}")
            req.tokenized.original_text = texts[k]
            req.tokenized.input_ids.extend(enc.ids)
            batch.append(req)
        batches.append(batch)
    return batches


async def floor_embed(client: GrpcWorkerClient, batch: list[pb.EmbedRequest], tally: Tally) -> None:
    start = time.perf_counter()
    answers = await asyncio.gather(*(client.embed(r, timeout=REQUEST_TIMEOUT) for r in batch))
    tally.ttft.append(time.perf_counter() - start)
    tally.tokens += len(batch)
    tally.prompt_tokens += sum(a.prompt_tokens for a in answers)
    tally.ok += 1


async def http_embed(conn: HttpConnection, body: bytes, inputs: int, tally: Tally) -> None:
    start = time.perf_counter()
    try:
        status, data = await conn.post_plain(body, "/v1/embeddings")
    except BaseException:
        conn.close()  # left mid-answer: the next request starts on a clean connection
        raise
    if status != 200:
        tally.fail(f"HTTP {status}: {data[:300]!r}")
        return
    tally.ttft.append(time.perf_counter() - start)
    tally.tokens += inputs
    tally.prompt_tokens += msgspec.json.decode(data)["usage"]["prompt_tokens"]
    tally.ok += 1


async def wait_embed_ok(svc: Service, port: int, timeout: float) -> None:
    """Ready means a real 200 from an embeddings request."""
    body = msgspec.json.encode({"model": EMBED_MODEL, "input": "hi"})
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        svc.check_alive()
        conn = HttpConnection(port)
        try:
            status, data = await conn.post_plain(body, "/v1/embeddings")
            if status == 200:
                pin(svc.proc.pid, svc.cores)
                return
            last = f"{status} {data[:200]!r}"
        except (OSError, EOFError, ValueError) as err:
            last = repr(err)
        finally:
            conn.close()
        await asyncio.sleep(0.25)
    raise TimeoutError(f"{svc.name}: no 200 from /v1/embeddings within {timeout:.0f}s (last: {last})")


async def run_embed(bench: Bench) -> None:
    """The embeddings scenarios against the floor and ours, on an embedding worker of their own."""
    from benchlib.runner import Bench

    chosen = bench.scenarios(embed=True)
    if not chosen:
        return
    port = free_port()
    worker = Service.start("embed-worker", [sys.executable, "-m", "sglang_gw.testing.mock_worker", "--host", HOST,
                                            "--port", str(port), "--model-path", str(MODEL_DIR),
                                            "--pooling", "embedding", "--served-model-name", EMBED_MODEL],
                           bench.out_dir, bench.cores.load)
    url = f"grpc://{HOST}:{port}"
    sub = Bench(bench.args, worker, url, bench.out_dir, bench.cores, bench.results, bench.notes)
    try:
        await wait_port(worker, port, 60.0)
        if "floor" in bench.args.targets:
            await _floor(sub, chosen)
        if "ours" in bench.args.targets:
            await _ours(sub, chosen)
        if "smg" in bench.args.targets:
            bench.notes.append(f"{', '.join(s.key for s in chosen)}: smg not measured (floor and ours only)")
    finally:
        worker.stop()


async def _floor(sub: Bench, chosen: list[Scenario]) -> None:
    client = GrpcWorkerClient(sub.worker_url)
    try:
        for sc in chosen:
            batches = floor_embed_requests(sc, warmup_count(sc, sub.args.quick) + sc.requests)
            await sub.measure("floor", sc, lambda u, i, t, b=batches: floor_embed(client, b[i], t), None)
    finally:
        await client.close()


async def _ours(sub: Bench, chosen: list[Scenario]) -> None:
    launch = ours_launch("ours", sub.worker_url, False)
    gw = Service.start(launch.target, launch.argv, sub.out_dir, sub.cores.gateway, launch.env)
    try:
        await wait_embed_ok(gw, launch.port, 120.0)
        await wait_settled(gw, 60.0)
        for sc in chosen:
            await _ours_window(sub, sc, gw, launch.port, launch.metrics_port)
    finally:
        gw.stop()


async def _ours_window(sub: Bench, sc: Scenario, gw: Service, port: int, metrics_port: int | None) -> None:
    bodies = [embed_body(sc, i) for i in range(warmup_count(sc, sub.args.quick) + sc.requests)]
    conns = [HttpConnection(port) for _ in range(sc.concurrency)]
    try:
        for c in conns:
            await c.connect()
        await sub.measure("ours", sc, lambda u, i, t: http_embed(conns[u], bodies[i], sc.embed_batch, t),
                          gw, None, metrics_port)
    finally:
        for c in conns:
            c.close()
