"""The service inside the caller's process, reached by the official SDK clients with no port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from basalt import EngineSettings, InProcess, Settings

ASK = [{"role": "user", "content": "Name three rivers."}]


@pytest.fixture(scope="module")
def basalt(basalt_home: Path) -> Iterator[InProcess]:
    settings = Settings(
        home=basalt_home, aliases={"claude-haiku": "smollm2"}, engine=EngineSettings(context_window=1024, max_seqs=4)
    )
    with InProcess(settings) as running:
        yield running


def test_anthropic_client_create_and_stream(basalt: InProcess) -> None:
    client = basalt.anthropic()
    message = client.messages.create(model="claude-haiku", max_tokens=12, messages=ASK, extra_body={"temperature": 0})
    assert message.usage.output_tokens > 0 and message.content[0].text
    with client.messages.stream(model="smollm2", max_tokens=12, messages=ASK, extra_body={"temperature": 0}) as stream:
        chunks = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(chunks) > 1  # delivered incrementally, not as one body
    assert "".join(chunks) == message.content[0].text == final.content[0].text


def test_openai_client(basalt: InProcess) -> None:
    completion = basalt.openai().chat.completions.create(model="smollm2", messages=ASK, max_tokens=5)
    assert completion.usage is not None and completion.usage.completion_tokens == 5


def test_errors_arrive_as_sdk_exceptions(basalt: InProcess) -> None:
    with pytest.raises(anthropic.NotFoundError):
        basalt.anthropic(max_retries=0).messages.create(model="missing", max_tokens=5, messages=ASK)


def test_async_clients_on_the_callers_loop(basalt: InProcess) -> None:
    async def run() -> tuple[str, int]:
        client = basalt.async_anthropic()
        async with client.messages.stream(model="smollm2", max_tokens=6, messages=ASK) as stream:
            text = "".join([t async for t in stream.text_stream])
        completion = await basalt.async_openai().chat.completions.create(model="smollm2", messages=ASK, max_tokens=4)
        return text, completion.usage.completion_tokens  # type: ignore[union-attr]

    text, tokens = asyncio.run(run())
    assert text and tokens == 4


def test_a_batch_runs_in_process(basalt: InProcess) -> None:
    client = basalt.anthropic()
    ask = {"model": "smollm2", "max_tokens": 3, "messages": [{"role": "user", "content": "Hi"}]}
    batch = client.messages.batches.create(requests=[{"custom_id": "only", "params": ask}])
    deadline = time.monotonic() + 60
    while batch.processing_status != "ended":
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)
        batch = client.messages.batches.retrieve(batch.id)
    [line] = list(client.messages.batches.results(batch.id))
    assert line.custom_id == "only" and line.result.type == "succeeded"


def test_leaving_a_stream_early_frees_its_sequence(basalt: InProcess) -> None:
    engine = basalt.platform.engine
    assert engine is not None
    before = engine.stats().aborted
    client = basalt.anthropic()
    with client.messages.stream(
        model="smollm2", max_tokens=500, messages=ASK, extra_body={"ignore_eos": True}
    ) as stream:
        for i, _ in enumerate(stream.text_stream):
            if i == 3:
                break
    import time

    deadline = time.monotonic() + 5
    while engine.stats().aborted == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.stats().aborted == before + 1
    assert engine.stats().running == 0


def test_a_full_queue_answers_overloaded_with_retry_after(basalt_home: Path) -> None:
    settings = Settings(home=basalt_home, engine=EngineSettings(context_window=512, max_seqs=1, max_waiting=0))
    with InProcess(settings) as full:
        with pytest.raises(anthropic.APIStatusError) as a:
            full.anthropic(max_retries=0).messages.create(model="smollm2", max_tokens=5, messages=ASK)
        assert a.value.status_code == 529
        assert a.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
        assert a.value.response.headers["retry-after"] == "1"
        with pytest.raises(openai.APIStatusError) as o:
            full.openai(max_retries=0).chat.completions.create(model="smollm2", messages=ASK, max_tokens=5)
        assert o.value.status_code == 503 and o.value.response.headers["retry-after"] == "1"
