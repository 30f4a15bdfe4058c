"""Anthropic's Messages API upstream. The canonical form is this API's, so requests and events pass through whole."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from ..canonical import MessagesRequest
from ..errors import InternalError
from .base import EventBatch, ModelInfo, refuse_penalties
from .upstream_http import UpstreamClient, read_json, sse_events

BASALT_ONLY = ("seed", "ignore_eos", "frequency_penalty", "presence_penalty")  # extensions unknown to Anthropic


class AnthropicProvider:
    def __init__(self, name: str, upstream_model: str, base_url: str, api_key_env: str | None, timeout: float) -> None:
        self.name = name
        self.upstream_model = upstream_model
        headers = {"anthropic-version": "2023-06-01"}
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

    def _body(self, request: MessagesRequest, *, stream: bool) -> dict[str, Any]:
        refuse_penalties(request, "Anthropic")
        body = request.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude=set(BASALT_ONLY))
        body["model"] = self.upstream_model
        body["stream"] = stream
        return body

    async def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        headers = {"anthropic-beta": ",".join(request.betas)} if request.betas else None
        response = await self.client.post("/v1/messages", self._body(request, stream=True), self.name, headers)
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
        body = self._body(request, stream=False)
        for key in ("max_tokens", "stream", "stop_sequences", "temperature", "top_p", "top_k", "metadata"):
            body.pop(key, None)
        response = await self.client.post("/v1/messages/count_tokens", body, self.name)
        return int((await read_json(response, self.name))["input_tokens"])
