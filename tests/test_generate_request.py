"""The worker request built from a prepared request carries every resolved setting."""

from __future__ import annotations

import dataclasses

import pytest

from sglang_gw.pipeline.dispatch import build_generate_request
from sglang_gw.pipeline.types import LogprobSpec, PreparedRequest, SamplingSettings

SETTINGS = SamplingSettings(temperature=0.7, top_p=0.9, top_k=5, min_p=0.1, frequency_penalty=0.2,
                            presence_penalty=0.3, repetition_penalty=1.1, max_new_tokens=16, min_new_tokens=2,
                            n=2, stop_token_ids=(7, 9), ignore_eos=True, skip_special_tokens=False,
                            spaces_between_special_tokens=False, no_stop_trim=True)


def _prepared(sampling: SamplingSettings, logprobs: LogprobSpec | None = None) -> PreparedRequest:
    return PreparedRequest(request_id="r1", prompt_ids=[1, 2, 3], prompt_text="hi", sampling=sampling, stops=[],
                           logprobs=logprobs, worker_stream=True)


def test_every_sampling_field_reaches_the_proto() -> None:
    req = build_generate_request(_prepared(SETTINGS), "trace-1-r1")
    sp = req.sampling_params
    for field in dataclasses.fields(SamplingSettings):
        value = getattr(SETTINGS, field.name)
        if field.name in ("seed", "logit_bias", "constraint", "stream_interval"):
            continue
        got = tuple(sp.stop_token_ids) if field.name == "stop_token_ids" else getattr(sp, field.name)
        assert got == (pytest.approx(value) if isinstance(value, float) else value), field.name
    assert (req.request_id, req.stream, list(req.tokenized.input_ids), req.tokenized.original_text) == \
        ("trace-1-r1", True, [1, 2, 3], "hi")
    assert not req.return_logprob and not sp.HasField("custom_params") and not sp.HasField("stream_interval")


def test_optional_settings_and_logprobs() -> None:
    sampling = dataclasses.replace(SETTINGS, seed=42, logit_bias=(("12", 1.5),), constraint=("regex", "a+"),
                                   stream_interval=8)
    req = build_generate_request(_prepared(sampling, LogprobSpec(top_n=3, prompt=True)), "r1")
    sp = req.sampling_params
    assert sp.custom_params["seed"] == 42 and dict(sp.logit_bias) == {"12": 1.5}
    assert sp.regex == "a+" and sp.stream_interval == 8
    assert (req.return_logprob, req.top_logprobs_num, req.logprob_start_len) == (True, 3, 0)
