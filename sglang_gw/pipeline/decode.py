"""Decode stage: one `ChoiceDecoder` per choice turns worker tokens into final text.

Per token it runs the incremental detokenizer and the stop-string matcher. End tokens
(eos and `stop_token_ids`, which the worker stops on) are not part of the text unless
`no_stop_trim` asks for them. When a stop string completes here, the choice is finished at
once; the caller aborts the worker's generation when every choice is done.
"""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import Tokenizer

from sglang_gw.pipeline.types import ChoiceDelta, SamplingSettings, TokenLogprob
from sglang_gw.proto import sglang_scheduler_pb2 as pb
from sglang_gw.tokenizer.detokenizer import IncrementalDetokenizer
from sglang_gw.tokenizer.stop import StopMatcher

__all__ = ["ChoiceDecoder", "PROMPT_TAIL"]

# Prompt ids given to the detokenizer as context (leading-space rules need a few, never all).
PROMPT_TAIL = 4


class ChoiceDecoder:
    __slots__ = ("index", "_detok", "_stop", "_end_ids", "_want_logprobs", "tokens",
                 "finished", "stopped_here", "output_ids", "finish_reason")

    def __init__(self, index: int, tokenizer: Tokenizer, sampling: SamplingSettings, stops: Sequence[str],
                 end_ids: frozenset[int], prompt_tail: Sequence[int], *, want_logprobs: bool = False,
                 keep_ids: frozenset[int] = frozenset()) -> None:
        self.index = index
        self._detok = IncrementalDetokenizer(tokenizer, skip_special_tokens=sampling.skip_special_tokens,
                                             prompt_tail=prompt_tail, keep_ids=keep_ids)
        self._stop = StopMatcher(stops, keep_stop=sampling.no_stop_trim) if stops else None
        ends = set(sampling.stop_token_ids) | (set() if sampling.ignore_eos else set(end_ids))
        # An end token a parser reads (harmony's <|call|>) stays in the text for the parser.
        self._end_ids = frozenset() if sampling.no_stop_trim else frozenset(ends - keep_ids)
        self._want_logprobs = want_logprobs
        self.tokens = 0
        self.finished = False
        self.stopped_here = False  # finished by a stop string the gateway matched
        self.output_ids: list[int] = []
        self.finish_reason: str | None = None  # why it ended, once it did

    def on_tokens(self, ids: Sequence[int], logprobs: pb.OutputLogProbs | None,
                  lp_offset: int = 0) -> ChoiceDelta | None:
        """New tokens from a chunk → the text now final (None when nothing to say)."""
        if self.finished or not ids:
            return None
        # A copy as a list: each read of protobuf's repeated field is a call into upb, and
        # `list()` would walk it by index up to an IndexError (upb gives it no iterator).
        ids = ids[:]
        self.tokens += len(ids)
        self.output_ids.extend(ids)
        ends = self._end_ids
        kept = [t for t in ids if t not in ends] if ends and not ends.isdisjoint(ids) else ids
        text = self._detok.feed(kept)
        delta = ChoiceDelta(self.index, "", ids,
                            self._logprobs(ids, logprobs, lp_offset) if self._want_logprobs else None)
        if self._stop is None:
            delta.text = text
            return delta
        match = self._stop.feed(text)
        delta.text = match.text
        if match.stopped:
            self.finished = self.stopped_here = True
            self.finish_reason = delta.finish_reason = "stop"
            delta.matched_stop = match.matched
        return delta

    def on_complete(self, done: pb.GenerateComplete) -> ChoiceDelta | None:
        """The worker finished this choice: flush held text and set the finish reason."""
        if self.finished:
            return None
        start = self.tokens
        tail = done.output_ids[start:]  # a non-streaming worker sends all ids here
        lp = done.output_logprobs if done.HasField("output_logprobs") else None
        delta = self.on_tokens(tail, lp, start) if tail else None
        if delta is not None and delta.finish_reason:
            return delta
        delta = delta or ChoiceDelta(self.index, "")
        self.finished = True
        text, matched = self._flush()
        delta.text += text
        if matched is not None:  # the last held characters completed a stop string
            self.stopped_here = True
            self.finish_reason = delta.finish_reason = "stop"
            delta.matched_stop = matched
            return delta
        self.finish_reason = delta.finish_reason = done.finish_reason or "stop"
        which = done.WhichOneof("matched_stop")
        delta.matched_stop = getattr(done, which) if which else None
        return delta

    def _flush(self) -> tuple[str, str | None]:
        text = self._detok.finish()
        if self._stop is None:
            return text, None
        match = self._stop.feed(text)
        if match.stopped:
            return match.text, match.matched
        rest = self._stop.finish()  # may settle on a stop that was waiting for a longer one
        return match.text + rest, self._stop.matched

    def _logprobs(self, ids: Sequence[int], lp: pb.OutputLogProbs | None, offset: int = 0) -> list[TokenLogprob]:
        """Logprobs of `ids`; `offset` is where they start in `lp` (cumulative in a complete)."""
        if lp is None or not lp.token_logprobs:
            return []
        tops = lp.top_logprobs
        out = []
        for j, tid in enumerate(ids):
            i = j + offset
            if i >= len(lp.token_logprobs):
                break
            top = tops[i] if i < len(tops) else None
            pairs = tuple(zip(top.token_ids, top.values, strict=False)) if top is not None else ()
            out.append(TokenLogprob(tid, lp.token_logprobs[i], pairs))
        return out
