"""Fixtures shared by the transport tests: the model facts and a `Rig` of workers and clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sglang_gw.testing.model_facts import ModelFacts, read_model_facts
from sglang_gw.testing.models import model_dir
from tests.transport.workers import Rig


@pytest.fixture(scope="module")
def facts() -> ModelFacts:
    return read_model_facts(model_dir("qwen3"))


@pytest.fixture
async def rig(facts: ModelFacts) -> AsyncIterator[Rig]:
    rig = Rig(facts)
    yield rig
    await rig.close()
