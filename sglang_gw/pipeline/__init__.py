"""The request pipeline: one generation request, stage by stage, top to bottom.

A route (server/routes_*.py) validates the body (api/), then calls the stages in this
order; each hands the next a typed value, and each is timed into
`sgl_router_stage_duration_seconds{stage}` and, with --enable-trace, recorded as a child
span of the request's span at the same point (tracing.py):

1. prepare   prepare.py (+ sampling.py, tokenize.py): the API request → `PreparedRequest`
             (chat template rendered, prompt tokenized, sampling resolved, context checked)
             and, for chat, the `ParserPlan` (which reasoning and tool parsers run).
2. select    select.py: `Selector.choose` → `WorkerChoice` (policy or `select` hook among
             routable workers, circuit breaker, prefill/decode pairing).
3. dispatch  dispatch.py: `Generation.open` sends the `GenerateRequest` to the choice and
             waits for the first message (retrying before it); `close` ends the call.
4. decode    decode.py: `ChoiceDecoder` per choice, worker tokens → `ChoiceDelta` (text
             detokenized incrementally, stop strings, why generation ended).
5. parse     parse.py: `OutputProcessor` per choice, `ChoiceDelta` → `ParsedDelta`
             (reasoning, then tool calls on the content) and the API `finish_reason`.
6. frame     chat.py, completion.py, native.py: a `Responder` (framing.py) turns the
             deltas into OpenAI/SGLang JSON, or SSE bytes per delta.

Stages 2-3 run when the response starts (server/handling.py `respond`), stages 4-6 per
worker message: pulled (`Generation.deltas` through `framing.framed_stream`) or pushed from
the connection's callback (server/push.py). Nothing in this package imports the server.

Embeddings, rerank and classify take a shorter road (embed.py): inputs tokenized and
checked, then select and one unary `Embed` call per input, framed by pooled.py; no decode
or parse stage.
"""
