"""The local engine as the async world sees it: a loaded model, its chat template, and `generate()`."""

from __future__ import annotations

import asyncio
import itertools
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..errors import InvalidRequest, Overloaded
from .core import EngineConfig, EngineCore, EngineRequest, EngineStats, Output
from .llama import LlamaModel, Sampler
from .template import ChatTemplate

T = TypeVar("T")


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    grammar: str | None = None
    grammar_trigger: str | None = None  # the grammar applies only from this text on (a lazy grammar)
    ignore_eos: bool = False
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    logprobs: int | None = None  # each output token's log-probability and this many alternatives (engine/logprobs.py)
    prompt_logprobs: bool = False  # each prompt token's too (the prompt is then computed whole, past the prefix cache)


class LocalEngine:
    def __init__(self, model_path: str | Path, config: EngineConfig | None = None) -> None:
        self.model = LlamaModel(model_path)
        bos = self.model.meta("tokenizer.ggml.bos_token_id")
        eos = self.model.meta("tokenizer.ggml.eos_token_id")
        self.template = ChatTemplate(
            self.model.chat_template(),
            bos_token=self.model.token_text(int(bos)) if bos else "",
            eos_token=self.model.token_text(int(eos)) if eos else "",
        )
        self._announce: list[_Mailbox] = []  # mailboxes holding outputs their loop has not been told about
        self.core = EngineCore(self.model, config or EngineConfig(), flush=self._wake_loops)
        self.context_window = self.core.scheduler.seq_capacity
        self._ids = itertools.count()
        self._mailboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Mailbox] = weakref.WeakKeyDictionary()
        # Preparing a large request (templating, tokenizing, compiling a grammar) runs here, off the event loop. Two
        # workers: one long preparation does not hold up the next, and few threads compete with the engine thread
        # for the GIL (templating is Python; tokenizing and grammar parsing are C that releases it).
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="basalt-prepare")
        # Batch items are prepared on a worker of their own, so an interactive request's preparation never queues
        # behind a batch's (a batch worker keeps dozens of items in flight).
        self._batch_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="basalt-prepare-batch")
        self.turn_tokens = _turn_tokens(self.template, self.tokenize)

    def start(self) -> None:
        self.core.start()

    def stop(self) -> None:
        self._workers.shutdown(wait=True, cancel_futures=True)
        self._batch_worker.shutdown(wait=True, cancel_futures=True)
        self.core.stop()
        self.model.close()

    async def offload(self, work: Callable[[], T], discard: Callable[[T], None], *, batch: bool = False) -> T:
        """Run `work` on a preparation worker (the batch one for batch work). If the caller is cancelled (its client
        left) before the work ends, the work still ends, and its result goes to `discard`, which frees what it holds
        (a sampler)."""
        workers = self._batch_worker if batch else self._workers
        future = asyncio.get_running_loop().run_in_executor(workers, work)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(lambda done: _discard(done, discard))
            raise

    def stats(self) -> EngineStats:
        return self.core.stats()

    def tokenize(self, text: str) -> list[int]:
        return self.model.tokenize(text)

    def _mailbox(self) -> _Mailbox:
        """One mailbox per event loop that consumes outputs (the server's, or an in-process caller's)."""
        loop = asyncio.get_running_loop()
        box = self._mailboxes.get(loop)
        if box is None:
            box = self._mailboxes[loop] = _Mailbox(loop, self._announce)
        return box

    def _wake_loops(self) -> None:
        """On the engine thread, once a step's outputs are all posted: one wake-up per loop for all of them."""
        while self._announce:
            self._announce.pop().wake()

    def sampler(self, params: GenerationParams) -> Sampler:
        """The sampler chain for `params`; with a grammar, llama.cpp parses it here (any thread will do)."""
        try:
            return Sampler(
                self.model,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=params.top_k,
                seed=params.seed,
                grammar=params.grammar,
                grammar_trigger=params.grammar_trigger,
                frequency_penalty=params.frequency_penalty,
                presence_penalty=params.presence_penalty,
            )
        except ValueError as exc:
            raise InvalidRequest(f"the requested output format cannot be enforced: {exc}") from exc

    def submit(
        self, prompt: list[int], params: GenerationParams, sampler: Sampler | None = None, *, batch: bool = False
    ) -> Generation:
        """Queue a sequence now (raising Overloaded if the queue is full) and return its stream of outputs. The
        sampler, made by `sampler(params)` when not given, belongs to the engine from here on. A `batch` sequence
        runs only in capacity interactive ones leave (see engine/scheduler.py)."""
        if sampler is None:
            sampler = self.sampler(params)
        generation = Generation(self.core, f"seq-{next(self._ids)}", self._mailbox())
        request = EngineRequest(
            generation.request_id,
            prompt,
            params.max_tokens,
            sampler,
            generation.deliver,
            params.stop,
            params.ignore_eos,
            batch=batch,
            logprobs=params.logprobs,
            prompt_logprobs=params.prompt_logprobs,
        )
        if not self.core.submit(request):
            sampler.free()
            raise Overloaded("The local engine's queue is full; retry shortly.", retry_after=1)
        return generation


def _discard(done: asyncio.Future[T], discard: Callable[[T], None]) -> None:
    if not done.cancelled() and done.exception() is None:
        discard(done.result())


def _turn_tokens(template: ChatTemplate, tokenize: Callable[[str], list[int]]) -> int:
    """The fewest tokens one more turn of a conversation adds to a prompt, whatever its text: a lower bound on a
    prompt's length taken before rendering it (0 when the template will not say). One is taken off each measure for
    a token the new turn's text might merge with the one before it."""
    turns = [{"role": role, "content": ""} for role in ("user", "assistant")] * 3
    try:
        counts = [len(tokenize(template.render(turns[:n], add_generation_prompt=False))) for n in range(1, 7)]
    except Exception:  # a template that refuses this conversation (empty turns, say): no bound
        return 0
    return max(0, min(b - a for a, b in itertools.pairwise(counts)) - 1)


class _Mailbox:
    """Carries outputs from the engine thread to one event loop, waking the loop once per step, not per token.

    The wake-up comes after the step's last output, not its first, when the engine is about to start its next step
    (see EngineCore): a loop woken earlier would wait for the GIL while the engine finishes its work between steps."""

    def __init__(self, loop: asyncio.AbstractEventLoop, announce: list[_Mailbox]) -> None:
        self.loop = loop
        self._announce = announce
        self._items: list[tuple[Generation, Output]] = []
        self._lock = threading.Lock()
        self._scheduled = False

    def post(self, generation: Generation, output: Output) -> None:
        with self._lock:
            self._items.append((generation, output))
            if self._scheduled:
                return
            self._scheduled = True
        self._announce.append(self)

    def wake(self) -> None:
        # On the engine thread right before a decode step: a plain try costs less than contextlib.suppress.
        try:  # noqa: SIM105
            self.loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the event loop is gone: nobody is listening any more
            pass

    def _drain(self) -> None:
        with self._lock:
            items, self._items, self._scheduled = self._items, [], False
        for generation, output in items:
            generation.receive(output)


class Generation:
    """One sequence's outputs as an async iterator. Closing it before the end (a client gone) frees the sequence.

    Outputs wait in a deque, and the one reader in a future of its own: an asyncio.Queue does the same with several
    times the calls (counters, events, waiter lists), on every token."""

    def __init__(self, core: EngineCore, request_id: str, mailbox: _Mailbox) -> None:
        self.request_id = request_id
        self._core = core
        self._mailbox = mailbox
        self._outputs: deque[Output] = deque()
        self._reader: asyncio.Future[None] | None = None
        self._finished = False

    def deliver(self, output: Output) -> None:
        """Called on the engine thread."""
        self._mailbox.post(self, output)

    def receive(self, output: Output) -> None:
        """Called on the event loop, by the mailbox."""
        self._outputs.append(output)
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    def __aiter__(self) -> AsyncIterator[Output]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Output]:
        outputs = self._outputs
        try:
            while not self._finished:
                if not outputs:
                    self._reader = self._mailbox.loop.create_future()
                    await self._reader
                output = outputs.popleft()
                self._finished = output.finish_reason is not None
                yield output
        finally:
            self._reader = None
            self.close()

    def close(self) -> None:
        if not self._finished:
            self._finished = True
            self._core.abort(self.request_id)
