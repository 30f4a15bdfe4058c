"""Batch scheduling benchmark: what batch work gets out of the local engine, and what it costs interactive calls.

    .venv/bin/python -m bench.batches                 # both parts; writes bench/results/batches.json
    .venv/bin/python -m bench.batches --items 1000 --seconds 40

(a) Throughput: N items with a shared instruction prefix, submitted at once as batch work through the local provider
    (`LocalProvider.stream_at("batch", ...)`, what the flow calls for a call whose `CallOptions.priority` is "batch"),
    in generated tokens a second; against llama.cpp's `llama-batched-bench` S_TG (decode tokens a second) at the same
    number of parallel sequences, and against a client loop of single interactive calls at its best concurrency.
(b) Interactive TTFT: a steady trickle of short interactive calls, alone and while a 1,000-item batch runs (and, to
    show what the scheduler buys, while the same items run as a client loop of interactive calls).

The batch engine (basalt/batches/) is not on this branch: the bench drives the provider directly, with at most
`--window` items in flight, as a batch worker would. Once the batch API lands, `submit_batch` below becomes one
`POST /v1/messages/batches` and a poll of its results; the measured numbers should not move, since a batch worker
runs each item through the same flow and provider call. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basalt.canonical import parse_messages_request
from basalt.engine import EngineConfig, LocalEngine
from basalt.providers.base import EventBatch, Priority
from basalt.providers.local import LocalProvider

from .engine import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BATCHED_BENCH = ROOT / "bench" / ".work" / "llama-build" / "bin" / "llama-batched-bench"
MODEL = ROOT / ".basalt-test" / "models" / "smollm2-135m-instruct" / "model.gguf"
MAX_SEQS = 16
CONTEXT = 1024
INSTRUCTION = (
    "You sort support tickets for the Basalt help desk. Read the ticket, then answer with one word for its queue "
    "(billing, outage, account, feature or other), then one sentence that says why."
)
TICKET_TOPICS = ["an invoice", "a login", "the API", "a refund", "a slow page", "an export", "a password", "a quota"]


@dataclass
class Run:
    tokens: int = 0
    done: int = 0
    seconds: float = 0.0
    ttfts: list[float] = field(default_factory=list)
    firsts: list[float] = field(default_factory=list)  # perf_counter of each item's first token
    ends: list[float] = field(default_factory=list)


def item(i: int, tag: str, max_tokens: int) -> dict[str, Any]:
    ticket = f"Ticket {tag}{i}: a customer writes about {TICKET_TOPICS[i % len(TICKET_TOPICS)]} (case {i * 7919})."
    return {
        "model": "smollm2",
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,  # every item generates max_tokens: a fixed amount of work, as llama-batched-bench does
        "system": INSTRUCTION,
        "messages": [{"role": "user", "content": ticket}],
    }


async def one(provider: LocalProvider, body: dict[str, Any], priority: Priority, run: Run) -> None:
    request = parse_messages_request(body)
    began = time.perf_counter()
    first = True
    events: AsyncIterator[EventBatch] = provider.stream_at(priority, request, "smollm2")
    async for batch in events:
        for event in batch:
            if first and event["type"] == "content_block_delta":
                run.firsts.append(time.perf_counter())
                run.ttfts.append(run.firsts[-1] - began)
                first = False
            if event["type"] == "message_delta":
                run.tokens += event["usage"]["output_tokens"]
    run.ends.append(time.perf_counter())
    run.done += 1


async def submit_batch(
    provider: LocalProvider, bodies: list[dict[str, Any]], priority: Priority, window: int, run: Run
) -> None:
    """All items, at most `window` in flight (a batch worker's lease). Cancelled, the items in flight end too."""
    gate = asyncio.Semaphore(window)

    async def guarded(body: dict[str, Any]) -> None:
        async with gate:
            await one(provider, body, priority, run)

    began = time.perf_counter()
    tasks = [asyncio.create_task(guarded(body)) for body in bodies]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        run.seconds = time.perf_counter() - began


async def throughput(provider: LocalProvider, n: int, max_tokens: int, priority: Priority, window: int) -> Run:
    run = Run()
    bodies = [item(i, f"t{priority}{window}-", max_tokens) for i in range(n)]
    await submit_batch(provider, bodies, priority, window, run)
    return run


async def probe(provider: LocalProvider, n: int, interval: float, tag: str) -> list[float]:
    """n short interactive calls, one every `interval` seconds (open loop: arrivals do not wait on answers)."""
    run = Run()
    tasks = []
    for i in range(n):
        body = item(i, f"probe-{tag}-", 8)
        tasks.append(asyncio.create_task(one(provider, body, "interactive", run)))
        await asyncio.sleep(interval)
    await asyncio.gather(*tasks)
    return run.ttfts


async def ttft_under(
    provider: LocalProvider, items: int, priority: Priority | None, window: int, probes: int, interval: float
) -> dict[str, Any]:
    """Interactive TTFTs with nothing else running (priority None), or while `items` run at `priority`."""
    background = Run()
    task = None
    if priority is not None:
        bodies = [item(i, f"bg{priority}-", 32) for i in range(items)]
        task = asyncio.create_task(submit_batch(provider, bodies, priority, window, background))
        await asyncio.sleep(3.0)  # the batch is under way: slots full, queue long
    generated, began = provider.engine.stats().tokens_generated, time.perf_counter()
    ttfts = await probe(provider, probes, interval, str(priority))
    # Tokens the engine generated meanwhile, probes' included (8 each): the batch's share of the engine.
    generated, seconds = provider.engine.stats().tokens_generated - generated, time.perf_counter() - began
    if task is not None:
        task.cancel()  # the rest of the batch is not needed for the measure
        await asyncio.gather(task, return_exceptions=True)
        await settle(provider)
    return {"ttfts": ttfts, "done": background.done, "tokens": generated - 8 * len(ttfts), "seconds": seconds}


async def settle(provider: LocalProvider) -> None:
    """Wait until the engine is idle: cancelled items still finish their preparation (engine.offload shields it) and
    their aborts reach the engine thread, which would otherwise land on the next case's first calls."""
    while (stats := provider.engine.stats()).running or stats.waiting:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    ttfts = [t for r in rounds for t in r["ttfts"]]
    seconds = sum(r["seconds"] for r in rounds)
    return {
        "ttft_p50_ms": round(statistics.median(ttfts) * 1000, 1),
        "ttft_p95_ms": round(percentile(ttfts, 0.95) * 1000, 1),
        "ttft_p95_ms_by_round": [round(percentile(r["ttfts"], 0.95) * 1000, 1) for r in rounds],
        "probes": len(ttfts),
        "background_items_done": sum(r["done"] for r in rounds),
        "background_tok_s": round(sum(r["tokens"] for r in rounds) / seconds, 1),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def batched_bench(npl: int, npp: int, ntg: int, threads: int) -> dict[str, Any] | None:
    """llama-batched-bench at `npl` parallel sequences, with the engine's cache types and flash attention."""
    if not BATCHED_BENCH.exists():
        return None
    # Per sequence the engine's context (separate KV streams, as llama-batched-bench makes them by default), its
    # cache types, flash attention, and no rotation of the quantized keys (the engine turns it off: engine/core.py).
    cmd = [str(BATCHED_BENCH), "-m", str(MODEL), "-c", str(CONTEXT * npl), "-b", "512", "-ub", "512"]
    cmd += ["-npp", str(npp), "-ntg", str(ntg), "-npl", str(npl), "-t", str(threads), "-fa", "on"]
    cmd += ["-ctk", "q8_0", "-ctv", "f16", "--output-format", "jsonl"]
    env = {**os.environ, "LLAMA_ATTN_ROT_DISABLE": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, env=env)
    for line in (done.stdout + "\n" + done.stderr).splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            return {"npl": npl, "npp": npp, "ntg": ntg, "s_tg": round(float(row["speed_tg"]), 1), "cmd": cmd[1:]}
    match = re.search(r"\|\s*" + str(npp) + r"\s*\|\s*" + str(ntg) + r"\s*\|\s*" + str(npl) + r"\s*\|.*", done.stdout)
    if match is None:
        return {"error": (done.stderr or done.stdout)[-400:]}
    cells = [c.strip() for c in match[0].strip("|").split("|")]
    return {"npl": npl, "npp": npp, "ntg": ntg, "s_tg": float(cells[7]), "cmd": cmd[1:]}


def rate(run: Run) -> float:
    return round(run.tokens / run.seconds, 1) if run.seconds else 0.0


async def throughputs(args: argparse.Namespace, provider: LocalProvider) -> dict[str, Any]:
    run = await throughput(provider, args.throughput_items, args.max_tokens, "batch", args.window)
    results: dict[str, Any] = {
        "batch": {"items": args.throughput_items, "tok_s": rate(run), "seconds": round(run.seconds, 1)}
    }
    # S_TG's twin: as many items as there are batch slots, all decoding, from the last first token to the last end.
    slots = provider.engine.core.scheduler.batch_slots
    run = await throughput(provider, slots, args.max_tokens, "batch", slots)
    decode_seconds = max(run.ends) - max(run.firsts)
    results["batch"]["decode_tok_s"] = round(slots * (args.max_tokens - 1) / decode_seconds, 1)
    loops = {}
    for concurrency in args.loop_concurrency:
        run = await throughput(provider, args.throughput_items, args.max_tokens, "interactive", concurrency)
        loops[concurrency] = rate(run)
    best = max(loops, key=loops.__getitem__)
    results["client_loop"] = {"tok_s_by_concurrency": loops, "best_concurrency": best, "tok_s": loops[best]}
    return results


async def measure(args: argparse.Namespace, provider: LocalProvider, batch_slots: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    await throughput(provider, batch_slots, 8, "batch", batch_slots)  # warm-up: threads, caches
    if not args.ttft_only:
        results.update(await throughputs(args, provider))
    # Rounds that alternate the cases, so a slow spell of this shared machine lands on each side of the ratio.
    probes, interval = args.probes, args.seconds / args.probes
    cases: dict[str, tuple[Priority | None, int]] = {"ttft_alone": (None, 0), "ttft_batch": ("batch", args.window)}
    if args.with_loop:
        cases["ttft_loop"] = ("interactive", MAX_SEQS)
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, (priority, window) in cases.items():
            rounds[name].append(await ttft_under(provider, args.items, priority, window, probes, interval))
    for name, measured in rounds.items():
        results[name] = combine(measured)
    alone, batch = results["ttft_alone"], results["ttft_batch"]
    results["ttft_ratio"] = round(batch["ttft_p95_ms"] / alone["ttft_p95_ms"], 2)
    results["ttft_p50_ratio"] = round(batch["ttft_p50_ms"] / alone["ttft_p50_ms"], 2)
    # Each round's two cases ran seconds apart: the median of their ratios is the least moved by a slow spell.
    by_round = [b / a for a, b in zip(alone["ttft_p95_ms_by_round"], batch["ttft_p95_ms_by_round"], strict=True)]
    results["ttft_ratio_by_round"] = [round(x, 2) for x in by_round]
    results["ttft_ratio_median_round"] = round(statistics.median(by_round), 2)
    return results


def ttft(case: dict[str, Any]) -> str:
    rounds = ", ".join(map(str, case["ttft_p95_ms_by_round"]))
    return f"{case['ttft_p95_ms']} ms (p50 {case['ttft_p50_ms']}; p95 by round: {rounds}; {case['probes']} calls)"


def markdown(r: dict[str, Any]) -> str:
    peer = r.get("llama_batched_bench")
    peer_cell = f"{peer['s_tg']}" if peer and "s_tg" in peer else "not built"
    ratio = f"{r['batch']['decode_tok_s'] / peer['s_tg']:.2f}x" if peer and "s_tg" in peer else "-"
    whole = f"{r['batch']['tok_s'] / peer['s_tg']:.2f}x" if peer and "s_tg" in peer else "-"
    loop = r["client_loop"]
    lines = [
        f"Machine: {r['machine']}. Model: SmolLM2-135M-Instruct (Q8_0). Engine: max_seqs {MAX_SEQS}, "
        f"batch_reserve {r['config']['batch_reserve']}, batch_prefill {r['config']['batch_prefill']}, "
        f"batch_busy_decode {r['config']['batch_busy_decode']}; batch slots {r['batch_slots']}; "
        f"{r['config']['threads']} llama.cpp thread(s); {r['config']['window']} batch items in flight.",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| batch of {r['batch']['items']} items, {r['max_tokens']} tokens each (generation tok/s) "
        f"| {r['batch']['tok_s']} |",
        f"| the same, decode phase only: {r['batch_slots']} items decoding together (tok/s) "
        f"| {r['batch']['decode_tok_s']} |",
        f"| llama-batched-bench S_TG at npl {r['batch_slots']} | {peer_cell} (Basalt decode phase / S_TG: {ratio}; "
        f"whole batch / S_TG: {whole}) |",
        f"| client loop of single calls, best concurrency ({loop['best_concurrency']}) | {loop['tok_s']} "
        f"(by concurrency: {', '.join(f'{c}: {v}' for c, v in loop['tok_s_by_concurrency'].items())}) |",
        f"| interactive TTFT p95 alone | {ttft(r['ttft_alone'])} |",
        f"| interactive TTFT p95 while a {r['items']}-item batch runs | {ttft(r['ttft_batch'])}; "
        f"the batch made {r['ttft_batch']['background_tok_s']} tok/s meanwhile |",
        f"| ratio, batch running / alone | p95 {r['ttft_ratio']}x (median of the rounds' p95 ratios "
        f"{r['ttft_ratio_median_round']}x: {', '.join(map(str, r['ttft_ratio_by_round']))}); "
        f"p50 {r['ttft_p50_ratio']}x |",
    ]
    if "ttft_loop" in r:
        lines.append(
            f"| interactive TTFT p95 while the same items run as a client loop (concurrency {MAX_SEQS}) "
            f"| {ttft(r['ttft_loop'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000, help="items of the batch running under the TTFT probes")
    parser.add_argument("--throughput-items", type=int, default=42)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--window", type=int, default=64, help="batch items in flight at once")
    parser.add_argument("--loop-concurrency", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--probes", type=int, default=20, help="interactive calls per case and round")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long the TTFT probes run, each case and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-reserve", type=int, default=2)
    parser.add_argument("--batch-prefill", type=int, default=16)
    parser.add_argument("--batch-busy-decode", type=int, default=4)
    # One thread by default, here and for llama-batched-bench: on this shared 2-core VM, two llama.cpp threads meet at
    # a barrier every op, and any other process on either core stalls both (measured: the same 16 steps took 0.25 s
    # to 6 s with two threads, 0.25-0.35 s with one).
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (0: one per core)")
    parser.add_argument("--with-loop", action="store_true", help="also probe TTFT beside a client loop")
    parser.add_argument("--ttft-only", action="store_true", help="skip the throughput part (and write nothing)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    config = EngineConfig(
        context_window=CONTEXT,
        max_seqs=MAX_SEQS,
        n_threads=args.threads,
        max_waiting=4096,
        batch_reserve=args.batch_reserve,
        batch_prefill=args.batch_prefill,
        batch_busy_decode=args.batch_busy_decode,
    )
    engine = LocalEngine(MODEL, config)
    engine.start()
    batch_slots = engine.core.scheduler.batch_slots
    try:
        provider = LocalProvider(engine, "smollm2", "SmolLM2", "2025-01-01T00:00:00Z")
        results = asyncio.run(measure(args, provider, batch_slots))
        results["stats"] = {"preemptions": engine.stats().preemptions}
        prompt = asyncio.run(provider.count_tokens(parse_messages_request(item(0, "x", 1)), "smollm2"))
    finally:
        engine.stop()
    threads = args.threads or len(os.sched_getaffinity(0))
    if not args.ttft_only:
        results["llama_batched_bench"] = batched_bench(batch_slots, prompt, args.max_tokens, threads)
    results.update(
        machine=machine(),
        items=args.items,
        max_tokens=args.max_tokens,
        batch_slots=batch_slots,
        config={
            "batch_reserve": args.batch_reserve,
            "batch_prefill": args.batch_prefill,
            "batch_busy_decode": args.batch_busy_decode,
            "window": args.window,
            "threads": threads,
        },
    )
    print(json.dumps(results, indent=2))
    if args.ttft_only:
        return
    print(markdown(results))
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "batches.json").write_text(json.dumps(results, indent=2) + "\n")
        write_section("batches", markdown(results))


if __name__ == "__main__":
    main()
