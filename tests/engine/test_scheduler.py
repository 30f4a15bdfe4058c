"""The scheduler alone: hand-built sequences and sampled tokens, no model."""

from basalt.engine.scheduler import CacheOp, Scheduler, Sequence, Status


def make(max_seqs: int = 4, budget: int = 64, chunk: int = 16, capacity: int = 256) -> Scheduler:
    return Scheduler(max_seqs=max_seqs, seq_capacity=capacity, token_budget=budget, prefill_chunk=chunk)


def run_step(s: Scheduler, token: int = 7) -> dict[str, tuple[int, int, bool]]:
    out = s.schedule()
    sampled = {c.seq.request_id: token for c in out.chunks if c.sample}
    s.update_from_output(out, sampled)
    return {c.seq.request_id: (c.start, len(c.tokens), c.sample) for c in out.chunks}


def test_prompt_is_prefilled_in_chunks_then_decoded_one_token_per_step() -> None:
    s = make(budget=16, chunk=16)
    s.add(Sequence("a", list(range(40)), max_tokens=5))
    assert run_step(s) == {"a": (0, 16, False)}
    assert run_step(s) == {"a": (16, 16, False)}
    assert run_step(s) == {"a": (32, 8, True)}
    seq = s.get("a")
    assert seq is not None and seq.output == [7] and seq.generating
    assert run_step(s) == {"a": (40, 1, True)}
    assert seq.output == [7, 7] and seq.n_cached == 41


def test_a_prompt_takes_the_whole_budget_only_when_no_stream_is_generating() -> None:
    s = make(budget=64, chunk=16)
    s.add(Sequence("a", list(range(100)), max_tokens=5))
    assert run_step(s) == {"a": (0, 64, False)}


def test_running_streams_decode_before_new_prompts_take_the_budget() -> None:
    s = make(budget=20, chunk=16)
    s.add(Sequence("a", [1, 2, 3], max_tokens=9))
    run_step(s)  # a prefilled, first token sampled
    s.add(Sequence("b", list(range(50)), max_tokens=9))
    step = run_step(s)
    assert step["a"] == (3, 1, True)  # a keeps generating
    assert step["b"] == (0, 16, False)  # b's prompt gets a chunk, within the budget
    assert sum(n for _, n, _ in step.values()) <= 20


def test_slots_limit_running_sequences_and_free_on_finish() -> None:
    s = make(max_seqs=2)
    for name, prompt in zip("abc", ([1, 2], [3, 4], [5, 6]), strict=True):
        s.add(Sequence(name, prompt, max_tokens=3))
    step = run_step(s)
    assert set(step) == {"a", "b"}
    assert [q.request_id for q in s.waiting] == ["c"]
    a = s.get("a")
    assert a is not None
    s.finish(a)
    assert a.status is Status.FINISHED
    step = run_step(s)
    assert "c" in step and step["c"] == (0, 2, True)
    c = s.get("c")
    assert c is not None and c.seq_id == a.seq_id  # the freed slot is reused


def test_finishing_a_waiting_sequence_removes_it_from_the_queue() -> None:
    s = make(max_seqs=1)
    s.add(Sequence("a", [1], max_tokens=1))
    s.add(Sequence("b", [1], max_tokens=1))
    run_step(s)
    b = s.get("b")
    assert b is not None
    s.finish(b)
    assert not s.waiting and s.get("b") is None


def test_a_sequence_longer_than_its_context_is_refused() -> None:
    s = make(capacity=8)
    try:
        s.add(Sequence("a", list(range(8)), max_tokens=1))
    except ValueError as exc:
        assert "context" in str(exc)
    else:
        raise AssertionError("expected a refusal")


def test_cells_used_counts_cached_tokens() -> None:
    s = make()
    s.add(Sequence("a", [1, 2, 3, 4], max_tokens=5))
    run_step(s)
    run_step(s)
    assert s.cells_used == 5


def finish_after(s: Scheduler, name: str, steps: int) -> Sequence:
    for _ in range(steps):
        run_step(s)
    seq = s.get(name)
    assert seq is not None
    s.finish(seq)
    return seq


def test_a_finished_sequence_leaves_its_prefix_for_the_next_in_the_same_slot() -> None:
    s = make(budget=256, chunk=256)
    prefix = list(range(100, 200))
    s.add(Sequence("a", [*prefix, 1, 2], max_tokens=3))
    a = finish_after(s, "a", 2)
    assert s.cells_cached == a.n_cached == 103
    s.add(Sequence("b", [*prefix, 9, 9, 9], max_tokens=3))
    out = s.schedule()
    b = s.get("b")
    assert b is not None and b.seq_id == a.seq_id and b.n_reused == 100
    assert out.cache_ops[0].src == out.cache_ops[0].dst == a.seq_id and out.cache_ops[0].keep == 100
    assert out.chunks[0].start == 100 and out.chunks[0].tokens == [9, 9, 9]


def test_a_running_sequences_prefix_is_copied_into_a_free_slot() -> None:
    s = make(budget=256, chunk=256)
    prefix = list(range(100, 200))
    s.add(Sequence("a", [*prefix, 1], max_tokens=50))
    run_step(s)
    run_step(s)
    s.add(Sequence("b", [*prefix, 7, 7], max_tokens=3))
    out = s.schedule()
    a, b = s.get("a"), s.get("b")
    assert a is not None and b is not None and b.seq_id != a.seq_id
    assert out.cache_ops == [CacheOp(src=a.seq_id, dst=b.seq_id, keep=100)]


def test_a_prompt_waits_for_the_shared_prefix_being_computed_instead_of_recomputing_it() -> None:
    s = make(budget=400, chunk=64, capacity=512)
    prefix = list(range(1000, 1300))
    s.add(Sequence("a", [*prefix, 1], max_tokens=3))
    s.add(Sequence("b", [*prefix, 2], max_tokens=3))
    s.add(Sequence("c", [5, 6, 7], max_tokens=3))  # unrelated: not held back
    step = run_step(s)
    assert set(step) == {"a", "c"}  # a's prompt is alone, so it takes more than a chunk
    step = run_step(s)
    b = s.get("b")
    assert b is not None and b.n_reused == 300 and step["b"] == (300, 1, True)


def test_short_common_prefixes_are_not_worth_a_copy() -> None:
    s = make()
    s.add(Sequence("a", [1, 2, 3, 4, 5], max_tokens=9))
    run_step(s)
    s.add(Sequence("b", [1, 2, 3, 9], max_tokens=3))
    run_step(s)
    b = s.get("b")
    assert b is not None and b.n_reused == 0


def test_free_slots_are_reused_empty_first_then_least_recently_used() -> None:
    s = make(max_seqs=2, budget=256, chunk=256)
    s.add(Sequence("a", list(range(40)), max_tokens=1))
    a = finish_after(s, "a", 1)
    s.add(Sequence("b", list(range(500, 540)), max_tokens=1))
    run_step(s)
    b = s.get("b")
    assert b is not None and b.seq_id != a.seq_id  # the empty slot, not the one holding a's prefix


def three_running_then_b_finished() -> Scheduler:
    """a, b, c running in slots 0, 1, 2; then b finishes, leaving a hole inside the run."""
    s = make(max_seqs=4)
    for name, prompt in zip("abc", ([1, 2], [3, 4], [5, 6]), strict=True):
        s.add(Sequence(name, prompt, max_tokens=9))
    run_step(s)
    finish_after(s, "b", 1)
    return s


def test_a_new_sequence_fills_the_hole_a_finished_one_left_in_the_run() -> None:
    s = three_running_then_b_finished()
    s.add(Sequence("d", [7, 8], max_tokens=9))
    out = s.schedule()
    slots = {q.request_id: q.seq_id for q in s.running}
    assert slots == {"a": 0, "c": 2, "d": 1}
    assert [(op.src, op.dst) for op in out.cache_ops] == [(1, 1)]  # d seeded in place; nothing moved


def test_the_last_sequence_moves_into_a_hole_nobody_fills() -> None:
    s = three_running_then_b_finished()
    out = s.schedule()
    c = s.get("c")
    assert c is not None and c.seq_id == 1
    assert out.cache_ops == [CacheOp(src=2, dst=1, keep=3)]  # c's whole stream, then decode on
    assert [chunk.seq.seq_id for chunk in out.chunks] == [0, 1]
    # The slot c left keeps what it held, as prefix cache for a prompt that starts the same way.
    s.update_from_output(out, {"a": 7, "c": 7})
    s.add(Sequence("d", [5, 6, 7, 1], max_tokens=9))
    s.schedule()
    d = s.get("d")
    assert d is not None and d.seq_id == 2 and d.n_reused == 3


def test_with_nothing_running_a_prompt_starts_where_its_prefix_is_cached() -> None:
    s = make(max_seqs=4, budget=256, chunk=256)
    for name, prompt in zip("ab", (list(range(40)), list(range(100, 140))), strict=True):
        s.add(Sequence(name, prompt, max_tokens=1))
    run_step(s)
    finish_after(s, "a", 0)
    b = finish_after(s, "b", 0)
    s.add(Sequence("c", [*range(100, 130), 5], max_tokens=1))
    out = s.schedule()
    assert out.cache_ops[0].src == out.cache_ops[0].dst == b.seq_id and out.cache_ops[0].keep == 30


# -- priorities: batch sequences fill only what interactive ones leave ---------------------------------------------
def make_mixed(
    max_seqs: int = 4, reserve: int = 1, batch_prefill: int | None = None, budget: int = 64, chunk: int = 16
) -> Scheduler:
    return Scheduler(
        max_seqs=max_seqs,
        seq_capacity=512,
        token_budget=budget,
        prefill_chunk=chunk,
        batch_reserve=reserve,
        batch_prefill=batch_prefill,
    )


def batch_seq(name: str, prompt: list[int], max_tokens: int = 50) -> Sequence:
    return Sequence(name, prompt, max_tokens, batch=True)


def test_an_interactive_sequence_starts_before_batch_ones_queued_earlier() -> None:
    s = make_mixed(max_seqs=2, reserve=0)
    s.add(batch_seq("b1", [1, 2]))
    s.add(batch_seq("b2", [3, 4]))
    s.add(Sequence("i", [5, 6], max_tokens=5))
    step = run_step(s)
    assert set(step) == {"i"}  # the interactive prompt's step runs no batch work
    step = run_step(s)
    assert set(step) == {"i", "b1"} and [q.request_id for q in s.batch_waiting] == ["b2"]


def test_batch_sequences_never_take_the_reserved_slots() -> None:
    s = make_mixed(max_seqs=4, reserve=1)
    for n in range(6):
        s.add(batch_seq(f"b{n}", [n, n + 1]))
    run_step(s)
    assert sum(q.batch for q in s.running) == 3 and s.n_waiting == 3
    s.add(Sequence("i", [9, 9], max_tokens=5))
    step = run_step(s)
    i = s.get("i")
    assert i is not None and i.status.value == "running" and s.preemptions == 0
    assert set(step) == {"i"}


def test_an_interactive_prompt_preempts_a_batch_sequence_that_resumes_with_its_output() -> None:
    s = make_mixed(max_seqs=2, reserve=0)
    s.add(batch_seq("long", list(range(10)), max_tokens=20))
    s.add(batch_seq("short", [1, 2], max_tokens=20))
    for _ in range(3):
        run_step(s)
    short = s.get("short")
    assert short is not None and short.output == [7, 7, 7]
    s.add(Sequence("i", [50, 51, 52], max_tokens=2))
    step = run_step(s)
    i = s.get("i")
    assert set(step) == {"i"} and i is not None and i.seq_id in (0, 1)
    assert short.status.value == "waiting" and short.preempted == 1 and list(s.batch_waiting) == [short]
    assert short.output == [7, 7, 7]  # kept: it resumes, it does not start again
    finish_after(s, "i", 1)
    step = run_step(s)
    # Back in the slot i left: its prompt and output are computed again (i overwrote them), then it samples on.
    assert step["short"] == (0, 5, True) and short.output == [7, 7, 7, 7]


def test_the_batch_sequence_with_the_fewest_cached_tokens_is_the_one_preempted() -> None:
    s = make_mixed(max_seqs=3, reserve=0, budget=256)
    s.add(batch_seq("a", list(range(100, 108)), max_tokens=20))
    s.add(batch_seq("b", list(range(200, 202)), max_tokens=20))
    s.add(batch_seq("c", list(range(300, 306)), max_tokens=20))
    run_step(s)
    b = s.get("b")
    assert b is not None and len(s.running) == 3
    slot = b.seq_id
    s.add(Sequence("i", [5, 6], max_tokens=1))
    run_step(s)
    i = s.get("i")
    assert b.status.value == "waiting" and i is not None and i.seq_id == slot
    assert {q.request_id for q in s.running} == {"a", "c", "i"}


def test_beside_interactive_sequences_a_step_carries_at_most_batch_prefill_tokens_of_batch_prompts() -> None:
    s = make_mixed(max_seqs=5, reserve=0, batch_prefill=24, budget=256)
    s.add(Sequence("i", [1, 2], max_tokens=50))
    run_step(s)
    for n in range(3):
        s.add(batch_seq(f"b{n}", list(range(n * 100, n * 100 + 60))))
    step = run_step(s)
    assert step.pop("i") == (2, 1, True)
    assert sum(n for _, n, _ in step.values()) == 24
    i = s.get("i")
    assert i is not None
    s.finish(i)
    step = run_step(s)  # alone, batch prompts get the usual chunk
    assert sum(n for _, n, _ in step.values()) == 16


def test_interactive_prompts_still_get_the_whole_budget_beside_batch_work() -> None:
    s = make_mixed(max_seqs=4, reserve=0, batch_prefill=8, budget=256)
    s.add(batch_seq("b", [1, 2, 3]))
    run_step(s)
    s.add(Sequence("i", list(range(100, 300)), max_tokens=2))
    step = run_step(s)
    assert step == {"i": (0, 200, True)}  # the batch stream pauses for that one step


def test_batch_items_that_share_a_prefix_compute_it_once() -> None:
    s = make_mixed(max_seqs=4, reserve=0, budget=512, chunk=512)
    prefix = list(range(1000, 1300))
    for n in range(4):
        s.add(batch_seq(f"b{n}", [*prefix, n]))
    run_step(s)
    assert [q.request_id for q in s.running] == ["b0"]  # the others wait for b0's prefix instead of computing it
    run_step(s)
    assert len(s.running) == 4 and s.reused_tokens == 3 * 300


def test_an_interactive_prompt_waiting_on_a_prefix_a_batch_sequence_computes_does_not_stall_it() -> None:
    s = make_mixed(max_seqs=4, reserve=0, batch_prefill=32, budget=512)
    prefix = list(range(1000, 1400))
    s.add(batch_seq("b", [*prefix, 1]))
    run_step(s)
    s.add(Sequence("i", [*prefix, 2], max_tokens=2))
    step = run_step(s)
    assert step == {"b": (16, 32, False)}  # i waits for b's prefix, and b's prompt goes on meanwhile
    for _ in range(8):
        run_step(s)
        i = s.get("i")
        if i is not None and i.output:
            break
    i = s.get("i")
    assert i is not None and i.output and i.n_reused > 100


def test_while_interactive_sequences_run_batch_ones_decode_a_few_a_step_taking_turns() -> None:
    s = Scheduler(max_seqs=6, seq_capacity=512, token_budget=64, prefill_chunk=16, batch_busy_decode=2)
    for n in range(4):
        s.add(batch_seq(f"b{n}", [n, n + 10]))
    run_step(s)
    assert len(run_step(s)) == 4  # alone, every batch sequence decodes
    s.add(Sequence("i", [50, 51], max_tokens=20))
    run_step(s)  # i's prompt: no batch work
    decoded: list[str] = []
    for _ in range(4):
        step = run_step(s)
        assert "i" in step and len(step) == 3
        decoded += [name for name in step if name != "i"]
    assert sorted(decoded) == ["b0", "b0", "b1", "b1", "b2", "b2", "b3", "b3"]  # each its turn


def test_a_prompt_whose_every_position_is_scored_takes_nothing_from_the_prefix_cache_nor_waits_for_it() -> None:
    s = make(max_seqs=3, budget=1024, chunk=1024, capacity=1024)
    prompt = list(range(300))
    s.add(Sequence("a", prompt, max_tokens=1))
    run_step(s)
    a = s.get("a")
    assert a is not None
    s.finish(a)  # its 300 cells stay in the slot as prefix cache
    s.add(Sequence("b", prompt, max_tokens=1, score_prompt=True))
    assert run_step(s)["b"] == (0, 300, True)  # every position runs again, for its logits
    b = s.get("b")
    assert b is not None and b.n_reused == 0
    s.finish(b)
    s.add(Sequence("c", [*range(1000, 1300), 1], max_tokens=1))
    s.add(Sequence("d", [*range(1000, 1300), 2], max_tokens=1, score_prompt=True))
    step = run_step(s)  # c computes the prefix they share; d runs whole beside it rather than waiting for it
    assert step["c"] == (0, 301, True) and step["d"] == (0, 301, True)


def test_batch_items_wait_for_a_short_shared_instruction_that_interactive_prompts_would_compute_again() -> None:
    s = make_mixed(max_seqs=8, reserve=0, budget=512, chunk=512)
    instruction = list(range(1000, 1040))  # far below MIN_WAIT_PREFIX, above MIN_COPY_PREFIX
    for n in range(4):
        s.add(batch_seq(f"b{n}", [*instruction, n, n]))
    step = run_step(s)
    assert step == {"b0": (0, 42, True)}  # the others wait a step rather than compute the instruction again
    step = run_step(s)
    assert {name: n for name, (_, n, _) in step.items()} == {"b0": 1, "b1": 2, "b2": 2, "b3": 2}
    assert s.reused_tokens == 3 * 40 and s.prefill_tokens == 42 + 3 * 2
    t = make_mixed(max_seqs=8, reserve=0, budget=512, chunk=512)
    for n in range(2):
        t.add(Sequence(f"i{n}", [*instruction, n, n], max_tokens=5))
    assert set(run_step(t)) == {"i0", "i1"}  # an interactive prompt does not wait a step for 40 tokens


def test_a_batch_item_waiting_for_a_prefix_holds_the_batch_queue_behind_it() -> None:
    s = make_mixed(max_seqs=8, reserve=0, budget=512, chunk=512)
    instruction = list(range(1000, 1040))
    s.add(batch_seq("b0", [*instruction, 1]))
    s.add(batch_seq("b1", [*instruction, 2]))
    s.add(batch_seq("other", [5, 6, 7]))
    assert set(run_step(s)) == {"b0"}  # first come, first served: a queue of thousands is not scanned each step
    assert set(run_step(s)) == {"b0", "b1", "other"}


def test_the_counts_say_what_steps_carried_and_which_batch_slots_stayed_free() -> None:
    s = make_mixed(max_seqs=4, reserve=1, budget=64, chunk=64)  # 3 batch slots
    s.add(batch_seq("a", [1, 2, 3], max_tokens=9))
    s.add(batch_seq("b", [4, 5], max_tokens=9))
    run_step(s)  # both prefill: 5 prompt tokens, 2 sequences; one batch slot free, nothing queued for it
    assert (s.prefill_tokens, s.sequence_steps, s.batch_steps) == (5, 2, 1)
    assert (s.batch_idle_fed, s.batch_idle_starved) == (0, 1)
    for n in range(3):
        s.add(batch_seq(f"q{n}", [10 + n, 20 + n]))
    run_step(s)  # a and b decode, q0 takes the free slot, q1 and q2 wait: all 3 batch slots busy
    assert (s.prefill_tokens, s.sequence_steps, s.batch_steps) == (7, 5, 2)
    assert (s.batch_idle_fed, s.batch_idle_starved) == (0, 1)
    s.add(Sequence("i", [30, 31], max_tokens=5))
    a = s.get("a")
    assert a is not None
    s.finish(a)
    run_step(s)  # the interactive prompt's step runs no batch work: a's slot stays free with q1 queued
    assert s.batch_idle_fed == 1 and s.batch_steps == 3


def test_batch_steps_stay_short_for_a_while_after_the_last_interactive_sequence_left() -> None:
    now = [100.0]
    s = Scheduler(max_seqs=8, seq_capacity=512, token_budget=64, prefill_chunk=16, batch_busy_decode=2,
                  batch_busy_linger=0.5, clock=lambda: now[0])  # fmt: skip
    for n in range(4):
        s.add(batch_seq(f"b{n}", [n, n + 10]))
    run_step(s)
    s.add(Sequence("i", [50, 51], max_tokens=20))
    run_step(s)  # i's prompt
    i = s.get("i")
    assert i is not None
    s.finish(i)
    # The next interactive call of a trickle would wait on the step in flight: steps stay short for 0.5 s.
    lengths = []
    for _ in range(4):
        now[0] += 0.2
        lengths.append(len(run_step(s)))
    assert lengths == [2, 2, 4, 4]
