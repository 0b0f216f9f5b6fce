"""/v1/tokenize and /v1/detokenize: text or a chat → ids, ids → text.

Large inputs leave the event loop as a generation's prompt does (pipeline/offload.py): a
10 MiB text took 9 s to tokenize, every stream on the process stalled meanwhile. There is
no context-length check here: these endpoints report counts, they do not generate.
"""

from __future__ import annotations

from sglang_gw.api.protocol import ChatCompletionRequest, DetokenizeRequest, TokenizeRequest
from sglang_gw.errors import InvalidRequestError
from sglang_gw.model import ServedModel
from sglang_gw.pipeline.offload import run_cpu
from sglang_gw.pipeline.prepare import render_chat, run_for_chat
from sglang_gw.tokenizer.encoding import decode_ids

__all__ = ["detokenize", "tokenize"]


async def tokenize(req: TokenizeRequest, model: ServedModel) -> list[int]:
    if (req.prompt is None) == (req.messages is None):
        raise InvalidRequestError("give exactly one of `prompt` or `messages`", param="prompt")
    if req.messages is not None:
        chat = ChatCompletionRequest(messages=req.messages, tools=req.tools,
                                     add_generation_prompt=req.add_generation_prompt,
                                     chat_template_kwargs=req.chat_template_kwargs)
        _, ids = await run_for_chat(chat, model, lambda: render_chat(chat, model))
        return ids
    text = req.prompt or ""
    return await run_cpu(len(text), lambda: model.encode(text, add_special_tokens=req.add_special_tokens))


async def detokenize(req: DetokenizeRequest, model: ServedModel) -> str:
    return await run_cpu(len(req.tokens),
                         lambda: decode_ids(model.tokenizer, req.tokens, skip_special_tokens=req.skip_special_tokens))
