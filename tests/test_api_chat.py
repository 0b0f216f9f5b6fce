"""/v1/chat/completions through the real openai client, gateway and mock worker on loopback."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from tests.conftest import SCRIPT, RunningGateway


def ask(text: str) -> list[dict]:
    return [{"role": "system", "content": "You are terse."}, {"role": "user", "content": text}]


def stream_text(gw: RunningGateway, **kwargs) -> tuple[dict[int, str], dict[int, str], list]:
    texts: dict[int, str] = {}
    reasons: dict[int, str] = {}
    chunks = list(gw.client.chat.completions.create(stream=True, **kwargs))
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
            if choice.finish_reason:
                reasons[choice.index] = choice.finish_reason
    return texts, reasons, chunks


def test_chat_reply_and_usage(gw: RunningGateway) -> None:
    resp = gw.client.chat.completions.create(model="test-model", messages=ask("MULTIBYTE"))
    choice = resp.choices[0]
    assert choice.message.content == SCRIPT["MULTIBYTE"]
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert resp.id.startswith("chatcmpl-") and resp.object == "chat.completion"
    sent = gw.worker.records.requests[-1]
    assert resp.usage.prompt_tokens == len(sent.tokenized.input_ids)
    # The reply's tokens plus the eos the worker stopped on.
    reply_ids = gw.worker.facts.tokenizer.encode(SCRIPT["MULTIBYTE"], add_special_tokens=False).ids
    assert resp.usage.completion_tokens == len(reply_ids) + 1
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert gw.worker.records.aborts == []  # a normal finish sends no Abort


def test_stream_equals_non_stream_multibyte(gw: RunningGateway) -> None:
    whole = gw.client.chat.completions.create(model="test-model", messages=ask("MULTIBYTE"))
    texts, reasons, chunks = stream_text(gw, model="test-model", messages=ask("MULTIBYTE"))
    assert texts[0] == whole.choices[0].message.content == SCRIPT["MULTIBYTE"]
    assert reasons == {0: "stop"}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all("\ufffd" not in (c.choices[0].delta.content or "") for c in chunks if c.choices)
    assert gw.worker.records.aborts == []


def test_stream_interval_chunking_does_not_change_text(gw: RunningGateway) -> None:
    texts, _, chunks = stream_text(gw, model="test-model", messages=ask("MULTIBYTE"),
                                   extra_body={"stream_interval": 3})
    assert texts[0] == SCRIPT["MULTIBYTE"]
    assert gw.worker.records.requests[-1].sampling_params.stream_interval == 3
    n_tokens = len(gw.worker.facts.tokenizer.encode(SCRIPT["MULTIBYTE"], add_special_tokens=False).ids) + 1
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) <= -(-n_tokens // 3)


def test_n3_gives_three_choices_streamed_and_not(gw: RunningGateway) -> None:
    resp = gw.client.chat.completions.create(model="test-model", messages=ask("THREE"), n=3)
    assert [c.message.content for c in sorted(resp.choices, key=lambda c: c.index)] == SCRIPT["THREE"]
    texts, reasons, _ = stream_text(gw, model="test-model", messages=ask("THREE"), n=3)
    assert [texts[i] for i in range(3)] == SCRIPT["THREE"]
    assert reasons == {0: "stop", 1: "stop", 2: "stop"}
    assert gw.worker.records.requests[-1].sampling_params.n == 3


@pytest.mark.parametrize("stream", [False, True])
def test_stop_string_ends_before_stop_and_aborts(gw: RunningGateway, stream: bool) -> None:
    # "gamma del" spans several tokens; the worker would go on to "epsilon". It is paced, so
    # it is still generating when the stop matches (a stream the worker has already ended
    # needs no Abort, and at full speed it may end within the read that carries the stop).
    gw.worker.timing.token_delay = 0.01
    kwargs = dict(model="test-model", messages=ask("STOPTEST"), stop=["gamma del", "never"])
    if stream:
        texts, reasons, _ = stream_text(gw, **kwargs)
        text, reason = texts[0], reasons[0]
    else:
        resp = gw.client.chat.completions.create(**kwargs)
        text, reason = resp.choices[0].message.content, resp.choices[0].finish_reason
    assert text == "alpha beta "
    assert reason == "stop"
    rid = gw.worker.records.requests[-1].request_id
    assert gw.wait_for(lambda: gw.worker.records.aborts == [rid])
    assert gw.wait_for(lambda: not gw.worker.running)
    assert list(gw.worker.records.requests[-1].sampling_params.stop) == []  # matched here, not sent


def test_stop_strings_in_every_choice_abort_once(gw: RunningGateway) -> None:
    gw.worker.timing.token_delay = 0.01  # still generating when the stops match, as above
    resp = gw.client.chat.completions.create(model="test-model", messages=ask("THREE"), n=3, stop=" choice")
    assert sorted(c.message.content for c in resp.choices) == ["first", "second", "third"]
    assert gw.wait_for(lambda: len(gw.worker.records.aborts) == 1)


def test_stop_token_ids_are_sent_and_trimmed(gw: RunningGateway) -> None:
    tok = gw.worker.facts.tokenizer
    think_end = tok.token_to_id("</think>")
    resp = gw.client.chat.completions.create(model="test-model", messages=ask("THINK"),
                                             extra_body={"stop_token_ids": [think_end]})
    assert resp.choices[0].message.content == "<think>let me see"
    assert resp.choices[0].finish_reason == "stop"
    assert list(gw.worker.records.requests[-1].sampling_params.stop_token_ids) == [think_end]
    assert gw.worker.records.aborts == []


def test_max_tokens_gives_length(gw: RunningGateway) -> None:
    resp = gw.client.chat.completions.create(model="test-model", messages=ask("LONG"), max_tokens=5)
    assert resp.choices[0].finish_reason == "length" and resp.usage.completion_tokens == 5
    resp2 = gw.client.chat.completions.create(model="test-model", messages=ask("LONG"), max_completion_tokens=7)
    assert resp2.usage.completion_tokens == 7


def test_include_usage_chunk(gw: RunningGateway) -> None:
    _, _, chunks = stream_text(gw, model="test-model", messages=ask("MULTIBYTE"),
                               stream_options={"include_usage": True})
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens


def test_logprobs_stream_and_not(gw: RunningGateway) -> None:
    resp = gw.client.chat.completions.create(model="test-model", messages=ask("MULTIBYTE"), logprobs=True,
                                             top_logprobs=2)
    entries = resp.choices[0].logprobs.content
    assert entries and all(len(e.top_logprobs) == 2 and e.logprob <= 0 for e in entries)
    assert entries[0].top_logprobs[0].logprob == entries[0].logprob
    sent = gw.worker.records.requests[-1]
    assert sent.return_logprob and sent.top_logprobs_num == 2
    streamed = [e for c in gw.client.chat.completions.create(model="test-model", messages=ask("MULTIBYTE"),
                                                             logprobs=True, top_logprobs=2, stream=True)
                if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in entries]


def test_sampling_is_forwarded_with_real_defaults(gw: RunningGateway) -> None:
    gw.client.chat.completions.create(model="test-model", messages=ask("hi"), seed=1234, logit_bias={"42": 5.0},
                                      temperature=0.3, presence_penalty=0.5,
                                      extra_body={"top_k": 7, "min_p": 0.1, "repetition_penalty": 1.1,
                                                  "min_tokens": 2, "ignore_eos": False})
    sp = gw.worker.records.requests[-1].sampling_params
    assert sp.custom_params["seed"] == 1234
    assert dict(sp.logit_bias) == {"42": 5.0}
    assert sp.top_k == 7 and sp.min_new_tokens == 2
    assert sp.temperature == pytest.approx(0.3) and sp.presence_penalty == pytest.approx(0.5)
    assert sp.min_p == pytest.approx(0.1) and sp.repetition_penalty == pytest.approx(1.1)
    gw.client.chat.completions.create(model="test-model", messages=ask("hi"))
    sp = gw.worker.records.requests[-1].sampling_params
    # Silent request: the worker's generation_config defaults (Qwen3: 0.6 / 0.95 / 20), never proto zeros.
    assert sp.temperature == pytest.approx(0.6) and sp.top_p == pytest.approx(0.95) and sp.top_k == 20
    assert sp.repetition_penalty == pytest.approx(1.0)
    prompt_len = len(gw.worker.records.requests[-1].tokenized.input_ids)
    assert sp.max_new_tokens == gw.worker.facts.max_context_length - prompt_len


def test_response_format_becomes_a_constraint(gw: RunningGateway) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    gw.client.chat.completions.create(model="test-model", messages=ask("hi"),
                                      response_format={"type": "json_schema",
                                                       "json_schema": {"name": "x", "schema": schema}})
    sp = gw.worker.records.requests[-1].sampling_params
    assert sp.WhichOneof("constraint") == "json_schema" and '"integer"' in sp.json_schema
    gw.client.chat.completions.create(model="test-model", messages=ask("hi"), extra_body={"regex": "[ab]+"})
    assert gw.worker.records.requests[-1].sampling_params.regex == "[ab]+"


def test_prompt_ids_equal_transformers(gw: RunningGateway, qwen3_dir) -> None:
    messages = [
        {"role": "system", "content": "Réponds en français."},
        {"role": "user", "content": "What is 2+2? 你好"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": [{"type": "text", "text": "And 3+3?"}]},
    ]
    gw.client.chat.completions.create(model="test-model", messages=messages)
    sent = list(gw.worker.records.requests[-1].tokenized.input_ids)
    hf = AutoTokenizer.from_pretrained(str(qwen3_dir))
    flat = messages[:3] + [{"role": "user", "content": "And 3+3?"}]
    expected = hf.apply_chat_template(flat, add_generation_prompt=True, tokenize=True, return_dict=False)
    assert sent == list(expected)


def test_enable_thinking_reaches_the_template(gw: RunningGateway) -> None:
    gw.client.chat.completions.create(model="test-model", messages=ask("hi"),
                                      extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    tok = gw.worker.facts.tokenizer
    prompt = tok.decode(list(gw.worker.records.requests[-1].tokenized.input_ids), skip_special_tokens=False)
    assert prompt.endswith("<think>\n\n</think>\n\n")
