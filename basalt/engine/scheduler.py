"""Continuous-batching scheduler: decides which tokens of which sequences run in the next decode step.

A plain object with no llama.cpp in it, so it is tested alone. The contract follows vLLM's v1 engine:
`schedule()` returns what to run, `update_from_output()` takes what the model produced. Every step, each
running sequence that is generating gets one token; the rest of the step's token budget goes to prompt
chunks (chunked prefill), so a long prompt never stalls the streams already running.

Each sequence runs in a slot that owns a KV stream of `seq_capacity` cells (llama.cpp's non-unified cache), so
sequences never compete for cells. A slot keeps its cells after its sequence finishes: that is the prefix cache.
A new sequence starts from the slot (free or running) whose cached tokens share the longest prefix with its
prompt: in place when that slot is where it will run, otherwise by copying that slot's stream. A sequence whose
prompt shares a long prefix with one still being computed waits for it instead of computing it again.

Running sequences are kept in one run of consecutive slots: llama.cpp computes a batch over separate streams as
one graph per run of consecutive sequence ids, and each extra graph costs nearly a whole step (measured: 4
sequences in slots 0, 2, 4, 6 take 2x as long as in slots 0-3). So a new sequence goes where it keeps the run
whole, and a sequence that finishes inside the run leaves a hole that the last one is moved into (a stream copy,
about as long as a third of a step, paid once).

Batch sequences (`batch=True`) fill only the capacity interactive ones leave. Interactive waiting sequences are
placed first, and batch ones never take the last `batch_reserve` slots. An interactive prompt that finds every slot
taken preempts the batch sequence with the fewest cached tokens: it goes back to the front of the batch queue with its
output kept, and resumes later from whatever prefix cache is left of it. A step that runs an interactive prompt runs no
batch work at all (batch sequences lose that one step), so the prompt's step costs what it costs with no batch running;
and while interactive sequences are here, a step carries at most `batch_prefill` tokens of batch prompts (else a
prefill chunk) and at most `batch_busy_decode` batch sequences decode (taking turns), so an interactive request
arriving mid-step waits for a short step, not a long one. See docs/benchmarks.md (batches) for what these bounds
cost and buy.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

# Copying a stream costs a few milliseconds of memcpy, less than computing even a short shared prefix (a chat
# template's default system prompt); waiting a step for another sequence to compute a prefix pays off only when the
# prefix is long.
MIN_COPY_PREFIX = 16
MIN_WAIT_PREFIX = 256
# A batch item has nobody waiting on its first token, so it waits for any prefix worth a copy: the items of a batch
# share their instruction, and computing it once instead of once per item in the first steps saves more than the
# step or two their slots stay empty (measured: 14 items of a 72-token prompt, 1,008 prompt tokens against 358).
MIN_WAIT_PREFIX_BATCH = MIN_COPY_PREFIX


class Status(Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"


@dataclass(eq=False)
class Sequence:
    request_id: str
    prompt: list[int]
    max_tokens: int
    output: list[int] = field(default_factory=list)
    seq_id: int = -1
    n_cached: int = 0  # tokens whose keys and values are in the KV cache
    n_reused: int = 0  # prompt tokens that came from the prefix cache
    status: Status = Status.WAITING
    batch: bool = False  # batch work: runs only in capacity interactive sequences leave
    preempted: int = 0  # times an interactive sequence took its slot
    decoded_at: int = 0  # the step it last decoded in (batch sequences take turns while interactive ones run)
    score_prompt: bool = False  # every prompt position's logits are wanted (log-probabilities): none come from cache

    @property
    def length(self) -> int:
        return len(self.prompt) + len(self.output)

    @property
    def generating(self) -> bool:
        """True when the only token not yet cached is the last one sampled."""
        return bool(self.output) and self.n_cached == self.length - 1

    def tokens(self, n: int) -> list[int]:
        """The first n tokens: prompt, then output."""
        if n <= len(self.prompt):
            return self.prompt[:n]
        return self.prompt + self.output[: n - len(self.prompt)]

    def pending(self) -> list[int]:
        """Tokens not yet in the cache: the prompt's rest while prefilling, the last sampled token after."""
        n_prompt = len(self.prompt)
        if self.n_cached < n_prompt:
            return self.prompt[self.n_cached :] + self.output
        return self.output[self.n_cached - n_prompt :]


@dataclass
class ScheduledChunk:
    seq: Sequence
    start: int  # position of the first token
    tokens: list[int]
    sample: bool  # True when the chunk reaches the sequence's end, so the next token is sampled


@dataclass(frozen=True)
class CacheOp:
    """Before the step: copy slot `src`'s stream into `dst` (when src != dst), then drop dst's cells from `keep` on."""

    src: int
    dst: int
    keep: int


@dataclass
class SchedulerOutput:
    chunks: list[ScheduledChunk]
    cache_ops: list[CacheOp] = field(default_factory=list)


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Scheduler:
    def __init__(
        self,
        *,
        max_seqs: int,
        seq_capacity: int,
        token_budget: int,
        prefill_chunk: int,
        batch_reserve: int = 0,
        batch_prefill: int | None = None,
        batch_busy_decode: int | None = None,
        batch_busy_linger: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_seqs = max_seqs
        self.seq_capacity = seq_capacity
        self.token_budget = token_budget
        self.prefill_chunk = max(1, min(prefill_chunk, token_budget))
        self.batch_slots = max(1, max_seqs - batch_reserve)  # slots batch sequences may hold at once
        self.batch_prefill = max(1, min(batch_prefill or token_budget, token_budget))  # batch prompt tokens a step
        # Batch sequences decoding in one step while interactive ones run (None: all); they take turns.
        self.batch_busy_decode = batch_busy_decode
        # Seconds the batch keeps to short steps after the last interactive sequence left: interactive calls come in
        # trickles, and the next one arriving mid-step waits for the step in flight (a whole batch step without this).
        # In seconds, not steps: a batch that starts on an idle engine must not inherit a count left from long ago.
        self.batch_busy_linger = batch_busy_linger
        self._clock_s = clock
        self._steps = 0
        self._interactive_at = float("-inf")  # when schedule() last found an interactive sequence here
        self._busy = False
        self.waiting: deque[Sequence] = deque()  # interactive sequences, first come first served
        self.batch_waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self._occupant: list[Sequence | None] = [None] * max_seqs
        self._cached: list[list[int]] = [[] for _ in range(max_seqs)]  # what a free slot's stream still holds
        self._last_used = [0] * max_seqs
        self._clock = 0
        self._by_id: dict[str, Sequence] = {}
        self._moved = False  # a slot was taken or freed since the last look for holes in the run
        self.reused_tokens = 0
        self.preemptions = 0
        # Counts for the benchmarks and metrics: what the steps carried, and the batch slots they left empty.
        self.prefill_tokens = 0  # tokens computed as prompt (a resumed sequence's output too), not from the cache
        self.sequence_steps = 0  # sequences in each step, summed: divided by the steps, sequences a step
        self.batch_steps = 0  # steps that ran batch sequences
        self.batch_idle_fed = 0  # free batch slots in those steps while batch items were queued (summed)
        self.batch_idle_starved = 0  # free batch slots in those steps with no batch item queued (summed)

    # -- requests in and out -------------------------------------------------------------------------------------
    def add(self, seq: Sequence) -> None:
        if seq.length + 1 > self.seq_capacity:
            raise ValueError(f"a sequence of {seq.length} tokens cannot fit a context of {self.seq_capacity} tokens")
        self._by_id[seq.request_id] = seq
        (self.batch_waiting if seq.batch else self.waiting).append(seq)

    def get(self, request_id: str) -> Sequence | None:
        return self._by_id.get(request_id)

    def finish(self, seq: Sequence, *, keep_cache: bool = True) -> None:
        """Remove a sequence (done, aborted or failed). Its slot keeps the cached tokens unless told otherwise,
        in which case the caller drops the slot's cells."""
        if seq.status is Status.RUNNING:
            self.running.remove(seq)
            self._occupant[seq.seq_id] = None
            self._moved = True
            self._cached[seq.seq_id] = seq.tokens(seq.n_cached) if keep_cache else []
        elif seq.status is Status.WAITING:
            (self.batch_waiting if seq.batch else self.waiting).remove(seq)
        seq.status = Status.FINISHED
        self._by_id.pop(seq.request_id, None)

    @property
    def cells_used(self) -> int:
        """Cells held by running sequences."""
        return sum(s.n_cached for s in self.running)

    @property
    def cells_cached(self) -> int:
        """Cells kept by free slots for future prompts."""
        return sum(len(c) for i, c in enumerate(self._cached) if self._occupant[i] is None)

    @property
    def n_waiting(self) -> int:
        return len(self.waiting) + len(self.batch_waiting)

    def has_work(self) -> bool:
        return bool(self.running or self.waiting or self.batch_waiting)

    # -- one step ------------------------------------------------------------------------------------------------
    def schedule(self) -> SchedulerOutput:
        out = SchedulerOutput([])
        now = self._clock_s()
        if self.waiting or any(not s.batch for s in self.running):
            self._interactive_at = now
        self._busy = now - self._interactive_at <= self.batch_busy_linger  # interactive ones are (or were) here
        budget = self.token_budget
        decoding = [seq for seq in self.running if seq.generating]
        # Generating sequences first: one token each keeps every stream moving.
        for seq in decoding:
            if not seq.batch and budget > 0:
                budget = self._schedule_token(seq, budget, out)
        # A prompt may take the whole budget only when no interactive stream is waiting on this step.
        chunk_cap = self.prefill_chunk if len(out.chunks) else self.token_budget
        n_decoding = len(out.chunks)
        for seq in self.running:
            if not seq.batch and not seq.generating and budget > 0:
                budget = self._schedule_prefill(seq, budget, chunk_cap, out)
        budget = self._admit(self.waiting, budget, chunk_cap, out)
        if len(out.chunks) == n_decoding:  # no interactive prompt runs: batch work may share the step
            self._schedule_batch(decoding, budget, out)
        self._close_holes(out)
        self._count(out)
        return out

    def _count(self, out: SchedulerOutput) -> None:
        if not out.chunks:
            return
        self.sequence_steps += len(out.chunks)
        n_batch = sum(seq.batch for seq in self.running)
        if n_batch:
            free = sum(o is None for o in self._occupant)
            idle = max(0, min(self.batch_slots - n_batch, free))
            self.batch_steps += 1
            if self.batch_waiting:
                self.batch_idle_fed += idle
            else:
                self.batch_idle_starved += idle

    def _schedule_batch(self, decoding: list[Sequence], budget: int, out: SchedulerOutput) -> None:
        self._steps += 1
        batch = [seq for seq in decoding if seq.batch]
        cap = self.batch_busy_decode
        busy = self._busy
        if cap is not None and len(batch) > cap and busy:
            # A short step: an interactive request arriving now waits for this step to end. On a CPU a step costs
            # about its token count, so taking turns costs batch work little, and a GPU step is cheap anyway.
            batch = sorted(batch, key=lambda s: s.decoded_at)[:cap]
        for seq in batch:
            if budget > 0:
                seq.decoded_at = self._steps
                budget = self._schedule_token(seq, budget, out)
        chunk_cap = self.prefill_chunk if out.chunks else self.token_budget
        # With no interactive sequence here, batch prompts get a chunk: capped at `batch_prefill` always, they fell
        # behind the items' turnover (measured: 72 tok/s against 105 for a client loop).
        batch_budget = min(budget, self.batch_prefill if busy else self.prefill_chunk)
        for seq in self.running:
            if seq.batch and not seq.generating and batch_budget > 0:
                batch_budget = self._schedule_prefill(seq, batch_budget, chunk_cap, out)
        if not self.waiting:  # interactive sequences waiting (for a shared prefix) keep new batch ones out
            self._admit(self.batch_waiting, batch_budget, chunk_cap, out)

    def _schedule_token(self, seq: Sequence, budget: int, out: SchedulerOutput) -> int:
        out.chunks.append(ScheduledChunk(seq, seq.n_cached, seq.pending(), True))
        return budget - 1

    def _admit(self, queue: deque[Sequence], budget: int, cap: int, out: SchedulerOutput) -> int:
        """Start waiting sequences from `queue` while the budget and the slots they may use last."""
        for seq in list(queue):
            if budget <= 0 or not self._room_for(seq):
                break
            op = self._place(seq)
            if op is None:  # it waits for a running sequence to compute the prefix they share
                if seq.batch:  # and the batch items behind it too: a queue of thousands is not scanned each step
                    break
                continue
            queue.remove(seq)
            out.cache_ops.append(op)
            seq.status = Status.RUNNING
            self.running.append(seq)
            budget = self._schedule_prefill(seq, budget, cap, out)
        return budget

    def _room_for(self, seq: Sequence) -> bool:
        """Whether a slot is free for `seq`; an interactive one frees a batch sequence's slot when none is."""
        free = any(o is None for o in self._occupant)
        if seq.batch:
            return free and sum(s.batch for s in self.running) < self.batch_slots
        return free or self._preempt()

    def _preempt(self) -> bool:
        """Send the batch sequence with the fewest cached tokens (the cheapest to compute again) back to the front
        of the batch queue, output kept; False when no batch sequence runs."""
        victims = [s for s in self.running if s.batch]
        if not victims:
            return False
        seq = min(victims, key=lambda s: s.n_cached)
        self.running.remove(seq)
        self._occupant[seq.seq_id] = None
        self._cached[seq.seq_id] = seq.tokens(seq.n_cached)  # its cells stay until a sequence takes the slot
        self._moved = True
        seq.status, seq.n_cached, seq.seq_id = Status.WAITING, 0, -1
        seq.preempted += 1
        self.preemptions += 1
        self.batch_waiting.appendleft(seq)
        return True

    def _schedule_prefill(self, seq: Sequence, budget: int, cap: int, out: SchedulerOutput) -> int:
        pending = seq.pending()
        take = min(len(pending), budget, cap)
        self.prefill_tokens += take
        out.chunks.append(ScheduledChunk(seq, seq.n_cached, pending[:take], take == len(pending)))
        return budget - take

    def _place(self, seq: Sequence) -> CacheOp | None:
        """Pick a slot for a new sequence and the cache operation that seeds it; None to make it wait."""
        tokens = seq.tokens(seq.length)  # the prompt, and the output of a preempted sequence that resumes
        if seq.score_prompt:  # its prompt runs whole, for the logits of every position: it shares nothing
            shared = [0] * self.max_seqs
        else:
            shared = [common_prefix(self._slot_tokens(slot), tokens) for slot in range(self.max_seqs)]
        best = max(range(self.max_seqs), key=shared.__getitem__)
        wait_for = MIN_WAIT_PREFIX_BATCH if seq.batch else MIN_WAIT_PREFIX
        for other in [] if seq.score_prompt else self.running:
            prefix = common_prefix(other.prompt, seq.prompt)
            if prefix >= shared[best] + wait_for and other.n_cached < prefix:
                return None  # that prefix is being computed right now: reuse it once it is there
        free = [slot for slot in range(self.max_seqs) if self._occupant[slot] is None]
        target = min(
            free,
            key=lambda s: (self._runs_with(s), -shared[s], len(self._cached[s]) > 0, self._last_used[s]),
        )
        source = best if shared[best] - shared[target] >= MIN_COPY_PREFIX else target
        keep = min(shared[source], seq.length - 1)  # the last token runs again, for its logits
        self._clock += 1
        self._last_used[target] = self._clock
        self._occupant[target] = seq
        self._cached[target] = []
        self._moved = True
        seq.seq_id, seq.n_cached, seq.n_reused = target, keep, keep
        self.reused_tokens += keep
        return CacheOp(source, target, keep)

    def _slot_tokens(self, slot: int) -> list[int]:
        occupant = self._occupant[slot]
        return occupant.tokens(occupant.n_cached) if occupant else self._cached[slot]

    def _runs_with(self, slot: int) -> int:
        """How many runs of consecutive occupied slots there would be with `slot` occupied too."""
        runs, previous = 0, False
        for s, occupant in enumerate(self._occupant):
            occupied = occupant is not None or s == slot
            runs += occupied and not previous
            previous = occupied
        return runs

    def _close_holes(self, out: SchedulerOutput) -> None:
        """Move the last running sequence into each free slot inside the run, so the run stays whole."""
        if not self._moved:  # most steps: nothing came or went, so there is no hole to look for
            return
        self._moved = False
        while True:
            occupied = [slot for slot, o in enumerate(self._occupant) if o is not None]
            holes = (
                [slot for slot in range(occupied[0], occupied[-1]) if self._occupant[slot] is None] if occupied else []
            )
            if not holes:
                return
            source, target = occupied[-1], holes[0]
            seq = self._occupant[source]
            assert seq is not None
            self._occupant[source], self._cached[source] = None, seq.tokens(seq.n_cached)
            self._occupant[target], self._cached[target] = seq, []
            self._clock += 1
            self._last_used[target] = self._clock
            seq.seq_id = target
            out.cache_ops.append(CacheOp(source, target, seq.n_cached))

    def update_from_output(self, output: SchedulerOutput, sampled: dict[str, int]) -> None:
        """Record that the scheduled chunks are now cached, and append each sampled token to its sequence."""
        for chunk in output.chunks:
            seq = chunk.seq
            if seq.status is not Status.RUNNING:
                continue
            seq.n_cached = chunk.start + len(chunk.tokens)
            token = sampled.get(seq.request_id)
            if token is not None:
                seq.output.append(token)
