"""Usage's `completion_tokens_details.reasoning_tokens`: how many of a choice's tokens the
reasoning parser attributed to reasoning.

The rule (docs/api.md): a token is a reasoning token when its text starts inside the
reasoning block, the text before the content the reasoning parser passed on (reasoning,
its `<think>`/`</think>` markers, the whitespace after them). A token whose bytes are held
for a character the next token completes starts where that character does; tokens with no
text (an end token) count when they come before the block's end. It is counted per token,
never per worker message, so a streamed and a non-streamed answer give the same number.
"""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import Tokenizer

from sglang_gw.pipeline.decode import PROMPT_TAIL
from sglang_gw.pipeline.types import PreparedRequest
from sglang_gw.tokenizer.detokenizer import IncrementalDetokenizer

__all__ = ["count_reasoning_tokens"]


def count_reasoning_tokens(tokenizer: Tokenizer, prepared: PreparedRequest, token_ids: Sequence[int],
                           reasoning_chars: int) -> int:
    """Tokens of `token_ids` whose text starts before character `reasoning_chars`.

    Decodes again, one token at a time and only up to the block's end, with the settings
    the decode stage used, so the offsets match the text the parser saw.
    """
    if reasoning_chars <= 0:
        return 0
    detok = IncrementalDetokenizer(tokenizer, skip_special_tokens=prepared.sampling.skip_special_tokens,
                                   prompt_tail=prepared.prompt_ids[-PROMPT_TAIL:], keep_ids=prepared.keep_ids)
    offset = count = 0
    for tid in token_ids:
        if offset >= reasoning_chars:
            break
        count += 1
        offset += len(detok.feed((tid,)))
    return count
