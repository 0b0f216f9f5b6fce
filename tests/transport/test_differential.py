"""The same seeded random workload through both transports of `Generate` ("h2", our HTTP/2
client, and "grpcio") against real grpcio mock workers gives identical outcomes, operation by
operation: status, tokens delivered (where the count is certain), their finish reason, and
what the worker recorded (cancelled, aborted).

Every operation's outcome is certain by construction, not by timing: a stream we cancel or
abort, or whose deadline we cut short, is 400 tokens long at 5 ms a token (2 s), while the
cancel, abort or 0.1 s deadline comes after at most a few tokens; a stream we let finish has
a deadline of 10 s for at most 60 ms of tokens. The expected outcomes are also computed from
the operations themselves, so two transports agreeing on a wrong answer still fail.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from dataclasses import dataclass

import grpc
import pytest

from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.mock_worker import MockWorker, Timing
from sglang_gw.testing.model_facts import ModelFacts
from sglang_gw.testing.replies import ReplyPolicy
from sglang_gw.workers.client import GrpcWorkerClient
from tests.transport.workers import Outcome, Rig, call, crc_of, read_all, request, wait_until

PROMPT = (5, 6, 7)
LONG = 400  # tokens of a stream we end early: 2 s at TOKEN_DELAY
TOKEN_DELAY = 0.005
KINDS = ("complete", "deadline_long", "cancel", "deadline_short", "abort",
         "reject_stop", "reject_empty", "reject_injected", "burst")
INJECTED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAUTHENTICATED)


@dataclass(slots=True, frozen=True)
class Op:
    kind: str
    rid: str
    tokens: int = 0  # max_new_tokens
    k: int = 0  # messages read before cancel/abort; streams in a burst
    code: grpc.StatusCode = grpc.StatusCode.OK  # the injected rejection


@dataclass(slots=True, frozen=True)
class Result:
    """One call's outcome as compared: None where the count is timing-dependent."""

    rid: str
    code: str
    tokens: int | None
    crc: int | None
    finish_reason: str
    worker_cancelled: bool
    worker_aborted: bool


def workload(seed: int, count: int) -> list[Op]:
    rng = random.Random(seed)
    ops: list[Op] = []
    for i in range(count):
        kind = rng.choice(KINDS)
        rid = f"s{seed}-{i}-{kind}"
        if kind in ("complete", "deadline_long"):
            ops.append(Op(kind, rid, tokens=rng.randint(1, 12)))
        elif kind in ("cancel", "abort"):
            ops.append(Op(kind, rid, tokens=LONG, k=rng.randint(1, 4)))
        elif kind == "deadline_short":
            ops.append(Op(kind, rid, tokens=LONG))
        elif kind == "reject_injected":
            ops.append(Op(kind, rid, tokens=4, code=rng.choice(INJECTED)))
        elif kind == "burst":
            ops.append(Op(kind, rid, tokens=rng.randint(1, 12), k=rng.randint(2, 8)))
        else:
            ops.append(Op(kind, rid, tokens=4))
    return ops


# ---- running a workload ---------------------------------------------------------------------


async def run_op(client: GrpcWorkerClient, worker: MockWorker, op: Op) -> list[tuple[str, Outcome]]:
    req = request(op.rid, ids=() if op.kind == "reject_empty" else PROMPT, max_new=op.tokens)
    if op.kind in ("complete", "deadline_long"):
        return [(op.rid, await call(client, req, timeout=10.0 if op.kind == "complete" else 5.0))]
    if op.kind == "cancel":
        return [(op.rid, await call(client, req, stop_after=op.k))]
    if op.kind == "deadline_short":
        return [(op.rid, await call(client, req, timeout=0.1))]
    if op.kind == "abort":
        return [(op.rid, await _aborted(client, req, op.k))]
    if op.kind == "reject_stop":
        req.sampling_params.stop.append("never")  # a --grpc-mode worker refuses stop strings
        return [(op.rid, await call(client, req))]
    if op.kind == "reject_injected":
        worker.faults.reject_code, worker.faults.reject_next = op.code, 1
        return [(op.rid, await call(client, req))]
    if op.kind == "burst":
        rids = [f"{op.rid}.{j}" for j in range(op.k)]
        outcomes = await asyncio.gather(*(call(client, request(r, ids=PROMPT, max_new=op.tokens)) for r in rids))
        return list(zip(rids, outcomes, strict=True))
    return [(op.rid, await call(client, req))]  # reject_empty


async def _aborted(client: GrpcWorkerClient, req: pb.GenerateRequest, k: int) -> Outcome:
    async def abort_at(n: int) -> None:
        if n == k:
            await client.abort(req.request_id, "differential test")

    return await read_all(client.generate(req, timeout=10.0), on_message=abort_at)


async def run_workload(rig: Rig, transport: str, ops: list[Op]) -> list[Result]:
    server = await rig.worker(tokens=LONG, timing=Timing(token_delay=TOKEN_DELAY))
    client = rig.client(server.url, transport)
    pairs: list[tuple[str, Outcome]] = []
    kinds: dict[str, str] = {}
    for op in ops:
        done = await asyncio.wait_for(run_op(client, server.worker, op), 15)
        pairs += done
        kinds.update((rid, op.kind) for rid, _ in done)
    # Cancelled and deadline-cut streams end on the worker just after they end for us.
    assert await wait_until(lambda: not server.worker.running, 5.0)
    records = server.worker.records
    return [_result(rid, kinds[rid], o, set(records.cancelled), set(records.aborts)) for rid, o in pairs]


def _result(rid: str, kind: str, o: Outcome, cancelled: set[str], aborted: set[str]) -> Result:
    certain = kind not in ("deadline_short", "abort")
    return Result(rid, o.code, o.tokens if certain else None, o.crc if certain else None, o.finish_reason,
                  rid in cancelled, rid in aborted)


# ---- what each operation must give ------------------------------------------------------------


def expected(facts: ModelFacts, ops: list[Op]) -> list[Result]:
    policy = ReplyPolicy(facts, mode="random", random_tokens=LONG)

    def ids(rid: str, n: int) -> int:
        return crc_of(policy.reply_ids(PROMPT, 0, zlib.crc32(rid.encode()))[:n])

    out: list[Result] = []
    for op in ops:
        if op.kind in ("complete", "deadline_long"):
            out.append(Result(op.rid, "OK", op.tokens, ids(op.rid, op.tokens), "length", False, False))
        elif op.kind == "burst":
            out += [Result(f"{op.rid}.{j}", "OK", op.tokens, ids(f"{op.rid}.{j}", op.tokens), "length", False, False)
                    for j in range(op.k)]
        elif op.kind == "cancel":
            out.append(Result(op.rid, "CANCELLED", op.k, ids(op.rid, op.k), "", True, False))
        elif op.kind == "deadline_short":
            out.append(Result(op.rid, "DEADLINE_EXCEEDED", None, None, "", True, False))
        elif op.kind == "abort":
            out.append(Result(op.rid, "OK", None, None, "abort", False, True))
        elif op.kind == "reject_injected":
            out.append(Result(op.rid, op.code.name, 0, crc_of([]), "", False, False))
        else:
            out.append(Result(op.rid, "INVALID_ARGUMENT", 0, crc_of([]), "", False, False))
    return out


# ---- the test -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [11, 22, 33])
async def test_both_transports_give_the_same_outcomes(rig: Rig, facts: ModelFacts, seed: int) -> None:
    ops = workload(seed, 100)
    assert {op.kind for op in ops} == set(KINDS)  # every kind of operation is in each run
    h2, grpcio = await asyncio.gather(run_workload(rig, "h2", ops), run_workload(rig, "grpcio", ops))
    assert _diff(h2, grpcio) == []
    assert _diff(grpcio, expected(facts, ops)) == []


def _diff(left: list[Result], right: list[Result]) -> list[tuple[Result, Result]]:
    assert len(left) == len(right)
    return [(a, b) for a, b in zip(left, right, strict=True) if a != b]
