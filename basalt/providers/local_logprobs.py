"""The local model's raw prompts (POST /v1/completions) and log-probabilities, in the canonical shapes.

A log-probability entry is OpenAI's Chat Completions one, which the canonical text deltas carry: `{token, logprob,
bytes, top_logprobs: [{token, logprob, bytes}]}`, a token named by its text (special tokens as written, `<|im_end|>`)
and its exact bytes. A raw prompt's entries start with the first token's, whose logprob is None (nothing predicts it).
"""

from __future__ import annotations

from typing import Any

from ..canonical import MessagesRequest
from ..engine.llama import LlamaModel
from ..engine.logprobs import TokenLogprob
from ..errors import InvalidRequest
from .base import refuse_unknown_fields
from .local_prompt import PromptPlan


def raw_prompt_tokens(model: LlamaModel, request: MessagesRequest, name: str) -> tuple[PromptPlan, list[int], str]:
    """A raw prompt's tokens, as given or its text's (a BOS first where the model wants one), and its text."""
    refuse_unknown_fields(request, f"the local model {name}")
    raw = request.raw_prompt
    assert raw is not None
    message = request.messages[0] if len(request.messages) == 1 else None
    if message is None or message.role != "user" or not isinstance(message.content, str):
        raise InvalidRequest("a raw prompt is the text of one user message", param="prompt")
    if request.system is not None or request.tools or request.output_config is not None:
        raise InvalidRequest("a raw prompt takes no system prompt, tools or output format", param="prompt")
    if raw.tokens is not None:
        tokens = raw.tokens
        bad = next((t for t in tokens if t >= model.n_vocab), None)
        if bad is not None:
            raise InvalidRequest(f"prompt: token {bad} is not in the vocabulary of {model.n_vocab}", param="prompt")
        text = b"".join(model.token_bytes(t) for t in tokens).decode("utf-8", "replace")
    else:
        text, tokens = message.content, model.tokenize(message.content)
    if not tokens:
        raise InvalidRequest("prompt: the prompt is empty", param="prompt")
    return PromptPlan([], "", None, ()), tokens, text


def entries(model: LlamaModel, found: list[TokenLogprob]) -> list[dict[str, Any]]:
    return [_entry(model, lp.token, lp.logprob, lp.top) for lp in found]


def prompt_entries(model: LlamaModel, tokens: list[int], scored: list[TokenLogprob | None]) -> list[dict[str, Any]]:
    """One entry per prompt token; the first (or any position nothing scored) has a None logprob."""
    return [
        _entry(model, token, None, ()) if lp is None else _entry(model, token, lp.logprob, lp.top)
        for token, lp in zip(tokens, scored, strict=True)
    ]


def _entry(model: LlamaModel, token: int, logprob: float | None, top: tuple[tuple[int, float], ...]) -> dict[str, Any]:
    entry = _named(model, token, logprob)
    entry["top_logprobs"] = [_named(model, t, v) for t, v in top]
    return entry


def _named(model: LlamaModel, token: int, logprob: float | None) -> dict[str, Any]:
    raw = model.token_bytes(token)
    return {"token": raw.decode("utf-8", "replace"), "logprob": logprob, "bytes": list(raw)}
