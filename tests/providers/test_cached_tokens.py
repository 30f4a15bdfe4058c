"""Prefix-cache hits on the local model are reported as cache reads: Anthropic's `cache_read_input_tokens` (left out of
`input_tokens`), OpenAI's `prompt_tokens_details.cached_tokens` (inside `prompt_tokens`), and the ledger's
`cache_read_tokens`, priced as cache reads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from basalt import EngineSettings, InProcess, Settings

SYSTEM = "You are a terse assistant for a shipping company. " * 30  # a few hundred tokens, shared by every call


@pytest.fixture(scope="module")
def basalt(basalt_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    home = tmp_path_factory.mktemp("cached-home")
    (home / "models").symlink_to(basalt_home / "models")
    settings = Settings(home=home, engine=EngineSettings(context_window=2048, max_seqs=2))
    with InProcess(settings) as running:
        yield running


def ask(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


def test_anthropic_and_openai_report_prefix_hits(basalt: InProcess) -> None:
    client = basalt.anthropic()
    first = client.messages.create(model="smollm2", max_tokens=4, system=SYSTEM, messages=ask("Where is my parcel?"))
    assert first.usage.cache_read_input_tokens == 0  # nothing cached yet
    total = first.usage.input_tokens

    second = client.messages.create(model="smollm2", max_tokens=4, system=SYSTEM, messages=ask("Can I pay later?"))
    read = second.usage.cache_read_input_tokens or 0
    assert read >= total * 0.8  # the system prompt came from the cache
    assert second.usage.input_tokens + read > read  # input_tokens counts only what was computed

    with client.messages.stream(model="smollm2", max_tokens=4, system=SYSTEM, messages=ask("Do you ship?")) as stream:
        streamed = stream.get_final_message().usage  # message_start said 0; the message_delta's usage corrects it
    assert (streamed.cache_read_input_tokens or 0) >= total * 0.8

    messages = [{"role": "system", "content": SYSTEM}, *ask("Opening hours?")]
    completion = basalt.openai().chat.completions.create(model="smollm2", max_tokens=4, messages=messages)  # type: ignore[arg-type]
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    cached = usage.prompt_tokens_details.cached_tokens or 0
    assert cached >= total * 0.8 and usage.prompt_tokens > cached  # prompt_tokens includes the cached ones

    chunks = basalt.openai().chat.completions.create(
        model="smollm2",
        max_tokens=4,
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},  # type: ignore[arg-type]
    )
    last = [c for c in chunks if c.usage is not None][-1].usage
    assert last is not None and last.prompt_tokens_details is not None
    assert (last.prompt_tokens_details.cached_tokens or 0) >= total * 0.8

    deadline = time.monotonic() + 10  # the ledger writer flushes in the background
    while True:
        rows = basalt.http_client().get("/admin/usage", params={"records": "1"}).json()["data"]
        if len(rows) >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    reads = sorted(row["cache_read_tokens"] for row in rows)
    assert len(reads) == 5 and reads[0] == 0 and all(r >= total * 0.8 for r in reads[1:])
