"""Continuous-batching scheduler: decides which tokens of which sequences run in the next decode step.

A plain object with no llama.cpp in it, so it is tested alone. The contract follows vLLM's v1 engine:
`schedule()` returns what to run, `update_from_output()` takes what the model produced. Every step, each
running sequence that is generating gets one token; the rest of the step's token budget goes to prompt
chunks (chunked prefill), so a long prompt never stalls the streams already running.

Each sequence owns a KV stream of `seq_capacity` cells (llama.cpp's non-unified cache), so sequences never compete
for cells and nothing is ever preempted: admission needs only a free slot.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum


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
    status: Status = Status.WAITING

    @property
    def length(self) -> int:
        return len(self.prompt) + len(self.output)

    @property
    def generating(self) -> bool:
        """True when the only token not yet cached is the last one sampled."""
        return bool(self.output) and self.n_cached == self.length - 1

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


@dataclass
class SchedulerOutput:
    chunks: list[ScheduledChunk]


class Scheduler:
    def __init__(self, *, max_seqs: int, seq_capacity: int, token_budget: int, prefill_chunk: int) -> None:
        self.max_seqs = max_seqs
        self.seq_capacity = seq_capacity
        self.token_budget = token_budget
        self.prefill_chunk = max(1, min(prefill_chunk, token_budget))
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self._free_ids = list(range(max_seqs - 1, -1, -1))
        self._by_id: dict[str, Sequence] = {}

    # -- requests in and out -------------------------------------------------------------------------------------
    def add(self, seq: Sequence) -> None:
        if seq.length + 1 > self.seq_capacity:
            raise ValueError(f"a sequence of {seq.length} tokens cannot fit a context of {self.seq_capacity} tokens")
        self._by_id[seq.request_id] = seq
        self.waiting.append(seq)

    def get(self, request_id: str) -> Sequence | None:
        return self._by_id.get(request_id)

    def finish(self, seq: Sequence) -> None:
        """Remove a sequence (done, aborted or failed); its seq_id is free again once the caller dropped its cells."""
        if seq.status is Status.RUNNING:
            self.running.remove(seq)
            self._free_ids.append(seq.seq_id)
        elif seq.status is Status.WAITING:
            self.waiting.remove(seq)
        seq.status = Status.FINISHED
        self._by_id.pop(seq.request_id, None)

    @property
    def cells_used(self) -> int:
        return sum(s.n_cached for s in self.running)

    def has_work(self) -> bool:
        return bool(self.running or self.waiting)

    # -- one step ------------------------------------------------------------------------------------------------
    def schedule(self) -> SchedulerOutput:
        budget = self.token_budget
        chunks: list[ScheduledChunk] = []
        # Generating sequences first: one token each keeps every stream moving.
        for seq in self.running:
            if seq.generating and budget > 0:
                chunks.append(ScheduledChunk(seq, seq.n_cached, seq.pending(), True))
                budget -= 1
        # Then prompts already started, then new sequences, while the budget and the slots last.
        for seq in self.running:
            if not seq.generating and budget > 0:
                budget = self._schedule_prefill(seq, budget, chunks)
        while self.waiting and budget > 0 and self._free_ids:
            seq = self.waiting.popleft()
            seq.seq_id = self._free_ids.pop()
            seq.status = Status.RUNNING
            self.running.append(seq)
            budget = self._schedule_prefill(seq, budget, chunks)
        return SchedulerOutput(chunks)

    def _schedule_prefill(self, seq: Sequence, budget: int, chunks: list[ScheduledChunk]) -> int:
        pending = seq.pending()
        take = min(len(pending), budget, self.prefill_chunk)
        chunks.append(ScheduledChunk(seq, seq.n_cached, pending[:take], take == len(pending)))
        return budget - take

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
