"""Anthropic's Messages API upstream. The canonical form is this API's, so requests and events pass through whole.

Lossless: a request the Anthropic dialect decoded goes upstream as the client's own JSON body with only `model`
replaced (fields newer than Basalt's models included), with the client's query string and `anthropic-*` headers
(`anthropic-version`, 2023-06-01 when absent; `anthropic-beta`; ...); `stream: false` stays non-streaming, its
message turned into the events it folds back into. A request Basalt built (another dialect) or rewrote (a masking
guardrail) is sent as the canonical model dumps it, its unknown fields included."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import orjson

from ..canonical import MessagesRequest
from ..canonical.unfold import unfold_message
from ..errors import InternalError, InvalidRequest
from .base import EventBatch, ModelInfo, refuse_logprobs, refuse_penalties
from .upstream_http import UpstreamClient, read_json, sse_events

BASALT_ONLY = ("seed", "ignore_eos", "frequency_penalty", "presence_penalty")  # extensions unknown to Anthropic
DEFAULT_VERSION = "2023-06-01"
# Fields of a messages body that count_tokens does not take, dropped when Basalt built the body itself.
NOT_COUNTED = ("max_tokens", "stream", "stop_sequences", "temperature", "top_p", "top_k", "metadata")


class AnthropicProvider:
    def __init__(self, name: str, upstream_model: str, base_url: str, api_key_env: str | None, timeout: float) -> None:
        self.name = name
        self.upstream_model = upstream_model
        headers = {}
        key = os.environ.get(api_key_env or "ANTHROPIC_API_KEY", "")
        if key:
            headers["x-api-key"] = key
        self.client = UpstreamClient(base_url, timeout, headers)
        self.info = ModelInfo(name, f"{upstream_model} via {base_url}", "2025-01-01T00:00:00Z", owned_by="anthropic")

    def models(self) -> list[ModelInfo]:
        return [self.info]

    async def aclose(self) -> None:
        """Closes this event loop's connections to the upstream."""
        await self.client.close()

    def _body(self, request: MessagesRequest, *, count: bool = False) -> dict[str, Any]:
        refuse_penalties(request, "Anthropic")
        refuse_logprobs(request, "an Anthropic upstream")
        raw = request.forwarded.body
        if raw is None:  # built by another dialect, or rewritten by a guardrail: the model's own fields
            body = request.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude=set(BASALT_ONLY))
            if count:
                for key in NOT_COUNTED:
                    body.pop(key, None)
            else:
                body["stream"] = request.stream
        else:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:  # the only JSON orjson refuses after validation: integers beyond 64 bits
                raise InvalidRequest("the request holds a number too large to forward (beyond 64 bits)") from None
            for key in BASALT_ONLY:
                body.pop(key, None)
        body["model"] = self.upstream_model
        return body

    def _headers(self, request: MessagesRequest) -> dict[str, str]:
        forwarded = request.forwarded
        headers = {"anthropic-version": DEFAULT_VERSION, **dict(forwarded.headers)}
        if forwarded.betas:
            headers["anthropic-beta"] = ",".join(forwarded.betas)
        return headers

    def _path(self, request: MessagesRequest, path: str) -> str:
        query = request.forwarded.query
        return f"{path}?{query}" if query else path

    async def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        body, headers = self._body(request), self._headers(request)
        response = await self.client.post(self._path(request, "/v1/messages"), body, self.name, headers)
        if not request.stream:
            yield unfold_message(await read_json(response, self.name), model)
            return
        try:
            async for events in sse_events(response, self.name):
                batch: EventBatch = []
                for name, data in events:
                    if name == "ping" or not isinstance(data, dict):
                        continue
                    if name == "error":
                        if batch:  # the events before the fault go out first, as they would have one by one
                            yield batch
                        message = data.get("error", {}).get("message")
                        raise InternalError(f"upstream {self.name} failed mid-stream: {message}")
                    if name == "message_start":
                        data["message"]["model"] = model
                    batch.append(data)
                if batch:
                    yield batch
        finally:
            response.release()

    async def count_tokens(self, request: MessagesRequest, model: str) -> int:
        path = self._path(request, "/v1/messages/count_tokens")
        response = await self.client.post(path, self._body(request, count=True), self.name, self._headers(request))
        return int((await read_json(response, self.name))["input_tokens"])
