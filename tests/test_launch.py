"""The two ways people start it: the demo (`make serve` with no arguments) and real workers.

Both run as separate processes, exactly as a user would start them.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx
import openai

from tests.conftest import free_port, output_of, process
from tests.raw_http import read_until_closed


def wait_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited early:\n{output_of(proc)}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("gateway never became healthy")


def test_demo_mode_serves_health_models_and_chat() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with process("sglang_gw", "launch", "--port", str(port)) as proc:
        wait_healthy(url, proc)
        models = httpx.get(f"{url}/v1/models").json()["data"]
        assert [m["id"] for m in models] == ["demo-qwen3"]
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        resp = client.chat.completions.create(model="demo-qwen3", messages=[{"role": "user", "content": "Hi 👋"}])
        assert resp.choices[0].message.content == "Hi 👋"


def test_gateway_in_front_of_a_worker_process_gets_its_tokenizer(qwen3_dir: Path) -> None:
    wport, gport = free_port(), free_port()
    url = f"http://127.0.0.1:{gport}"
    worker = ("sglang_gw.testing.mock_worker", "--port", str(wport), "--model-path", str(qwen3_dir),
              "--served-model-name", "qwen3-remote", "--reported-model-path", "Qwen/Not-In-Any-Cache")
    with process(*worker), process("sglang_gw", "launch", "--port", str(gport),
                                   "--worker-urls", f"grpc://127.0.0.1:{wport}") as gw:
        # No --model-path and an HF id the local cache lacks: the tokenizer comes over GetTokenizer.
        wait_healthy(url, gw)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        resp = client.chat.completions.create(model="qwen3-remote", messages=[{"role": "user", "content": "ok"}])
        assert resp.choices[0].message.content == "ok"
        info = httpx.get(f"{url}/get_model_info").json()
        assert info["model_path"] == "Qwen/Not-In-Any-Cache"
        assert "sglang_gw" in info["tokenizer_path"] or "tokenizers" in info["tokenizer_path"]


def test_several_processes_share_one_port(qwen3_dir: Path) -> None:
    wport, gport, mport = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{gport}"
    worker = ("sglang_gw.testing.mock_worker", "--port", str(wport), "--model-path", str(qwen3_dir),
              "--served-model-name", "m")
    with process(*worker), process("sglang_gw", "launch", "--port", str(gport), "--workers", "2",
                                   "--worker-urls", f"grpc://127.0.0.1:{wport}",
                                   "--prometheus-port", str(mport), "--header-read-timeout-secs", "0.5",
                                   "--max-request-headers", "20") as gw:
        wait_healthy(url, gw)
        # Each child holds connections to the same limits as a single process.
        for _ in range(4):  # new connections, so both processes answer some
            with socket.create_connection(("127.0.0.1", gport), timeout=20) as slow:
                slow.sendall(b"GET /health HTTP/1.1\r\nhost: gw\r\n")  # and nothing more
                assert read_until_closed(slow).startswith(b"HTTP/1.1 408 ")
            with socket.create_connection(("127.0.0.1", gport), timeout=20) as crowded:
                crowded.sendall(b"GET /health HTTP/1.1\r\n" + b"".join(b"x-%d: v\r\n" % i for i in range(21)) + b"\r\n")
                assert read_until_closed(crowded).startswith(b"HTTP/1.1 431 ")
        pids = set()
        for _ in range(80):
            pids.add(httpx.get(f"{url}/get_server_info").json()["pid"])  # a new connection each time
            if len(pids) == 2:
                break
            time.sleep(0.05)
        assert len(pids) == 2
        hi = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        r = httpx.post(f"{url}/v1/chat/completions", json=hi)
        assert r.json()["choices"][0]["message"]["content"] == "hi"
        # Each process has its own worker list, so run-time changes are refused, clearly.
        for method, path, kwargs in (("POST", "/workers", {"json": {"url": "grpc://127.0.0.1:1"}}),
                                     ("DELETE", f"/workers/grpc://127.0.0.1:{wport}", {}),
                                     ("POST", "/add_worker?url=grpc://127.0.0.1:1", {})):
            refused = httpx.request(method, f"{url}{path}", **kwargs)
            assert refused.status_code == 409, (path, refused.text)
            error = refused.json()["error"]
            assert error["code"] == "conflict" and "--workers" in error["message"]
        listed = httpx.get(f"{url}/workers").json()
        assert [w["url"] for w in listed["workers"]] == [f"grpc://127.0.0.1:{wport}"]
        # Metrics: whichever process answers a scrape, it counts both processes' requests.
        chats = 6
        for _ in range(chats - 1):  # one was sent above; each on a new connection
            httpx.post(f"{url}/v1/chat/completions", json=hi)
        for _ in range(6):  # new connections, so the scrapes reach both processes
            assert _chat_count(httpx.get(f"http://127.0.0.1:{mport}/metrics").text) == chats
        assert "sgl_router_worker_healthy" in httpx.get(f"http://127.0.0.1:{mport}/metrics").text


def _chat_count(exposition: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(sample.value for family in text_string_to_metric_families(exposition)
               for sample in family.samples
               if sample.name == "sgl_router_requests_total"
               and sample.labels.get("endpoint") == "/v1/chat/completions")
