"""The local model's tokenizer over HTTP, in vLLM's shape: GET /tokenizer_info, POST /tokenize and /detokenize.

lm-evaluation-harness's `tokenizer_backend=remote` reads these to count a log-likelihood request's context tokens
and to send token ids, with no tokenizer of its own (nothing fetched from a hub). Served for the local model only; a
key needs the count_tokens scope. Tokenizing runs on the engine's preparation workers, off the event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, ValidationError

from ..canonical.bounds import TokenId
from ..canonical.types import invalid
from ..engine import LocalEngine
from ..errors import InvalidRequest, NotFound
from ..http.plumbing import read_body
from .anthropic import json_response

if TYPE_CHECKING:
    from ..wiring import Platform


class TokenizeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: StrictStr
    add_special_tokens: StrictBool = True  # a BOS first, where the model wants one (vLLM's default)
    model: StrictStr | None = None  # accepted for vLLM's clients; the local model's tokenizer answers


class DetokenizeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[TokenId]
    model: StrictStr | None = None


def _parse(model: type[TokenizeBody] | type[DetokenizeBody], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise invalid(exc, "There was an error parsing the body of your request") from None


def build_router(platform: Platform) -> APIRouter:
    router = APIRouter()
    limit = platform.settings.max_body_bytes
    control = platform.control

    def engine() -> LocalEngine:
        if platform.engine is None:
            raise NotFound("this server runs no local model, whose tokenizer these routes serve")
        return platform.engine

    @router.get("/tokenizer_info")
    async def tokenizer_info(request: Request) -> Any:
        await control.authenticate(request.headers, "count_tokens")
        local = engine()
        model = local.model
        return json_response(
            {
                "tokenizer_class": "llama.cpp",
                "bos_token": _special(model, "tokenizer.ggml.bos_token_id"),
                "eos_token": _special(model, "tokenizer.ggml.eos_token_id"),
                "pad_token": _special(model, "tokenizer.ggml.padding_token_id"),
                "add_bos_token": model.add_bos,
                "chat_template": model.chat_template(),
                "model_max_length": local.context_window,
                "vocab_size": model.n_vocab,
            }
        )

    @router.post("/tokenize")
    async def tokenize(request: Request) -> Any:
        await control.authenticate(request.headers, "count_tokens")
        body: TokenizeBody = _parse(TokenizeBody, await read_body(request, limit))
        local = engine()

        def work() -> list[int]:
            return local.model.tokenize(body.prompt, add_bos=local.model.add_bos and body.add_special_tokens)

        tokens = await local.offload(work, lambda _: None)
        return json_response({"tokens": tokens, "count": len(tokens), "max_model_len": local.context_window})

    @router.post("/detokenize")
    async def detokenize(request: Request) -> Any:
        await control.authenticate(request.headers, "count_tokens")
        body: DetokenizeBody = _parse(DetokenizeBody, await read_body(request, limit))
        local = engine()
        model = local.model
        bad = next((t for t in body.tokens if t >= model.n_vocab), None)
        if bad is not None:
            raise InvalidRequest(f"tokens: {bad} is not in the model's vocabulary of {model.n_vocab}", param="tokens")

        def work() -> str:
            return b"".join(model.token_bytes(t) for t in body.tokens).decode("utf-8", "replace")

        return json_response({"prompt": await local.offload(work, lambda _: None)})

    return router


def _special(model: Any, key: str) -> str | None:
    value = model.meta(key)
    return model.token_text(int(value)) if value is not None and value.isdigit() else None
