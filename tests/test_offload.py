"""Which chats are prepared on the event loop and which in the background threads
(pipeline/offload.py): long non-ASCII text leaves the loop, as long plain text does."""

from __future__ import annotations

import threading

import pytest

from sglang_gw.api.protocol import ChatCompletionRequest
from sglang_gw.model import model_from_folder
from sglang_gw.pipeline.offload import OFFLOAD_CHARS, OFFLOAD_PLAIN_CHARS
from sglang_gw.pipeline.prepare import render_chat, run_for_chat
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.testing.models import model_dir
from sglang_gw.tokenizer.encoding import GIL_FREE_CHARS


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return model_from_folder(model_dir("qwen3"), pb.GetModelInfoResponse())


def _chat(content: str) -> ChatCompletionRequest:
    return ChatCompletionRequest(messages=[{"role": "user", "content": content}])


async def _thread_of(req: ChatCompletionRequest, model) -> str:  # type: ignore[no-untyped-def]
    def prepare() -> str:
        render_chat(req, model)
        return threading.current_thread().name

    return await run_for_chat(req, model, prepare)


def test_offloaded_tokenizing_leaves_the_gil() -> None:
    """Every text the threads take is long enough for the GIL-free tokenizer call."""
    assert OFFLOAD_CHARS >= GIL_FREE_CHARS


@pytest.mark.parametrize(("content", "on_loop"), [
    ("你好，世界。" * 500, True),  # 3,000 characters of Chinese: a few ms
    ("你好，世界。" * 700, False),  # 4,200: past the threshold
    ("Привет, мир! " * 400, False),  # 5,200 of Cyrillic
    ("hello world " * 2500, True),  # 30,000 plain ASCII: the word encoder on the loop
    ("hello world " * 2800, False),  # 33,600 plain ASCII
])
async def test_long_prompts_leave_the_loop(model, content: str, on_loop: bool) -> None:  # type: ignore[no-untyped-def]
    assert (len(content) < (OFFLOAD_PLAIN_CHARS if content.isascii() else OFFLOAD_CHARS)) == on_loop
    name = await _thread_of(_chat(content), model)
    assert (name == threading.current_thread().name) == on_loop
    assert on_loop or name.startswith("sglang-gw-prepare")
