"""The legacy Completions wire format (POST /v1/completions): a raw prompt continued, with OpenAI's `echo` and
`logprobs`, which is what log-likelihood evaluations (lm-evaluation-harness's `local-completions`) need.

Decoding makes one canonical request per prompt, a user message holding the prompt's text (so input guardrails read
it) with the `raw_prompt` extension telling the local model to take it as it is, no chat template. Encoding turns a
folded answer into a `text_completion` choice, and the event stream into its chunks. The canonical log-probability
entries (Chat Completions' shape, on text deltas and on message_start's `prompt`) become the legacy arrays:
`tokens`, `token_logprobs`, `top_logprobs` (one {token: logprob} object per token, the chosen token included, as
OpenAI's) and `text_offset` (characters into the prompt and completion together).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from ..canonical import MessagesRequest, parse_messages_request
from ..canonical.bounds import INT32_MAX, Penalty, Probability, Seed, Temperature, TokenId
from ..canonical.events import Event
from ..canonical.types import invalid
from ..errors import InvalidRequest
from .chat_answers import encode_stop_reason, encode_usage

DEFAULT_MAX_TOKENS = 16  # OpenAI's default for this API
MAX_PROMPTS = 32  # prompts in one request: each is a call of its own through the flow
MAX_STOPS = 4  # OpenAI's bound

Prompt = StrictStr | Annotated[list[StrictStr], Field(min_length=1, max_length=MAX_PROMPTS)]
TokenPrompt = Annotated[list[TokenId], Field(min_length=1)]
TokenPrompts = Annotated[list[TokenPrompt], Field(min_length=1, max_length=MAX_PROMPTS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StreamOptions(_Strict):
    include_usage: StrictBool | None = None


class CompletionRequest(_Strict):
    model: StrictStr
    prompt: Prompt | TokenPrompt | TokenPrompts
    max_tokens: Annotated[StrictInt, Field(ge=0, le=INT32_MAX)] | None = None  # 0: only score the prompt (echo)
    echo: StrictBool | None = None
    logprobs: Annotated[StrictInt, Field(ge=0, le=5)] | None = None  # the legacy API's bound
    temperature: Temperature | None = None
    top_p: Probability | None = None
    n: Annotated[StrictInt, Field(ge=1, le=128)] | None = None
    best_of: Annotated[StrictInt, Field(ge=1, le=20)] | None = None
    stop: StrictStr | Annotated[list[StrictStr], Field(max_length=MAX_STOPS)] | None = None
    stream: StrictBool | None = None
    stream_options: StreamOptions | None = None
    seed: Seed | None = None
    frequency_penalty: Penalty | None = None
    presence_penalty: Penalty | None = None
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]] | None = None
    suffix: StrictStr | None = None
    user: StrictStr | None = None


def parse_completion_request(body: bytes) -> CompletionRequest:
    try:
        return CompletionRequest.model_validate_json(body)
    except ValidationError as exc:
        raise invalid(exc, "We could not parse the JSON body of your request") from None


def prompts(req: CompletionRequest) -> list[str | list[int]]:
    """The request's prompts: each a text or a list of token ids."""
    p: Any = req.prompt
    if isinstance(p, str) or isinstance(p[0], int):
        return [p]
    return list(p)


def decode_request(req: CompletionRequest, prompt: str | list[int]) -> MessagesRequest:
    """One prompt of a caller's request as the canonical request."""
    _refuse_unsupported(req)
    max_tokens = DEFAULT_MAX_TOKENS if req.max_tokens is None else req.max_tokens
    if max_tokens == 0 and not req.echo:
        raise InvalidRequest("max_tokens: 0 is allowed only with echo (the prompt is only scored)", param="max_tokens")
    text, tokens = (prompt, None) if isinstance(prompt, str) else ("", prompt)
    body: dict[str, Any] = {
        "model": req.model,
        "max_tokens": max(1, max_tokens),  # the ledger reserves at least a token; max_tokens 0 generates none
        "messages": [{"role": "user", "content": text}],
        "stream": bool(req.stream),
        "raw_prompt": {"tokens": tokens, "echo": bool(req.echo), "generate": max_tokens > 0},
    }
    optional = {
        "temperature": req.temperature,
        "top_p": req.top_p,
        "seed": req.seed,
        "logprobs": req.logprobs,
        "frequency_penalty": req.frequency_penalty or None,
        "presence_penalty": req.presence_penalty or None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if req.stop:
        body["stop_sequences"] = [req.stop] if isinstance(req.stop, str) else req.stop
    if req.user:
        body["metadata"] = {"user_id": req.user}
    return parse_messages_request(body)


def _refuse_unsupported(req: CompletionRequest) -> None:
    if req.n not in (None, 1):
        raise InvalidRequest("n: only n=1 is supported; send separate requests for several choices", param="n")
    if req.best_of not in (None, 1):
        raise InvalidRequest("best_of: only best_of=1 is supported", param="best_of")
    if req.logit_bias:
        raise InvalidRequest("logit_bias is not supported by this server", param="logit_bias")
    if req.suffix:
        raise InvalidRequest("suffix is not supported by this server", param="suffix")
    if req.stream and len(prompts(req)) > 1:
        raise InvalidRequest("prompt: a streamed request takes one prompt", param="prompt")


def completion_id(message_id: str) -> str:
    return "cmpl-" + message_id.removeprefix("msg_")


# Answers.


def encode_choice(message: dict[str, Any], index: int, echo: bool, logprobs: bool) -> dict[str, Any]:
    """A folded canonical answer as the `index`-th choice of a text_completion."""
    prompt = message.get("prompt") or {}
    blocks = [b for b in message["content"] if b["type"] == "text"]
    text = "".join(b["text"] for b in blocks)
    found: list[dict[str, Any]] = [e for b in blocks for e in b.get("logprobs", ())]
    lead = prompt.get("text") or ""
    choice: dict[str, Any] = {
        "text": lead + text if echo else text,
        "index": index,
        "logprobs": None,
        "finish_reason": encode_stop_reason(message.get("stop_reason")),
    }
    if logprobs:
        start = 0 if echo else len(lead)
        choice["logprobs"] = legacy_logprobs(((prompt.get("logprobs") or []) if echo else []) + found, start)
    return choice


def legacy_logprobs(found: list[dict[str, Any]], offset: int) -> dict[str, Any]:
    """Canonical entries as the legacy arrays; `offset` is the first token's position in the text."""
    tokens: list[str] = []
    token_logprobs: list[float | None] = []
    top: list[dict[str, float] | None] = []
    offsets: list[int] = []
    for entry in found:
        tokens.append(entry["token"])
        token_logprobs.append(entry["logprob"])
        if entry["logprob"] is None:  # a prompt's first token: nothing predicts it
            top.append(None)
        else:
            alternatives = {alt["token"]: alt["logprob"] for alt in entry["top_logprobs"]}
            alternatives.setdefault(entry["token"], entry["logprob"])
            top.append(alternatives)
        offsets.append(offset)
        offset += len(entry["token"])
    return {"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": top, "text_offset": offsets}


def encode_completion(choices: list[dict[str, Any]], messages: list[dict[str, Any]], model: str) -> dict[str, Any]:
    usage: dict[str, int] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for message in messages:
        for key, value in encode_usage(message["usage"]).items():
            if key in usage:
                usage[key] += value
    return {
        "id": completion_id(messages[0]["id"]),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
        "system_fingerprint": None,
    }


class ChunkEncoder:
    """Canonical events as text_completion chunks (one prompt): the echoed prompt first, then each text delta."""

    def __init__(self, model: str, echo: bool, logprobs: bool, include_usage: bool) -> None:
        self.model, self.echo, self.logprobs, self.include_usage = model, echo, logprobs, include_usage
        self.created = int(time.time())
        self.id = ""
        self.usage: dict[str, Any] = {}
        self.offset = 0  # characters of text sent so far (the prompt's, when not echoed), for text_offset

    def _chunk(self, text: str, logprobs: Any = None, finish: str | None = None, usage: Any = None) -> bytes:
        choices = [] if usage is not None else [
            {"text": text, "index": 0, "logprobs": logprobs, "finish_reason": finish}
        ]  # fmt: skip
        chunk: dict[str, Any] = {
            "id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
            "choices": choices, "system_fingerprint": None,
        }  # fmt: skip
        if usage is not None:
            chunk["usage"] = usage
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _text(self, text: str, found: list[dict[str, Any]]) -> bytes:
        logprobs = legacy_logprobs(found, self.offset) if self.logprobs else None
        self.offset += sum(len(e["token"]) for e in found) if found else len(text)
        return self._chunk(text, logprobs)

    def encode(self, event: Event) -> bytes:
        kind = event["type"]
        if kind == "content_block_delta" and event["delta"]["type"] == "text_delta":
            return self._text(event["delta"]["text"], event["delta"].get("logprobs") or [])
        if kind == "message_start":
            message = event["message"]
            self.id = completion_id(message["id"])
            self.usage = dict(message.get("usage") or {})
            prompt = message.get("prompt") or {}
            if not self.echo:
                self.offset = len(prompt.get("text") or "")
                return b""
            return self._text(prompt.get("text") or "", prompt.get("logprobs") or [])
        if kind == "message_delta":
            self.usage.update(event.get("usage") or {})
            return self._chunk("", finish=encode_stop_reason(event["delta"].get("stop_reason")))
        if kind == "message_stop":
            tail = self._chunk("", usage=encode_usage(self.usage)) if self.include_usage else b""
            return tail + b"data: [DONE]\n\n"
        return b""
