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
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

# Copying a stream costs a few milliseconds of memcpy, less than computing even a short shared prefix (a chat
# template's default system prompt); waiting a step for another sequence to compute a prefix pays off only when the
# prefix is long.
MIN_COPY_PREFIX = 16
MIN_WAIT_PREFIX = 256


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
    def __init__(self, *, max_seqs: int, seq_capacity: int, token_budget: int, prefill_chunk: int) -> None:
        self.max_seqs = max_seqs
        self.seq_capacity = seq_capacity
        self.token_budget = token_budget
        self.prefill_chunk = max(1, min(prefill_chunk, token_budget))
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self._occupant: list[Sequence | None] = [None] * max_seqs
        self._cached: list[list[int]] = [[] for _ in range(max_seqs)]  # what a free slot's stream still holds
        self._last_used = [0] * max_seqs
        self._clock = 0
        self._by_id: dict[str, Sequence] = {}
        self._moved = False  # a slot was taken or freed since the last look for holes in the run
        self.reused_tokens = 0

    # -- requests in and out -------------------------------------------------------------------------------------
    def add(self, seq: Sequence) -> None:
        if seq.length + 1 > self.seq_capacity:
            raise ValueError(f"a sequence of {seq.length} tokens cannot fit a context of {self.seq_capacity} tokens")
        self._by_id[seq.request_id] = seq
        self.waiting.append(seq)

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
            self.waiting.remove(seq)
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

    def has_work(self) -> bool:
        return bool(self.running or self.waiting)

    # -- one step ------------------------------------------------------------------------------------------------
    def schedule(self) -> SchedulerOutput:
        out = SchedulerOutput([])
        budget = self.token_budget
        # Generating sequences first: one token each keeps every stream moving.
        for seq in self.running:
            if seq.generating and budget > 0:
                out.chunks.append(ScheduledChunk(seq, seq.n_cached, seq.pending(), True))
                budget -= 1
        # A prompt may take the whole budget only when no stream is waiting on this step.
        chunk_cap = self.prefill_chunk if out.chunks else self.token_budget
        for seq in self.running:
            if not seq.generating and budget > 0:
                budget = self._schedule_prefill(seq, budget, chunk_cap, out)
        for seq in list(self.waiting):
            if budget <= 0 or all(o is not None for o in self._occupant):
                break
            op = self._place(seq)
            if op is None:
                continue  # it waits for a running sequence to compute the prefix they share
            self.waiting.remove(seq)
            out.cache_ops.append(op)
            seq.status = Status.RUNNING
            self.running.append(seq)
            budget = self._schedule_prefill(seq, budget, chunk_cap, out)
        self._close_holes(out)
        return out

    def _schedule_prefill(self, seq: Sequence, budget: int, cap: int, out: SchedulerOutput) -> int:
        pending = seq.pending()
        take = min(len(pending), budget, cap)
        out.chunks.append(ScheduledChunk(seq, seq.n_cached, pending[:take], take == len(pending)))
        return budget - take

    def _place(self, seq: Sequence) -> CacheOp | None:
        """Pick a slot for a new sequence and the cache operation that seeds it; None to make it wait."""
        shared = [common_prefix(self._slot_tokens(slot), seq.prompt) for slot in range(self.max_seqs)]
        best = max(range(self.max_seqs), key=shared.__getitem__)
        for other in self.running:
            prefix = common_prefix(other.prompt, seq.prompt)
            if prefix >= shared[best] + MIN_WAIT_PREFIX and other.n_cached < prefix:
                return None  # that prefix is being computed right now: reuse it once it is there
        free = [slot for slot in range(self.max_seqs) if self._occupant[slot] is None]
        target = min(
            free,
            key=lambda s: (self._runs_with(s), -shared[s], len(self._cached[s]) > 0, self._last_used[s]),
        )
        source = best if shared[best] - shared[target] >= MIN_COPY_PREFIX else target
        keep = min(shared[source], len(seq.prompt) - 1)  # the last prompt token runs again, for its logits
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
