"""Sampling on the real model: a step that mixes greedy sequences with sampled ones gives each its own logits row."""

from __future__ import annotations

import asyncio
from pathlib import Path

from basalt.engine.core import EngineConfig
from basalt.engine.runtime import GenerationParams, LocalEngine

PROMPTS = ["Name three rivers.", "Describe a quiet morning.", "What is a prime number?"]


async def answer(engine: LocalEngine, question: str, temperature: float) -> str:
    prompt = engine.tokenize(engine.template.render([{"role": "user", "content": question}]))
    params = GenerationParams(max_tokens=24, temperature=temperature, seed=7, ignore_eos=True)
    return "".join([out.text async for out in engine.submit(prompt, params)])


def test_greedy_answers_are_unchanged_by_sampled_neighbours_in_the_same_steps(model_path: Path) -> None:
    engine = LocalEngine(model_path, EngineConfig(context_window=512, max_seqs=4))
    engine.start()
    try:

        async def run() -> tuple[list[str], list[str]]:
            alone = [await answer(engine, q, 0) for q in PROMPTS[:2]]
            # Slots 0-3: greedy, sampled, greedy, sampled, all decoding together.
            mixed = await asyncio.gather(
                answer(engine, PROMPTS[0], 0),
                answer(engine, PROMPTS[2], 1.0),
                answer(engine, PROMPTS[1], 0),
                answer(engine, PROMPTS[2], 1.5),
            )
            return alone, [mixed[0], mixed[2]]

        alone, mixed = asyncio.run(run())
    finally:
        engine.stop()
    assert all(alone) and mixed == alone
