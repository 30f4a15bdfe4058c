"""An in-memory provider answered by a function, as httpx's `MockTransport` answers a client: the flow and
everything around it can be tested with no socket, no model and no upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable

from ..canonical import MessagesRequest
from ..canonical.events import EventWriter
from .base import EventBatch, ModelInfo

# Given the request as it reached the provider (after input guardrails), the answer's event batches; raising a
# BasaltError is the provider refusing or failing before its first event.
Handler = Callable[[MessagesRequest], Iterable[EventBatch]]


class MockProvider:
    def __init__(self, handler: Handler, model: str = "mock") -> None:
        self.handler = handler
        self.info = ModelInfo(model, f"{model} (in memory)", "2025-01-01T00:00:00Z", owned_by="mock")
        self.requests: list[MessagesRequest] = []  # every request it was asked, in order

    def models(self) -> list[ModelInfo]:
        return [self.info]

    async def stream(self, request: MessagesRequest, model: str) -> AsyncIterator[EventBatch]:
        self.requests.append(request)
        for batch in self.handler(request):
            yield batch

    async def count_tokens(self, request: MessagesRequest, model: str) -> int:
        return sum(len(m.model_dump_json()) for m in request.messages) // 4 + 1

    async def aclose(self) -> None:
        """Nothing to release."""


def text_answer(*pieces: str, input_tokens: int = 5) -> Handler:
    """A handler answering every request with these text deltas (one batch each) and end_turn."""

    def handler(request: MessagesRequest) -> list[EventBatch]:
        writer = EventWriter(request.model)
        writer.usage["input_tokens"] = input_tokens
        batches = [writer.start()] + [writer.text(piece) for piece in pieces]
        writer.usage["output_tokens"] = len(pieces)
        return [*batches, writer.end("end_turn")]

    return handler
