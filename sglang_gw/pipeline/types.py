"""The typed hand-offs between pipeline stages (frozen value objects, no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ChoiceDelta", "LogprobSpec", "PreparedRequest", "SamplingSettings", "TokenLogprob", "Usage"]


@dataclass(slots=True, frozen=True)
class SamplingSettings:
    """Every sampling value resolved (request > worker defaults > SGLang defaults)."""

    temperature: float
    top_p: float
    top_k: int
    min_p: float
    frequency_penalty: float
    presence_penalty: float
    repetition_penalty: float
    max_new_tokens: int
    min_new_tokens: int = 0
    n: int = 1
    stop_token_ids: tuple[int, ...] = ()
    ignore_eos: bool = False
    skip_special_tokens: bool = True
    spaces_between_special_tokens: bool = True
    no_stop_trim: bool = False
    seed: int | None = None
    logit_bias: tuple[tuple[str, float], ...] = ()
    constraint: tuple[str, str] | None = None  # (proto oneof field, value)
    stream_interval: int | None = None  # tokens per worker message; None = the worker's default


@dataclass(slots=True, frozen=True)
class LogprobSpec:
    top_n: int = 0
    prompt: bool = False  # also return prompt logprobs (completions echo)


@dataclass(slots=True, frozen=True)
class PreparedRequest:
    """Output of the prepare stage: what goes to a worker, and how to read what comes back."""

    request_id: str
    prompt_ids: list[int]
    prompt_text: str
    sampling: SamplingSettings
    stops: tuple[str, ...] = ()
    logprobs: LogprobSpec | None = None
    choice_offset: int = 0  # index of this prompt's first choice in a batched response
    keep_ids: frozenset[int] = frozenset()  # special tokens decoded anyway: parser markers
    # Ask the worker to stream? Only needed when the client streams or the gateway must
    # watch for stop strings; otherwise one `complete` message carries every token.
    worker_stream: bool = True


@dataclass(slots=True, frozen=True)
class TokenLogprob:
    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


@dataclass(slots=True)
class ChoiceDelta:
    """New output of one choice; `finish_reason` is set on its last delta only: why
    generation ended, which the parse stage turns into the API's (`parse.finish_reason`)."""

    index: int
    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] | None = None
    finish_reason: str | None = None
    matched_stop: int | str | None = None


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int | None = None  # None: no reasoning parser ran

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_tokens += other.cached_tokens
        if other.reasoning_tokens is not None:
            self.reasoning_tokens = (self.reasoning_tokens or 0) + other.reasoning_tokens
