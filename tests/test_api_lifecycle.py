"""Client hang-ups abort the worker and free its slot; normal finishes send no Abort."""

from __future__ import annotations

import json
import socket

import httpx

from tests.conftest import RunningGateway


def test_stream_disconnect_aborts_the_worker(gw: RunningGateway) -> None:
    gw.worker.timing.token_delay = 0.02
    body = {"model": "test-model", "messages": [{"role": "user", "content": "LONG"}], "stream": True}
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, timeout=30) as r:
        lines = r.iter_lines()
        got = [next(lines) for _ in range(6)]
        assert any('"content"' in line for line in got)
    # Leaving the block closed the connection mid-stream.
    rid = gw.worker.records.requests[-1].request_id
    assert gw.wait_for(lambda: gw.worker.records.aborts == [rid])
    assert gw.wait_for(lambda: not gw.worker.running)
    assert gw.wait_for(lambda: all(w.inflight == 0 for w in gw.gateway.pool.workers()))


def test_non_stream_disconnect_aborts_the_worker(gw: RunningGateway) -> None:
    gw.worker.timing.token_delay = 0.02  # LONG's 400 tokens: 8 s
    body = json.dumps({"model": "test-model", "messages": [{"role": "user", "content": "LONG"}]}).encode()
    with socket.create_connection(("127.0.0.1", int(gw.url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n%s" % (len(body), body))
        # The client hangs up once the worker is generating, however long that took to start.
        assert gw.wait_for(lambda: len(gw.worker.records.requests) == 1)
    assert gw.wait_for(lambda: len(gw.worker.records.aborts) == 1)
    assert gw.wait_for(lambda: not gw.worker.running)
    assert gw.wait_for(lambda: all(w.inflight == 0 for w in gw.gateway.pool.workers()))


def test_normal_finishes_send_no_abort(gw: RunningGateway) -> None:
    client = gw.client
    client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "hi"}])
    list(client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "hi"}],
                                        stream=True))
    client.completions.create(model="test-model", prompt="LONG", max_tokens=4)
    list(client.completions.create(model="test-model", prompt="THREE", max_tokens=40, n=2, stream=True))
    assert gw.wait_for(lambda: not gw.worker.running)
    assert gw.worker.records.aborts == [] and gw.worker.records.cancelled == []
