"""`--workers N` processes sharing one history (SQLite file, PostgreSQL): a conversation made
through one process is found, and grows, through every other, as a user would run them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import free_port, process
from tests.history_stores import history_config
from tests.test_launch import wait_healthy


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_several_processes_share_one_history(backend: str, qwen3_dir: Path, tmp_path: Path) -> None:
    wport, gport = free_port(), free_port()
    url = f"http://127.0.0.1:{gport}"
    worker = ("sglang_gw.testing.mock_worker", "--port", str(wport), "--model-path", str(qwen3_dir),
              "--served-model-name", "m")
    with history_config(backend, tmp_path) as config:
        storage = (["--history-sqlite-path", str(config.sqlite_path)] if backend == "sqlite"
                   else ["--postgres-db-url", str(config.postgres_db_url)])
        with process(*worker), process("sglang_gw", "launch", "--port", str(gport), "--workers", "2",
                                       "--worker-urls", f"grpc://127.0.0.1:{wport}", "--history-backend", backend,
                                       *storage) as gw:
            wait_healthy(url, gw)
            conv = openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0).conversations.create(
                items=[{"role": "user", "content": "item 0"}])
            writers: list[int] = []
            # One connection each (so one process each) until both wrote some. The processes share
            # one listening socket and the kernel may hand a busy machine's connections to one of
            # them for a while, so this runs against a deadline, not a number of tries.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with httpx.Client(base_url=url, headers={"authorization": "Bearer k"}, timeout=30) as one:
                    pid = one.get("/get_server_info").json()["pid"]
                    if len(writers) >= 5 and pid in writers:
                        continue  # enough from this one (the page read below holds 100 items)
                    writers.append(pid)
                    added = one.post(f"/v1/conversations/{conv.id}/items",
                                     json={"items": [{"role": "user", "content": f"item {len(writers)}"}]})
                    assert added.status_code == 200, added.text
                if len(writers) >= 6 and len(set(writers)) == 2:
                    break
            assert len(set(writers)) == 2
            readers = set()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # and each process reads all of them, in order
                with httpx.Client(base_url=url, headers={"authorization": "Bearer k"}, timeout=30) as one:
                    readers.add(one.get("/get_server_info").json()["pid"])
                    page = one.get(f"/v1/conversations/{conv.id}/items", params={"order": "asc", "limit": 100}).json()
                assert [item["content"][0]["text"] for item in page["data"]] == \
                    [f"item {i}" for i in range(len(writers) + 1)]
                if len(readers) == 2:
                    break
            assert len(readers) == 2
