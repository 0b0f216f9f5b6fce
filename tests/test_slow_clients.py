"""Slow and oversized clients on real sockets against the real uvicorn: bodies that stall,
heads that never finish, idle connections, heads too large or with too many lines.

Each test drives raw HTTP/1.1 on loopback (the behaviour lives in uvicorn and llhttp, below
any ASGI test client) and asserts outcomes: status codes, closed connections, slot counts.
Every wait is bounded.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import REGISTRY

from sglang_gw.admission import AdmissionConfig
from sglang_gw.config import ConnectionConfig
from tests.conftest import RunningGateway
from tests.raw_http import error_of, read_until_closed, send_all, status_of

STALL = 2.0  # the body stall and head timeouts of this module's gateway
LIMITS = ConnectionConfig(header_read_timeout_secs=STALL, idle_connection_timeout_secs=STALL,
                          max_request_header_bytes=8 * 1024, max_request_headers=20,
                          stream_body_stall_timeout_secs=STALL, sse_keepalive_secs=None)
WAIT = 20.0  # the most any test waits for the gateway to act on a timeout
CHAT = "/v1/chat/completions"
BODY = json.dumps({"model": "test-model", "messages": [{"role": "user", "content": "MULTIBYTE"}]}).encode()


@pytest.fixture(scope="module")
def slow(gateway_factory: Callable[..., RunningGateway]) -> RunningGateway:
    admission = AdmissionConfig(max_concurrent_requests=2, queue_size=1, queue_timeout_secs=30)
    return gateway_factory(admission=admission, connections=LIMITS)


def port_of(gw: RunningGateway) -> int:
    return int(gw.url.rsplit(":", 1)[1])


def connect(gw: RunningGateway) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port_of(gw)), timeout=WAIT)


def head(path: str = CHAT, *, extra: str = "", length: int | None = len(BODY)) -> bytes:
    framing = f"content-length: {length}\r\n" if length is not None else "transfer-encoding: chunked\r\n"
    return (f"POST {path} HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n{framing}{extra}\r\n"
            .encode())


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


# -- bodies ----------------------------------------------------------------------------------


def test_stalled_bodies_hold_no_slot_and_are_answered_408(slow: RunningGateway,
                                                         sockets: list[socket.socket]) -> None:
    admission = slow.gateway.admission
    refused = {reason: counted("sgl_router_queue_rejections_total", reason=reason)
               for reason in ("queue_full", "timeout")}
    timeouts_before = counted("sgl_router_requests_total", endpoint=CHAT, method="POST", status="408")
    depth = counted("sgl_router_queue_depth")  # process-wide: other tests' gateways set it too
    # More stalled requests than slots and queue places together: half a body, then nothing.
    for i in range(4):
        sock = connect(slow)
        sockets.append(sock)
        if i % 2:
            sock.sendall(head(length=None) + b"%x\r\n" % len(BODY) + BODY[: len(BODY) // 2])
        else:
            sock.sendall(head() + BODY[: len(BODY) // 2])
    # Before the fix they took both slots and the queue place at once; now they take none.
    assert not slow.wait_for(lambda: admission.running or admission.queued, timeout=0.5)
    answer = slow.client.chat.completions.create(model="test-model",
                                                 messages=[{"role": "user", "content": "MULTIBYTE"}])
    assert answer.choices[0].message.content
    assert admission.running == 0 and admission.queued == 0
    for sock in sockets:
        raw = read_until_closed(sock)
        assert status_of(raw) == 408
        assert error_of(raw)["code"] == "request_timeout"
    assert admission.running == 0 and admission.queued == 0
    assert counted("sgl_router_queue_depth") == depth  # nobody queued
    assert {reason: counted("sgl_router_queue_rejections_total", reason=reason) for reason in refused} == refused
    assert counted("sgl_router_requests_total", endpoint=CHAT, method="POST", status="408") == timeouts_before + 4


def test_a_slow_body_that_keeps_coming_is_read(slow: RunningGateway, sockets: list[socket.socket]) -> None:
    sock = connect(slow)
    sockets.append(sock)
    sock.sendall(head())
    pieces = [BODY[: len(BODY) // 3], BODY[len(BODY) // 3: 2 * len(BODY) // 3], BODY[2 * len(BODY) // 3:]]
    for piece in pieces:  # each piece comes well within the stall timeout of the last
        time.sleep(STALL / 4)
        sock.sendall(piece)
    sock.settimeout(WAIT)
    assert status_of(sock.recv(65536)) == 200
    assert slow.wait_for(lambda: slow.gateway.admission.running == 0)


def test_a_client_gone_mid_body_takes_no_slot(slow: RunningGateway) -> None:
    gone_before = counted("sgl_router_requests_total", endpoint=CHAT, method="POST", status="499")
    with connect(slow) as sock:
        sock.sendall(head() + BODY[:10])
    assert slow.wait_for(lambda: counted("sgl_router_requests_total", endpoint=CHAT, method="POST",
                                         status="499") == gone_before + 1, timeout=WAIT)
    assert slow.gateway.admission.running == 0 and slow.gateway.admission.queued == 0


def test_a_declared_oversized_body_is_413_and_the_rest_is_not_read(slow: RunningGateway,
                                                                    sockets: list[socket.socket]) -> None:
    sock = connect(slow)
    sockets.append(sock)
    sock.sendall(head(length=1024 ** 3) + b"x" * 1024)  # a GiB announced, past --max-payload-size
    raw = read_until_closed(sock)
    assert status_of(raw) == 413 and error_of(raw)["code"] == "payload_too_large"


# -- heads -----------------------------------------------------------------------------------


def test_a_connection_that_never_speaks_is_closed(slow: RunningGateway, sockets: list[socket.socket]) -> None:
    sockets.append(connect(slow))
    assert read_until_closed(sockets[0]) == b""


def test_a_head_that_never_completes_is_answered_408_and_closed(slow: RunningGateway,
                                                                 sockets: list[socket.socket]) -> None:
    sock = connect(slow)
    sockets.append(sock)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nx-slow: ")
    time.sleep(STALL / 2)
    sock.sendall(b"still typing")  # progress does not extend the deadline: the whole head is bounded
    raw = read_until_closed(sock)
    assert status_of(raw) == 408 and error_of(raw)["code"] == "request_timeout"


def test_a_keep_alive_connection_is_closed_when_idle_and_its_next_head_is_bounded(
        slow: RunningGateway, sockets: list[socket.socket]) -> None:
    for stall_after_first_byte in (False, True):
        sock = connect(slow)
        sockets.append(sock)
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: gw\r\n\r\n")
        sock.settimeout(WAIT)
        assert status_of(sock.recv(65536)) == 200
        if stall_after_first_byte:
            sock.sendall(b"G")  # the next request began: its head has the head timeout
            raw = read_until_closed(sock)
            assert status_of(raw) == 408
        else:
            assert read_until_closed(sock) == b""  # idle past --idle-connection-timeout-secs


def test_blank_lines_between_requests_do_not_keep_a_connection_open(slow: RunningGateway,
                                                                     sockets: list[socket.socket]) -> None:
    sock = connect(slow)
    sockets.append(sock)
    sock.sendall(b"GET /health HTTP/1.1\r\nhost: gw\r\n\r\n")
    sock.settimeout(WAIT)
    assert status_of(sock.recv(65536)) == 200
    sock.sendall(b"\r\n")  # begins no request, and stops uvicorn's idle timer
    assert read_until_closed(sock) == b""


@pytest.mark.parametrize("shape", ["one huge header", "huge url", "many headers", "header flood"])
def test_oversized_heads_are_431_and_closed(slow: RunningGateway, sockets: list[socket.socket], shape: str) -> None:
    sock = connect(slow)
    sockets.append(sock)
    if shape == "one huge header":
        send_all(sock, b"GET /health HTTP/1.1\r\nhost: gw\r\nx-big: " + b"a" * (1024 * 1024) + b"\r\n\r\n")
    elif shape == "huge url":
        send_all(sock, b"GET /health?" + b"q" * (64 * 1024) + b" HTTP/1.1\r\nhost: gw\r\n\r\n")
    elif shape == "many headers":
        send_all(sock, b"GET /health HTTP/1.1\r\n" + b"".join(b"x-%d: v\r\n" % i for i in range(21)) + b"\r\n")
    else:
        send_all(sock, b"GET /health HTTP/1.1\r\n" + b"".join(b"x-%d: v\r\n" % i for i in range(100_000)))
    raw = read_until_closed(sock)
    assert status_of(raw) == 431
    assert error_of(raw)["code"] == "request_header_fields_too_large"


def test_heads_within_the_limits_pass(slow: RunningGateway, sockets: list[socket.socket]) -> None:
    sock = connect(slow)
    sockets.append(sock)
    lines = b"".join(b"x-%d: %s\r\n" % (i, b"v" * 300) for i in range(18))  # 20 lines, under 8 KiB
    sock.sendall(b"GET /health HTTP/1.1\r\nhost: gw\r\n" + lines + b"\r\n")
    sock.settimeout(WAIT)
    assert status_of(sock.recv(65536)) == 200
