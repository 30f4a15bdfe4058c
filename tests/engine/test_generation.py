"""A generation's outputs cross from the engine thread to its reader through the mailbox, in order, whenever
they come."""

from __future__ import annotations

import asyncio
import threading

from basalt.engine.core import Output
from basalt.engine.runtime import Generation, _Mailbox


class _Core:
    def __init__(self) -> None:
        self.aborted: list[str] = []

    def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)


def _engine_thread(
    generations: list[Generation], announce: list[_Mailbox], steps: range, total: int
) -> threading.Thread:
    """Posts one output per generation per step (the last of `total` steps ends it), waking the loop once a step, as
    EngineCore does."""

    def run() -> None:
        for step in steps:
            for generation in generations:
                last = step == total - 1
                generation.deliver(Output(f"{generation.request_id}:{step} ", step + 1, "max_tokens" if last else None))
            while announce:
                announce.pop().wake()

    return threading.Thread(target=run)


def test_outputs_arrive_in_order_whether_posted_before_or_while_the_reader_waits() -> None:
    async def go() -> list[list[str]]:
        announce: list[_Mailbox] = []
        box = _Mailbox(asyncio.get_running_loop(), announce)
        core = _Core()
        generations = [Generation(core, f"g{i}", box) for i in range(3)]
        # The first steps are posted before anyone reads; the rest while the readers wait.
        _engine_thread(generations, announce, range(0, 2), 200).run()
        thread = _engine_thread(generations, announce, range(2, 200), 200)

        async def read(generation: Generation) -> list[str]:
            return [output.text async for output in generation]

        readers = asyncio.gather(*(read(g) for g in generations))
        await asyncio.sleep(0)
        thread.start()
        texts = await asyncio.wait_for(readers, 10)
        thread.join()
        assert core.aborted == []  # every generation ran to its end
        return texts

    texts = asyncio.run(go())
    for i, got in enumerate(texts):
        assert got == [f"g{i}:{step} " for step in range(200)]


def test_a_generation_read_to_its_end_after_waiting() -> None:
    async def go() -> list[int]:
        announce: list[_Mailbox] = []
        box = _Mailbox(asyncio.get_running_loop(), announce)
        generation = Generation(_Core(), "g", box)
        thread = _engine_thread([generation], announce, range(50), 50)

        async def read() -> list[int]:
            return [output.output_tokens async for output in generation]

        reader = asyncio.ensure_future(read())
        await asyncio.sleep(0.01)  # the reader is waiting on its future before anything is posted
        thread.start()
        counts = await asyncio.wait_for(reader, 10)
        thread.join()
        return counts

    assert asyncio.run(go()) == list(range(1, 51))


def test_leaving_early_aborts_the_sequence_once() -> None:
    async def go() -> _Core:
        announce: list[_Mailbox] = []
        box = _Mailbox(asyncio.get_running_loop(), announce)
        core = _Core()
        generation = Generation(core, "g", box)
        generation.deliver(Output("a", 1))
        generation.deliver(Output("b", 2))
        announce.pop().wake()
        iterator = aiter(generation)
        assert (await anext(iterator)).text == "a"
        await iterator.aclose()
        generation.close()
        return core

    assert asyncio.run(go()).aborted == ["g"]


def test_submit_hands_the_engine_its_priority_and_the_time_it_was_queued() -> None:
    """The request the engine core receives says whether it is batch work (the scheduler's priority) and when it was
    queued (the trace's queue wait): both must land in their own fields."""
    import itertools
    import time
    from types import SimpleNamespace

    from basalt.engine.core import EngineRequest
    from basalt.engine.runtime import GenerationParams, LocalEngine

    received: list[EngineRequest] = []
    core = SimpleNamespace(submit=lambda request: received.append(request) or True)
    engine = SimpleNamespace(core=core, _ids=itertools.count(), _mailbox=lambda: None)
    before = time.monotonic()
    for batch in (False, True):
        LocalEngine.submit(engine, [1, 2, 3], GenerationParams(max_tokens=4), object(), batch=batch)  # type: ignore[arg-type]
    assert [r.batch for r in received] == [False, True]
    assert all(before <= r.submitted <= time.monotonic() for r in received)
