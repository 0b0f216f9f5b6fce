"""Damaged outputs for Gemma 4, FunctionGemma, Hy3, MiniMax-M3, Kimi-K3 and Apertus: markers,
brackets and quotes inserted, text deleted or cut anywhere. Each parse must not raise, must
be the same however the text is split, and must end with arguments that are valid JSON once
the one output processor has finished the choice."""

from __future__ import annotations

import json
import random

import pytest

from sglang_gw.parsers.tools import TOOL_PARSERS
from sglang_gw.pipeline.parse import OutputProcessor
from tests.parsers.harness import chunkings
from tests.parsers.tool_cases import TOOLS

Q, NS, OP, C, S = '<|"|>', "]<]minimax[>[", "<|open|>", "<|close|>", "<|sep|>"
SAMPLES = {
    "gemma4": f"Hi <|tool_call>call:search{{query:{Q}a,b{Q},limit:3,filters:{{x:[1,{Q}y{Q}]}}}}<tool_call|>"
              "<|tool_call>call:noop{}<tool_call|> bye",
    "functiongemma": "<start_function_call>call:search{query:<escape>q<escape>,exact:true}<end_function_call>",
    "hy_v3": "ok<tool_calls>\n<tool_call>search<tool_sep>\n<arg_key>query</arg_key>\n<arg_value>rain</arg_value>\n"
             "<arg_key>limit</arg_key>\n<arg_value>3</arg_value>\n</tool_call>\n</tool_calls>end",
    "minimax_m3": f'x{NS}<tool_call>\n{NS}<invoke name="search">{NS}<query>q{NS}</query>{NS}<filters>{NS}<a>'
                  f"{NS}<item>1{NS}</item>{NS}</a>{NS}</filters>{NS}</invoke>\n{NS}</tool_call>y",
    "kimi_k3": f'{OP}response{S}hey{C}response{S}{OP}tools{S}{OP}call tool="search" index="1"{S}'
               f'{OP}argument key="query" type="string"{S}q{C}argument{S}{OP}argument key="limit" type="number"{S}3'
               f"{C}argument{S}{C}call{S}{C}tools{S}",
    "apertus": 'a <|tools_prefix|>[{"search": {"query": "q", "limit": 3}}, {"noop": {}}]<|tools_suffix|> b',
}
_DEBRIS = ('"', "{", "}", "[", "]", ",", ":", "<", ">", "\n", Q, NS, OP, C, S, "<tool_call|>", "<tool_sep>",
           "</arg_value>", "<escape>", "<|tools_suffix|>")


def _run(parser: str, chunks: list[str]) -> tuple[str, list[tuple[str | None, str]]]:
    proc = OutputProcessor(None, TOOL_PARSERS.get(parser)(TOOLS))
    content, calls = "", {}
    for delta in [*(proc.feed(c) for c in chunks), proc.finish()]:
        content += delta.content
        for call in delta.tool_calls:
            entry = calls.setdefault(call.index, [call.name, ""])
            entry[1] += call.arguments
    return content, [(name, args) for name, args in (calls[i] for i in sorted(calls))]


@pytest.mark.parametrize("parser", SAMPLES)
def test_damaged_output_never_raises_stays_split_invariant_and_valid(parser: str) -> None:
    rng = random.Random(parser)
    for round_ in range(40):
        text = SAMPLES[parser]
        for _ in range(rng.randint(1, 3)):
            k = rng.randrange(len(text) + 1)
            roll = rng.random()
            text = (text[:k] + rng.choice(_DEBRIS) + text[k:] if roll < 0.4
                    else text[:k] + text[k + rng.randint(1, 5):] if roll < 0.8 else text[:k])
        whole = _run(parser, [text])
        for _, arguments in whole[1]:
            json.loads(arguments)
        for chunks in chunkings(text, seed=round_, count=4):
            assert _run(parser, chunks) == whole, (text, chunks)
