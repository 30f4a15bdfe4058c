"""The prefix cache on the real model: a shared prompt prefix is computed once, and answers do not change."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from basalt.engine.core import EngineConfig
from basalt.engine.runtime import GenerationParams, LocalEngine
from basalt.engine.scheduler import MIN_WAIT_PREFIX

SYSTEM = " ".join(f"Rule {i}: answer politely, mention the number {i * 7}, and keep to the topic." for i in range(30))
QUESTIONS = ["What is a river?", "Name a famous painter.", "How do magnets work?", "What is bread made of?"]


def make_engine(model_path: Path) -> LocalEngine:
    engine = LocalEngine(model_path, EngineConfig(context_window=1024, max_seqs=4))
    engine.start()
    return engine


@pytest.fixture
def engine(model_path: Path) -> Iterator[LocalEngine]:
    e = make_engine(model_path)
    yield e
    e.stop()


def prompt(engine: LocalEngine, question: str) -> list[int]:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    return engine.tokenize(engine.template.render(messages))


async def answer(engine: LocalEngine, question: str) -> str:
    text = ""
    params = GenerationParams(max_tokens=24, temperature=0)
    async for out in engine.submit(prompt(engine, question), params):
        text += out.text
    return text


def cold_answers(model_path: Path) -> list[str]:
    """Each question on a fresh engine: nothing cached."""
    answers = []
    for q in QUESTIONS:
        fresh = make_engine(model_path)
        answers.append(asyncio.run(answer(fresh, q)))
        fresh.stop()
    return answers


def test_answers_are_identical_with_and_without_the_cached_prefix(engine: LocalEngine, model_path: Path) -> None:
    cold = cold_answers(model_path)
    assert len(prompt(engine, QUESTIONS[0])) > 400

    async def warm_sequential() -> list[str]:
        return [await answer(engine, q) for q in QUESTIONS]

    sequential = asyncio.run(warm_sequential())
    stats = engine.stats()
    shared = len(prompt(engine, QUESTIONS[0])) - 20
    assert stats.prefix_reused_tokens >= 3 * shared  # every request after the first reused the system prompt
    assert sequential == cold

    async def warm_concurrent() -> list[str]:
        return list(await asyncio.gather(*(answer(engine, q) for q in reversed(QUESTIONS))))

    before = engine.stats().prefix_reused_tokens
    concurrent = asyncio.run(warm_concurrent())
    assert list(reversed(concurrent)) == cold
    assert engine.stats().prefix_reused_tokens - before >= 4 * shared


def test_concurrent_prompts_sharing_a_new_prefix_compute_it_once(engine: LocalEngine) -> None:
    async def run() -> list[str]:
        return list(await asyncio.gather(*(answer(engine, q) for q in QUESTIONS)))

    answers = asyncio.run(run())
    assert all(answers)
    shared = len(prompt(engine, QUESTIONS[0])) - 20
    # The first request computed the system prompt; the three others waited for it, and copied it once no more than
    # MIN_WAIT_PREFIX of it was left to compute.
    assert engine.stats().prefix_reused_tokens >= 3 * (shared - MIN_WAIT_PREFIX)
