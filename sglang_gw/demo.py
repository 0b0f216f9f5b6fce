"""`make serve` with no worker: a mock worker on the demo model, started by the CLI.

It runs on its own event loop in a thread (`ThreadedMockWorker`), so the gateway meets it
as any other worker, over gRPC on loopback, and knows nothing of it.
"""

from __future__ import annotations

import logging

from sglang_gw.config import GatewayConfig
from sglang_gw.errors import ConfigError
from sglang_gw.testing.mock_worker import MockWorker, ThreadedMockWorker, Timing
from sglang_gw.testing.model_facts import read_model_facts
from sglang_gw.testing.replies import ReplyPolicy

__all__ = ["start_demo_worker"]

log = logging.getLogger(__name__)


def start_demo_worker(config: GatewayConfig) -> ThreadedMockWorker:
    demo = config.demo
    if demo is None or demo.model_path is None:
        raise ConfigError("no --worker-urls given and no demo model folder to start a demo worker on")
    facts = read_model_facts(demo.model_path)
    worker = MockWorker(facts, policy=ReplyPolicy(facts, mode=demo.mode), timing=Timing(token_delay=demo.token_delay),
                        served_model_name=config.model.served_model_name or f"demo-{demo.model_path.name}")
    running = ThreadedMockWorker(worker)
    log.info("demo mode: built-in mock worker (%s reply) on %s", demo.mode, running.url)
    return running
