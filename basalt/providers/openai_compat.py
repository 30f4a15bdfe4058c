"""OpenAI Chat Completions upstreams: OpenAI itself and any compatible server (vLLM, Ollama, llama-server, Basalt).

Transport only: the request is encoded and the upstream's chunks or completion decoded by wire/chat.py, the codec
the OpenAI dialect shares. Anything Chat Completions cannot express (documents, thinking, server tools,
cache_control TTLs) is refused with a 400 there rather than dropped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from ..canonical import MessagesRequest
from ..errors import InvalidRequest
from ..wire.chat import ChunkDecoder, decode_completion, encode_request
from .base import EventBatch, ModelInfo, refuse_raw_prompt, refuse_unknown_fields
from .upstream_http import UpstreamClient, read_json


class OpenAICompatProvider:
    def __init__(self, name: str, upstream_model: str, base_url: str, api_key_env: str | None, timeout: float) -> None:
        self.name = name
        self.upstream_model = upstream_model
        key = os.environ.get(api_key_env or "OPENAI_API_KEY", "")
        headers = {"authorization": f"Bearer {key}"} if key else {}
        self.client = UpstreamClient(base_url, timeout, headers)
        self.info = ModelInfo(name, f"{upstream_model} via {base_url}", "2025-01-01T00:00:00Z", owned_by="openai")

    def models(self) -> list[ModelInfo]:
        return [self.info]

    async def aclose(self) -> None:
        """Closes this event loop's connections to the upstream."""
        await self.client.close()

    async def count_tokens(self, request: MessagesRequest, model: str) -> int:
        raise InvalidRequest(f"model {model} is served by a Chat Completions upstream, which cannot count tokens")

    def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        # What Chat Completions cannot express fails here, before any request is sent.
        refuse_unknown_fields(request, "a Chat Completions upstream")
        refuse_raw_prompt(request, "a Chat Completions upstream")  # its log-probabilities pass through (wire/chat.py)
        body = encode_request(request, self.upstream_model)
        if body["stream"]:
            return self.client.events("/chat/completions", body, self.name, ChunkDecoder(model))
        return self._whole(body, model)

    async def _whole(self, body: dict[str, Any], model: str) -> AsyncIterator[EventBatch]:
        # The caller wants one answer: ask the upstream for one too (one JSON body instead of a chunk per token), and
        # read it as a single chunk.
        response = await self.client.post("/chat/completions", body, self.name)
        yield decode_completion(await read_json(response, self.name), model)
