"""Discovery's registry on the gateway: bodies become jobs on the `/workers` queue."""

from __future__ import annotations

from dataclasses import replace

from sglang_gw.discovery import Body
from sglang_gw.gateway import Gateway
from sglang_gw.server.routes_workers import spec_from_body

__all__ = ["GatewayWorkers"]


class GatewayWorkers:
    """`discovery.Registry` over a gateway. Discovered workers get the gateway's own
    `--model-path`/`--tokenizer-path` and `--served-model-name`, as `--worker-urls` do,
    unless their body names a tokenizer."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def add(self, body: Body) -> bool:
        spec = spec_from_body(body)
        model = self._gateway.config.model
        spec = replace(spec, tokenizer_path=spec.tokenizer_path or model.tokenizer_path or model.model_path,
                       served_model_name=spec.served_model_name or model.served_model_name)
        job = self._gateway.add_worker(spec)
        await job.done.wait()
        return job.state == "active"

    async def remove(self, url: str) -> None:
        await self._gateway.remove_worker(url)

    def present(self, url: str) -> bool:
        if self._gateway.pool.get(url) is not None:
            return True
        job = self._gateway.registrar.jobs.get(url)
        return job is not None and job.state != "failed"
