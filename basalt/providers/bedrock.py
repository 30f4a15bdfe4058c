"""AWS Bedrock's Converse / ConverseStream API as an upstream, signed with SigV4 (or a Bedrock API key).

Requests are translated from the canonical form and the binary event stream (messageStart, contentBlockStart/Delta/
Stop, messageStop, metadata) back into canonical events by the Bedrock codec (`wire/bedrock.py`, which the Bedrock
dialect shares) and framing (`wire/eventstream.py`). Bedrock's exceptions arrive as HTTP errors before
the stream, or as exception messages inside it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import orjson

from ..canonical import MessagesRequest
from ..errors import InternalError, InvalidRequest, Overloaded, RateLimited
from ..wire.bedrock import ConverseStreamReader, to_converse_request
from ..wire.eventstream import EventStreamDecoder
from ..wire.sigv4 import Credentials, sign
from .base import Event, EventBatch, ModelInfo, refuse_logprobs, refuse_penalties, refuse_unknown_fields
from .upstream_http import UpstreamClient, UpstreamTimeout, read_batches, read_json

STREAM_EXCEPTIONS = {"throttlingException": RateLimited, "serviceUnavailableException": Overloaded,
                     "modelStreamErrorException": InternalError, "validationException": InvalidRequest,
                     "modelTimeoutException": UpstreamTimeout}  # fmt: skip


class BedrockProvider:
    def __init__(self, name: str, upstream_model: str, base_url: str, api_key_env: str | None, timeout: float) -> None:
        self.name = name
        self.upstream_model = upstream_model
        self.base_url = base_url.rstrip("/")
        found = re.search(r"bedrock-runtime[.-]([a-z0-9-]+)\.amazonaws", base_url)
        self.region = found.group(1) if found else os.environ.get("AWS_REGION", "us-east-1")
        self.api_key = os.environ.get(api_key_env, "") if api_key_env else ""
        self.client = UpstreamClient(base_url, timeout, {})
        self.info = ModelInfo(name, f"{upstream_model} on Bedrock", "2025-01-01T00:00:00Z", owned_by="aws-bedrock")

    def models(self) -> list[ModelInfo]:
        return [self.info]

    async def aclose(self) -> None:
        """Closes this event loop's connections to the upstream."""
        await self.client.close()

    def _headers(self, path: str, body: bytes) -> dict[str, str]:
        if self.api_key:
            return {"authorization": f"Bearer {self.api_key}"}
        access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not access or not secret:
            raise InternalError(f"no AWS credentials for {self.name}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        credentials = Credentials(access, secret, os.environ.get("AWS_SESSION_TOKEN"))
        return sign("POST", self.base_url + path, body, credentials, self.region)

    async def count_tokens(self, request: MessagesRequest, model: str) -> int:
        path = f"/model/{quote(self.upstream_model, safe='')}/count-tokens"
        body = orjson.dumps({"input": {"converse": _converse(request)}})
        response = await self.client.post(path, body, self.name, self._headers(path, body))
        return int((await read_json(response, self.name))["inputTokens"])

    async def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        path = f"/model/{quote(self.upstream_model, safe='')}/converse-stream"
        body = orjson.dumps(_converse(request))
        response = await self.client.post(path, body, self.name, self._headers(path, body))
        reader, decoder = ConverseStreamReader(model), EventStreamDecoder()

        def events_of(data: bytes) -> Iterator[Event]:
            for message in decoder.feed(data):
                if message.headers.get(":message-type") == "exception":
                    kind = message.headers.get(":exception-type", "")
                    text = json.loads(message.payload or b"{}").get("message", kind)
                    raise STREAM_EXCEPTIONS.get(kind, InternalError)(f"upstream {self.name}: {kind}: {text}")
                payload = json.loads(message.payload) if message.payload else {}
                yield from reader.feed(message.headers.get(":event-type", ""), payload)

        try:
            async for batch in read_batches(response, self.name, events_of):
                yield batch
            yield reader.finish()
        finally:
            response.release()


def _converse(request: MessagesRequest) -> dict[str, Any]:
    """The Converse body; what no translation carries (penalties, fields Basalt does not know) is refused first."""
    refuse_penalties(request, "Bedrock Converse")
    refuse_unknown_fields(request, "a Bedrock Converse upstream")
    refuse_logprobs(request, "a Bedrock Converse upstream")
    return to_converse_request(request)
