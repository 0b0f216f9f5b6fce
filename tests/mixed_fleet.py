"""A mixed fleet: one model served by a gRPC mock worker and an SGLang HTTP mock worker
behind one gateway (the tests of SGLang HTTP workers beside gRPC ones)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from sglang_gw.testing.mock_http_worker import ThreadedMockHttpWorker
from sglang_gw.testing.mock_worker import ThreadedMockWorker
from tests.conftest import ThreadedServer


@dataclass
class Mixed:
    grpc: ThreadedMockWorker
    http: ThreadedMockHttpWorker
    server: ThreadedServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def post(self, path: str, body: object) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=30)

    def requests(self) -> tuple[int, int]:
        """Generate requests each kind of worker has received so far (gRPC, HTTP)."""
        return len(self.grpc.worker.records.requests), len(self.http.worker.records.requests)

    def embeds(self) -> tuple[int, int]:
        """Embed requests each kind of worker has received so far (gRPC, HTTP)."""
        return len(self.grpc.worker.records.embeds), len(self.http.worker.records.embeds)
