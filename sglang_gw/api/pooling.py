"""Request schemas of the pooling endpoints: /v1/embeddings, /v1/rerank (and /rerank),
/v1/classify, and the normalisation of their inputs into one list per request.

Shapes follow OpenAI's embeddings API and SGLang's own rerank and classify APIs; a
mixed or empty input is a 400 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from sglang_gw.api.validation import check_token_ids
from sglang_gw.errors import InvalidRequestError

__all__ = ["MAX_INPUTS", "ClassifyRequest", "EmbeddingRequest", "RerankRequest", "document_texts",
           "embedding_inputs", "text_inputs"]

MAX_INPUTS = 2048  # OpenAI's limit on inputs per embeddings request
_SHAPES = "a string, a list of strings, a list of token ids, or a list of token-id lists"


class EmbeddingRequest(msgspec.Struct, kw_only=True):
    input: str | list[Any]  # the shape is checked in `embedding_inputs`
    model: str = ""
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int, Meta(ge=1)] | None = None
    user: str | None = None
    lora_path: str | None = None


class RerankRequest(msgspec.Struct, kw_only=True):
    query: Annotated[str, Meta(min_length=1)]
    documents: Annotated[list[str | dict[str, Any]], Meta(min_length=1, max_length=MAX_INPUTS)]
    model: str = ""
    top_n: Annotated[int, Meta(ge=1)] | None = None
    return_documents: bool = True
    user: str | None = None
    lora_path: str | None = None


class ClassifyRequest(msgspec.Struct, kw_only=True):
    input: str | list[Any]
    model: str = ""
    user: str | None = None
    lora_path: str | None = None


def _ids(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(type(t) is int for t in value)


def _bounded(items: list[Any], param: str) -> None:
    if not items:
        raise InvalidRequestError(f"`{param}` is empty; expected {_SHAPES}", param=param)
    if len(items) > MAX_INPUTS:
        raise InvalidRequestError(f"`{param}` holds {len(items)} inputs; at most {MAX_INPUTS} are allowed", param=param)


def embedding_inputs(value: str | list[Any], vocab_size: int, param: str = "input") -> list[str | list[int]]:
    """One entry per input: a text, or token ids checked against the vocabulary. A list
    holds one kind only (strings, ids, or id lists): mixed lists are refused."""
    if isinstance(value, str):
        value = [value]
    elif _ids(value):
        value = [value]
    _bounded(value, param)
    if all(isinstance(v, str) for v in value):
        for i, text in enumerate(value):
            if not text:
                raise InvalidRequestError(f"`{param}[{i}]` is an empty string", param=f"{param}[{i}]")
        return list(value)
    if all(_ids(v) for v in value):
        for i, ids in enumerate(value):
            check_token_ids(ids, vocab_size, f"{param}[{i}]")
        return list(value)
    raise InvalidRequestError(f"`{param}` must be {_SHAPES} (not a mix)", param=param)


def text_inputs(value: str | list[Any], param: str = "input") -> list[str]:
    """Texts only (classify): a string or a non-empty list of strings."""
    texts = [value] if isinstance(value, str) else value
    _bounded(texts, param)
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text:
            raise InvalidRequestError(f"`{param}[{i}]` must be a non-empty string", param=f"{param}[{i}]")
    return texts


def document_texts(documents: list[str | dict[str, Any]]) -> list[str]:
    """Rerank documents as texts: each a string, or an object with a string `text`."""
    texts = []
    for i, doc in enumerate(documents):
        text = doc.get("text") if isinstance(doc, dict) else doc
        if not isinstance(text, str) or not text:
            raise InvalidRequestError(f"`documents[{i}]` must be a non-empty string or an object with `text`",
                                      param=f"documents[{i}]")
        texts.append(text)
    return texts
