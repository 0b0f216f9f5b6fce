"""Every parser name smg, SGLang and vLLM accept resolves here, or is explicitly pending.

The lists are the peers' registries as published (names only): smg
`crates/reasoning_parser/src/factory.rs` (parsers and model patterns) and
`crates/tool_parser/src/factory.rs`; SGLang `srt/parser/reasoning_parser.py` `DetectorMap` and
`srt/function_call/function_call_parser.py` `ToolCallParserEnum`; vLLM `vllm/reasoning/__init__.py`
and `vllm/tool_parsers/__init__.py`.
"""

from __future__ import annotations

import pytest

from sglang_gw.errors import ConfigError
from sglang_gw.parsers.reasoning import REASONING_PARSERS
from sglang_gw.parsers.tools import TOOL_PARSERS

SMG_REASONING = (
    "base passthrough deepseek_r1 qwen3 qwen3_thinking kimi glm45 step3 minimax cohere_cmd nano_v3 inkling "
    "deepseek_v31 kimi_k25 kimi_thinking kimi_k3 "
    # model patterns, also accepted as names
    "deepseek-r1 deepseek-v3.1 deepseek-v3-1 qwen3-thinking qwen-thinking qwen glm47 glm-5 kimi-k2-thinking "
    "kimi-k2.5 kimi-k3 minimax-m2 mm-m2 command-r command-a c4ai-command cohere nemotron-nano nemotron-super "
    "nano-v3"
).split()
SGLANG_REASONING = (
    "apertus2509 deepseek-r1 deepseek-v3 deepseek-v4 glm45 hunyuan gpt-oss kimi kimi_k2 kimi_k3 mimo poolside_v1 "
    "qwen3 qwen3-thinking minimax minimax-append-think minimax-m3 step3 step3p5 mistral nemotron_3 interns1 "
    "gemma4 inkling cohere_command4 telechat4 k2_horizon muse"
).split()
VLLM_REASONING = (
    "deepseek_r1 deepseek_v3 deepseek_v4 poolside_v1 cohere_command3 cohere_command4 ernie45 gemma4 glm45 glm47 "
    "openai_gptoss granite holo2 hunyuan_a13b hy_v3 kimi_k2 kimi_k3 mimo minimax_m2 minimax_m2_append_think "
    "minimax_m3 mistral nemotron_v3 olmo3 qwen3 seed_oss step3 step3p5 inkling solar_open2 muse_glimmer"
).split()

SMG_TOOLS = (
    "passthrough json mistral qwen qwen_xml qwen_coder pythonic llama deepseek deepseek31 deepseek32 deepseek_v4 "
    "glm45_moe glm47_moe step3 sarashina kimik2 kimi_k3 inkling minimax_m2 cohere"
).split()
SGLANG_TOOLS = (
    "apertus2509 cohere_command4 deepseekv3 deepseekv31 deepseekv32 deepseekv4 dots glm glm45 glm47 gpt-oss "
    "k2_horizon kimi_k2 kimi_k3 lfm2 ling3 llama3 mimo minicpm5 mistral muse poolside_v1 pythonic qwen qwen25 "
    "qwen3_coder spark25 step3 step3p5 minimax-m2 minimax-m3 trinity interns1 hermes hunyuan gigachat3 "
    "gigachat35 gemma4 inkling"
).split()
VLLM_TOOLS = (
    "deepseek_v3 deepseek_v31 deepseek_v32 deepseek_v4 cohere_command3 cohere_command4 ernie45 glm45 glm47 "
    "granite-20b-fc granite granite4 hermes poolside_v1 hunyuan_a13b hy_v3 internlm jamba lfm2 kimi_k2 kimi_k3 "
    "llama3_json llama4_json llama4_pythonic longcat mimo minimax_m2 minimax_m3 minicpm5 mistral olmo3 openai "
    "phi4_mini_json pythonic qwen3_coder qwen3_xml seed_oss step3 step3p5 inkling xlam gigachat3 functiongemma "
    "gemma4 apertus solar_open2 muse_glimmer"
).split()

# Formats a peer parses that this branch does not implement yet; each fails with a clear error.
PENDING_REASONING: set[str] = set()
PENDING_TOOLS: set[str] = set()

REASONING = sorted({*SMG_REASONING, *SGLANG_REASONING, *VLLM_REASONING})
TOOLS = sorted({*SMG_TOOLS, *SGLANG_TOOLS, *VLLM_TOOLS})


@pytest.mark.parametrize("name", REASONING)
def test_every_peer_reasoning_name_resolves_or_is_pending(name: str) -> None:
    _resolves_or_pending(REASONING_PARSERS, name, PENDING_REASONING)


@pytest.mark.parametrize("name", TOOLS)
def test_every_peer_tool_name_resolves_or_is_pending(name: str) -> None:
    _resolves_or_pending(TOOL_PARSERS, name, PENDING_TOOLS)


def _resolves_or_pending(registry, name: str, pending: set[str]) -> None:  # noqa: ANN001
    if registry.resolves(name):
        assert registry.get(name) is not None
        return
    assert name in pending, f"{name!r} neither resolves nor is listed as pending"
    with pytest.raises(ConfigError, match="not implemented yet") as err:
        registry.get(name)
    assert "valid: " in err.value.message


def test_pending_lists_hold_only_peer_names() -> None:
    """A name leaves the pending list when its family lands (a real row then wins)."""
    assert PENDING_REASONING <= set(REASONING)
    assert PENDING_TOOLS <= set(TOOLS)
    assert set(REASONING_PARSERS.pending_names()) <= PENDING_REASONING
    assert set(TOOL_PARSERS.pending_names()) <= PENDING_TOOLS
    # ... and a family that landed leaves it: nothing pending resolves.
    assert [n for n in PENDING_REASONING if REASONING_PARSERS.resolves(n)] == []
    assert [n for n in PENDING_TOOLS if TOOL_PARSERS.resolves(n)] == []


def test_a_real_row_beats_an_alias_of_the_same_name() -> None:
    from sglang_gw.registry import Registry

    reg = Registry("thing", {"a": "builtins:int", "b": "builtins:str"}, aliases={"a": "b"})
    assert reg.get("a") is int


def test_unknown_name_still_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="unknown tool-call parser 'nope'; valid: .*hermes"):
        TOOL_PARSERS.get("nope")


def test_docs_list_every_name() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "parsers.md").read_text(encoding="utf-8")
    for registry in (REASONING_PARSERS, TOOL_PARSERS):
        missing = [n for n in (*registry.names(), *registry.pending_names()) if f"`{n}`" not in doc]
        assert not missing, f"docs/parsers.md lacks {missing}"
