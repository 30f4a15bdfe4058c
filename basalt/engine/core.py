"""The engine core: one thread running the decode loop over a continuously changing batch.

Requests arrive from any thread through `submit()` and `abort()`; outputs leave through each request's callback,
called on the engine thread. The loop runs apart from the HTTP event loop, and llama.cpp releases the GIL while it
computes, so serving never waits on a decode step.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .llama import ContextConfig, LlamaContext, LlamaModel, Sampler
from .logprobs import TokenLogprob, block_logprobs, token_logprob
from .scheduler import ScheduledChunk, Scheduler, SchedulerOutput, Sequence
from .text import TextStream

log = logging.getLogger("basalt.engine")


@dataclass(frozen=True)
class EngineConfig:
    context_window: int = 4096  # tokens per sequence (prompt and output); each sequence has its own KV stream
    max_seqs: int = 16  # sequences decoded together; more wait in the queue
    n_batch: int = 512  # tokens per decode step
    prefill_chunk: int = 256  # prompt tokens per sequence per step, so running streams keep flowing
    n_threads: int = 0  # 0: one per core
    poll: int | None = 0  # llama.cpp thread pool polling, 0-100; None: no persistent pool
    max_waiting: int = 256  # queued requests beyond which new ones are refused as overloaded
    batch_reserve: int = 2  # slots batch sequences never take: interactive requests find them free
    # Measured on a 2-core VM (docs/benchmarks.md, batches): these keep an interactive request's wait for the step in
    # flight short; a GPU, whose steps cost little more for more tokens, can raise both.
    batch_prefill: int = 16  # batch prompt tokens per step at most (bounds the step an interactive request waits on)
    batch_busy_decode: int | None = 4  # batch sequences decoding per step while interactive ones run (None: all)
    batch_busy_linger: float = 0.5  # seconds those bounds hold after the last interactive sequence left


@dataclass(frozen=True)
class SequenceTimings:
    """When a sequence was submitted, first ran (its queue wait ends, its prefill starts), got its first token (the
    prefill ends, decoding starts) and ended, in monotonic seconds; None for a step it never reached."""

    submitted: float
    started: float | None
    first_token: float | None
    ended: float


@dataclass
class Output:
    """What one step produced for one request. `text` is a delta; counts are cumulative."""

    text: str
    output_tokens: int
    finish_reason: str | None = None  # end_turn | max_tokens | stop_sequence | context_full | aborted | error
    stop_sequence: str | None = None
    error: str | None = None
    timings: SequenceTimings | None = None  # on the last output only
    cached_tokens: int = 0  # on the last output: prompt tokens whose keys and values came from the prefix cache
    # The tokens behind `text` (since the last output), when asked for; an end-of-turn token that ended the answer
    # comes last (a legacy completion reports it, a chat answer does not).
    logprobs: list[TokenLogprob] | None = None
    # Per prompt position (None for the first, which nothing predicts), on the first output, when asked for.
    prompt_logprobs: list[TokenLogprob | None] | None = None


@dataclass(eq=False)
class EngineRequest:
    request_id: str
    prompt: list[int]
    max_tokens: int
    sampler: Sampler
    on_output: Callable[[Output], None]
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    submitted: float = field(default_factory=time.monotonic)
    batch: bool = False  # batch work: scheduled into capacity interactive requests leave
    logprobs: int | None = None  # report each output token's log-probability and this many alternatives
    prompt_logprobs: bool = False  # and each prompt token's (the whole prompt is computed, no prefix cache)


@dataclass
class EngineStats:
    running: int
    waiting: int
    kv_cells_used: int
    kv_cells_cached: int
    kv_cells: int
    prefix_reused_tokens: int
    steps: int
    tokens_generated: int
    aborted: int
    batch_running: int = 0
    preemptions: int = 0  # batch sequences that gave their slot to an interactive one
    prefill_tokens: int = 0  # prompt tokens computed (not taken from the prefix cache)
    sequence_steps: int = 0  # sequences in each step, summed
    batch_steps: int = 0  # steps that ran batch sequences
    batch_idle_fed: int = 0  # free batch slots in those steps, summed, while batch items were queued
    batch_idle_starved: int = 0  # the same with no batch item queued: the feed fell short (or the batch's tail)


@dataclass(eq=False)
class _Live:
    request: EngineRequest
    seq: Sequence
    text: TextStream
    emitted: int = field(default=0)
    started: float | None = None  # the first step it was in
    first_token: float | None = None
    logprobs: list[TokenLogprob] | None = None  # output tokens' log-probabilities not yet handed over
    prompt_logprobs: list[TokenLogprob | None] | None = None  # filled by position as the prompt's chunks run
    prompt_sent: bool = False


class EngineCore:
    """`flush` is called on the engine thread once outputs were handed to callbacks: right before the next decode
    step starts, or before the engine waits for work. A consumer can collect outputs as they come and wake its own
    thread once for all of them."""

    def __init__(self, model: LlamaModel, config: EngineConfig, flush: Callable[[], None] = lambda: None) -> None:
        threads = config.n_threads or len(os.sched_getaffinity(0))
        self.model = model
        self.config = config
        self._flush = flush
        # Separate KV streams (not llama.cpp's unified cache), flash attention, and keys in Q8_0: with a quantized K
        # cache ggml's CPU attention runs one kernel for every query row, over the same cell layout, whatever else is
        # in the batch, so a prompt gives the same tokens alone and batched, cached or not, at temperature 0. (With
        # F16 keys it switches to other kernels for a lone sequence whose attention spans 512+ cells and for prompt
        # chunks of 64+ tokens, which round differently.) Values in F16: that kernel then accumulates them in F16
        # without dequantizing each cell first, measured 4-10% faster decoding than Q8_0 values (more at longer
        # contexts). Keys unrotated: llama.cpp's Hadamard rotation of quantized keys cost 2% of a decode step at one
        # sequence, and Q8_0 barely needs it (teacher-forced against F16 keys, the same next token at 97.4% of
        # positions without it, 97.6% with it).
        self.ctx = LlamaContext(
            model,
            ContextConfig(
                n_ctx=config.context_window * config.max_seqs,
                n_batch=config.n_batch,
                n_seq_max=config.max_seqs,
                n_threads=threads,
                kv_unified=False,
                flash_attn=1,
                type_k=8,
                type_v=1,
                rotate_k=False,
                poll=config.poll,
            ),
        )
        self.scheduler = Scheduler(
            max_seqs=config.max_seqs,
            seq_capacity=min(config.context_window, model.n_ctx_train),
            token_budget=config.n_batch,
            prefill_chunk=config.prefill_chunk,
            batch_reserve=config.batch_reserve,
            batch_prefill=config.batch_prefill,
            batch_busy_decode=config.batch_busy_decode,
            batch_busy_linger=config.batch_busy_linger,
        )
        self._inbox: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        self._live: dict[str, _Live] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._steps = 0
        self._generated = 0
        self._aborted = 0
        self._queued = 0  # submitted and not yet running; read from other threads for admission
        self._scoring = 0  # live requests that asked for log-probabilities (0: the steps skip all of that)
        self._lock = threading.Lock()

    # -- any thread ----------------------------------------------------------------------------------------------
    def submit(self, request: EngineRequest) -> bool:
        """Queue a request; False when the queue is full (the caller answers 'overloaded')."""
        with self._lock:
            if self._queued >= self.config.max_waiting:
                return False
            self._queued += 1
        self._inbox.put(("add", request))
        return True

    def abort(self, request_id: str) -> None:
        self._inbox.put(("abort", request_id))

    def stats(self) -> EngineStats:
        s = self.scheduler
        return EngineStats(
            running=len(s.running),
            waiting=s.n_waiting + self._inbox.qsize(),
            kv_cells_used=s.cells_used,
            kv_cells_cached=s.cells_cached,
            kv_cells=s.seq_capacity * s.max_seqs,
            prefix_reused_tokens=s.reused_tokens,
            steps=self._steps,
            tokens_generated=self._generated,
            aborted=self._aborted,
            batch_running=sum(seq.batch for seq in s.running),
            preemptions=s.preemptions,
            prefill_tokens=s.prefill_tokens,
            sequence_steps=s.sequence_steps,
            batch_steps=s.batch_steps,
            batch_idle_fed=s.batch_idle_fed,
            batch_idle_starved=s.batch_idle_starved,
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="basalt-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._inbox.put(("wake", None))
        if self._thread is not None:
            self._thread.join()
        for live in list(self._live.values()):
            self._end(live, "aborted")
        self._flush()
        self.ctx.close()

    # -- engine thread -------------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping:
            idle = not self.scheduler.has_work()
            if idle:  # no decode step comes to hand the last outputs over: hand them over before waiting
                self._flush()
            self._drain_inbox(block=idle)
            if self._stopping:
                break
            try:
                if not self.step():
                    self._flush()
                    self._drain_inbox_briefly()
            except Exception as exc:  # a failed step must not kill the loop that serves everyone else
                log.exception("engine step failed")
                for live in list(self._live.values()):
                    self._end(live, "error", error=f"the local engine failed: {exc}")
                self._flush()

    def _drain_inbox(self, block: bool) -> None:
        if not block and self._inbox.empty():  # the usual case between two steps: no exception raised and caught
            return
        try:
            item = self._inbox.get(block=block)
            while True:
                self._handle(*item)
                item = self._inbox.get_nowait()
        except queue.Empty:
            pass

    def _drain_inbox_briefly(self) -> None:
        with contextlib.suppress(queue.Empty):
            self._handle(*self._inbox.get(timeout=0.01))

    def _handle(self, kind: str, payload: object) -> None:
        if kind == "add":
            assert isinstance(payload, EngineRequest)
            with self._lock:
                self._queued -= 1
            self._admit(payload)
        elif kind == "abort":
            live = self._live.get(str(payload))
            if live is not None:
                self._aborted += 1
                self._end(live, "aborted")

    def _admit(self, request: EngineRequest) -> None:
        seq = Sequence(
            request.request_id, request.prompt, request.max_tokens, batch=request.batch,
            score_prompt=request.prompt_logprobs,
        )  # fmt: skip
        try:
            self.scheduler.add(seq)
        except ValueError as exc:
            request.sampler.free()
            request.on_output(Output("", 0, "error", error=str(exc)))
            return
        live = _Live(request, seq, TextStream(self.model.piece, request.stop))
        if request.logprobs is not None or request.prompt_logprobs:
            self._scoring += 1
            live.logprobs = [] if request.logprobs is not None else None
            live.prompt_logprobs = [None] * len(request.prompt) if request.prompt_logprobs else None
        self._live[request.request_id] = live

    def step(self) -> bool:
        """Run one decode step; False when there was nothing to run."""
        plan = self.scheduler.schedule()
        for op in plan.cache_ops:
            if op.src != op.dst:
                self.ctx.copy_stream(op.src, op.dst)
            self.ctx.forget(op.dst, op.keep)
        if not plan.chunks:
            return False
        batch = self.ctx.batch
        batch.clear()
        sample_at: list[tuple[str, int, Sampler]] = []  # (request, batch index, sampler) in batch order
        # Prompt chunks whose every position's logits are kept (log-probabilities): (live, chunk, its first row).
        scored: list[tuple[_Live, ScheduledChunk, int]] = []
        rows: list[int] = []  # each sample's logits row: one row per position of a scored chunk, else one a sample
        n_rows = 0
        # In seq_id order: llama.cpp splits a batch over separate KV streams into micro-batches, and sequences out of
        # stream order make it run one micro-batch per sequence (measured: 2.2x slower decode at 16 sequences).
        now = time.monotonic()
        for chunk in sorted(plan.chunks, key=lambda c: c.seq.seq_id):
            live = self._live[chunk.seq.request_id]
            every = bool(self._scoring) and live.prompt_logprobs is not None and chunk.start < len(chunk.seq.prompt) - 1
            index = batch.add(chunk.tokens, chunk.start, chunk.seq.seq_id, chunk.sample, every)
            if every:
                scored.append((live, chunk, n_rows))
                n_rows += len(chunk.tokens)
            elif chunk.sample:
                n_rows += 1
            if live.started is None:  # its first step: the queue wait ends, the prefill starts
                live.started = now
            if chunk.sample:
                sample_at.append((chunk.seq.request_id, index, live.request.sampler))
                rows.append(n_rows - 1)
        # The consumers are woken only now, with the step ready to go: llama_decode releases the GIL a moment
        # later, so a woken event loop finds it free instead of waiting on it while this thread builds the batch.
        self._flush()
        rc = self.ctx.decode()
        self._steps += 1
        if rc != 0:
            self._recover(plan, rc)
            return True
        if scored:  # rows for every position of the scored chunks: the samples' rows are picked out of them
            every_row = self.ctx.logits(n_rows)
            self._score_prompts(scored, every_row)
            picked = every_row[rows]
        else:
            picked = self.ctx.logits(len(sample_at))
        sampled = self._sample(sample_at, picked)
        self.scheduler.update_from_output(plan, sampled)
        if self._scoring:
            self._token_logprobs(sample_at, sampled, picked)
        for request_id, token in sampled.items():
            self._on_token(self._live[request_id], token)
        return True

    def _score_prompts(
        self, scored: list[tuple[_Live, ScheduledChunk, int]], every_row: np.ndarray[Any, np.dtype[np.float32]]
    ) -> None:
        """Each prompt token's log-probability, from the logits of the position before it."""
        for live, chunk, first in scored:
            prompt, out = live.seq.prompt, live.prompt_logprobs
            assert out is not None
            # Row `first + j` holds the logits of position chunk.start + j, which predict the token after it.
            end = min(chunk.start + len(chunk.tokens), len(prompt) - 1)
            predicted = prompt[chunk.start + 1 : end + 1]
            k = live.request.logprobs or 0
            out[chunk.start + 1 : end + 1] = block_logprobs(every_row[first : first + len(predicted)], predicted, k)

    def _token_logprobs(
        self,
        sample_at: list[tuple[str, int, Sampler]],
        sampled: dict[str, int],
        picked: np.ndarray[Any, np.dtype[np.float32]],
    ) -> None:
        """Each sampled token's log-probability, for the sequences that asked, kept until their next output."""
        for row, (request_id, _, _) in enumerate(sample_at):
            live = self._live[request_id]
            if live.logprobs is not None:
                k = live.request.logprobs or 0
                live.logprobs.append(token_logprob(picked[row], sampled[request_id], k))

    def _sample(
        self, sample_at: list[tuple[str, int, Sampler]], rows: np.ndarray[Any, np.dtype[np.float32]]
    ) -> dict[str, int]:
        """The next token of each sequence that asked for one, in batch order; greedy ones by an argmax over their
        logits rows (all at once when every one is greedy, the usual case)."""
        if all(sampler.greedy for _, _, sampler in sample_at):
            return dict(zip([request_id for request_id, _, _ in sample_at], rows.argmax(axis=1).tolist(), strict=True))
        return {
            request_id: int(rows[row].argmax()) if sampler.greedy else sampler.sample(self.ctx, index)
            for row, (request_id, index, sampler) in enumerate(sample_at)
        }

    def _recover(self, plan: SchedulerOutput, rc: int) -> None:
        """A failed step fails the sequences in it; the others go on."""
        for chunk in plan.chunks:
            live = self._live.get(chunk.seq.request_id)
            if live is not None:
                self._end(live, "error", error=f"llama_decode failed with code {rc}")

    def _on_token(self, live: _Live, token: int) -> None:
        seq, request = live.seq, live.request
        if live.first_token is None:
            live.first_token = time.monotonic()
        if self.model.is_eog(token) and not request.ignore_eos:
            seq.output.pop()  # the end-of-turn token is not part of the answer (its log-probability stays the last)
            self._end(live, "end_turn")
            return
        self._generated += 1
        text = live.text.push(token)
        n = len(seq.output)
        if live.text.stopped_by is not None:
            self._end(live, "stop_sequence", text=text, stop_sequence=live.text.stopped_by)
        elif n >= request.max_tokens:
            self._end(live, "max_tokens", text=text + live.text.flush())
        elif seq.length >= self.scheduler.seq_capacity:
            self._end(live, "context_full", text=text + live.text.flush())
        elif text:
            self._emit(live, Output(text, n))

    def _emit(self, live: _Live, output: Output) -> None:
        """Hand an output over, with the log-probabilities gathered since the last one, where they were asked for."""
        if live.logprobs is not None:
            output.logprobs, live.logprobs = live.logprobs, []
        if live.prompt_logprobs is not None and not live.prompt_sent:
            output.prompt_logprobs, live.prompt_sent = live.prompt_logprobs, True
        live.request.on_output(output)

    def _end(
        self, live: _Live, reason: str, *, text: str = "", stop_sequence: str | None = None, error: str | None = None
    ) -> None:
        seq = live.seq
        keep_cache = reason not in ("aborted", "error")  # a finished sequence's cells stay, as prefix cache
        if not keep_cache and seq.seq_id >= 0 and seq.n_cached > 0:
            self.ctx.forget(seq.seq_id)
        self.scheduler.finish(seq, keep_cache=keep_cache)
        self._live.pop(seq.request_id, None)
        live.request.sampler.free()
        if live.logprobs is not None or live.prompt_logprobs is not None:
            self._scoring -= 1
        timings = SequenceTimings(live.request.submitted, live.started, live.first_token, time.monotonic())
        cached = min(seq.n_reused, len(seq.prompt))  # a preempted sequence's last admission: output may count in it
        self._emit(live, Output(text, len(seq.output), reason, stop_sequence, error, timings, cached_tokens=cached))
