"""Continuous batching, seen from outside: same answers batched or not, correct counts, cancellation."""

from __future__ import annotations

import asyncio
import time

import httpx2 as httpx

from .conftest import Server

QUESTIONS = [
    "Why is the sky blue?",
    "Write a haiku about the sea.",
    "Explain gravity to a child.",
    "List three fruits and their colours.",
    "Tell me a joke about computers.",
    "Describe a cat in two sentences.",
    "What is Python used for?",
    "How do birds fly?",
    "What causes rain?",
    "Say hello in French and Spanish.",
    "What is a computer?",
    "Count from one to ten in words.",
    "Name the planets of the solar system.",
    "What is the capital of Japan?",
    "Give me a recipe for pancakes.",
    "Why do leaves change colour in autumn?",
]


def ask(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


def test_same_text_alone_and_in_a_batch_of_16(server: Server) -> None:
    async def run() -> tuple[str, list[str]]:
        client = server.async_anthropic()
        probe = QUESTIONS[0]
        alone = await client.messages.create(
            model="smollm2", max_tokens=48, messages=ask(probe), extra_body={"temperature": 0}
        )
        batch = await asyncio.gather(
            *(
                client.messages.create(model="smollm2", max_tokens=48, messages=ask(q), extra_body={"temperature": 0})
                for q in QUESTIONS
            )
        )
        return alone.content[0].text, [m.content[0].text for m in batch]  # type: ignore[union-attr]

    alone, batched = asyncio.run(run())
    assert batched[0] == alone
    assert len(set(batched)) > 8  # the batch really held different prompts


def test_sixteen_concurrent_streams_finish_with_correct_counts(server: Server) -> None:
    async def one(client: object, question: str, n: int) -> tuple[int, int, str]:
        deltas = 0
        async with client.messages.stream(  # type: ignore[attr-defined]
            model="smollm2", max_tokens=n, messages=ask(question), extra_body={"ignore_eos": True}
        ) as stream:
            async for event in stream:
                if event.type == "content_block_delta":
                    deltas += 1
            final = await stream.get_final_message()
        return final.usage.output_tokens, deltas, final.stop_reason

    async def run() -> list[tuple[int, int, str]]:
        client = server.async_anthropic()
        return await asyncio.gather(*(one(client, q, 20 + i) for i, q in enumerate(QUESTIONS)))

    results = asyncio.run(run())
    for i, (output_tokens, deltas, stop_reason) in enumerate(results):
        assert stop_reason == "max_tokens"
        assert output_tokens == 20 + i
        assert 0 < deltas <= output_tokens


def test_disconnect_frees_the_sequence_while_others_finish(server: Server) -> None:
    before = server.metrics()

    async def keep(client: object) -> int:
        message = await client.messages.create(  # type: ignore[attr-defined]
            model="smollm2", max_tokens=60, messages=ask("Tell me a long story."), extra_body={"ignore_eos": True}
        )
        return int(message.usage.output_tokens)

    async def abandon() -> None:
        body = {
            "model": "smollm2",
            "max_tokens": 2000,
            "stream": True,
            "messages": ask("Tell me a very long story."),
            "ignore_eos": True,
        }
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=60) as raw,
            raw.stream("POST", "/v1/messages", json=body) as response,
        ):
            assert response.status_code == 200
            seen = 0
            async for line in response.aiter_lines():
                seen += line.startswith("event: content_block_delta")
                if seen >= 5:
                    break  # leave mid-stream: the connection closes

    async def run() -> list[int]:
        client = server.async_anthropic()
        others = [asyncio.ensure_future(keep(client)) for _ in range(3)]
        await abandon()
        return list(await asyncio.gather(*others))

    assert asyncio.run(run()) == [60, 60, 60]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = server.metrics()
        if after["basalt_engine_aborted_sequences_total"] > before["basalt_engine_aborted_sequences_total"]:
            break
        time.sleep(0.1)
    assert after["basalt_engine_aborted_sequences_total"] == before["basalt_engine_aborted_sequences_total"] + 1
    assert after["basalt_engine_running_sequences"] == 0
    assert after["basalt_engine_kv_cells_used"] == 0
    # The abandoned request asked for 2,000 tokens; far fewer were generated for it.
    generated = after["basalt_engine_generated_tokens_total"] - before["basalt_engine_generated_tokens_total"]
    assert generated < 180 + 200
