"""Batch benchmark through the batch API: what a batch gets from the local engine, and what it costs interactive calls.

    .venv/bin/python -m bench.batches                 # ~6 minutes; writes bench/results/batches.json
    .venv/bin/python -m bench.batches --ttft-only     # the TTFT part alone, nothing written

A real `basalt serve` (its own home and SQLite database, the bundled model, one llama.cpp thread) and a client of its
HTTP API, in another process, as a user would run them:

(a) Throughput: N items with a shared instruction submitted as one `POST /v1/messages/batches`, polled until it has
    ended, its results read; generated tokens (the results' usage) over the time from submit to ended. Against
    llama.cpp's `llama-batched-bench` at the same parallel sequences and the same prompt and generation lengths (its
    S_TG, decode tokens a second with prompt processing left out; S_PP; and S, all tokens over all the time), and
    against a client loop of single `POST /v1/messages` calls at its best concurrency. The server's /metrics counters
    say what the steps carried: sequences a step, prompt tokens computed per item, batch slots left free.
    The same batch also runs on a second server whose worker keeps only `max_seqs` items in flight (the feed before
    issue 20), to show what queuing the next items ahead buys.
(b) Interactive TTFT: a steady trickle of short streamed calls, alone and while a 1,000-item batch runs (and, to show
    what the scheduler buys, while the same items run as a client loop of interactive calls).

Every compared case runs in rounds that alternate, on this shared machine; the tables give medians and ranges.
See docs/benchmarks.md (batches).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import yaml

from .engine import free_port, machine, write_section

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / ".work"
BATCHED_BENCH = WORK / "llama-build" / "bin" / "llama-batched-bench"
MAX_SEQS = 16
CONTEXT = 1024
# Seconds between two looks at a running batch: the error it adds to a batch's time, against the load its requests
# (and their access-log lines) put on the server the batch runs on (at 0.05 s, 20 requests a second).
POLL = 0.1
INSTRUCTION = (
    "You sort support tickets for the Basalt help desk. Read the ticket, then answer with one word for its queue "
    "(billing, outage, account, feature or other), then one sentence that says why."
)
TICKET_TOPICS = ["an invoice", "a login", "the API", "a refund", "a slow page", "an export", "a password", "a quota"]
COUNTERS = (
    "steps",
    "sequence_steps",
    "prefill_tokens",
    "prefix_reused_tokens",
    "generated_tokens",
    "batch_steps",
    "batch_idle_slot_steps_fed",
    "batch_idle_slot_steps_starved",
)


def models_dir() -> Path:
    for home in (ROOT / ".basalt-test", Path(os.environ.get("BASALT_HOME") or Path.home() / ".basalt")):
        if (home / "models" / "smollm2-135m-instruct" / "model.gguf").exists():
            return home / "models"
    raise SystemExit("the bundled model is not there: run `basalt pull` first")


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


# -- the server ------------------------------------------------------------------------------------------------------
@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def serving(name: str, args: argparse.Namespace, concurrency: int | None = None) -> Iterator[Server]:
    """`basalt serve` in a fresh home of its own (database, ledger), the model hard-linked into it."""
    home = WORK / f"batches-{name}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(models_dir(), home / "models", copy_function=os.link)
    engine = {"context_window": CONTEXT, "max_seqs": MAX_SEQS, "n_threads": args.threads, "max_waiting": 4096}
    engine |= {"batch_reserve": args.batch_reserve, "batch_prefill": args.batch_prefill}
    engine |= {"batch_busy_decode": args.batch_busy_decode, "batch_busy_linger": args.batch_busy_linger}
    batches: dict[str, Any] = {"poll_seconds": 0.2, "sweep_seconds": 1}
    if concurrency is not None:
        batches["concurrency"] = concurrency
    port = free_port()
    config = home / "basalt.yaml"
    config.write_text(yaml.safe_dump({"engine": engine, "batches": batches}))
    log = (home / "server.log").open("wb")
    cmd = [sys.executable, "-m", "basalt.cli", "serve", "--port", str(port), "--config", str(config)]
    env = {**os.environ, "BASALT_HOME": str(home)}
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"basalt serve did not start; see {log.name}")
            time.sleep(0.2)
        yield Server(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


async def counters(client: httpx.AsyncClient) -> dict[str, float]:
    """The engine's counters and gauges from /metrics (one worker, no labels on them)."""
    found: dict[str, float] = {}
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith("basalt_engine_"):
            name, _, value = line.rpartition(" ")
            found[name.removeprefix("basalt_engine_").removesuffix("_total")] = float(value)
    return found


async def settle(client: httpx.AsyncClient) -> None:
    """Wait until the engine is idle, so one case's leftovers never land on the next case's first calls."""
    while True:
        now = await counters(client)
        if not now.get("running_sequences") and not now.get("waiting_sequences"):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)


# -- batches through the API -----------------------------------------------------------------------------------------
async def submit(client: httpx.AsyncClient, bodies: list[dict[str, Any]], tag: str) -> str:
    requests = [{"custom_id": f"{tag}-{i}", "params": body} for i, body in enumerate(bodies)]
    answer = await client.post("/v1/messages/batches", json={"requests": requests})
    answer.raise_for_status()
    return str(answer.json()["id"])


async def wait_ended(client: httpx.AsyncClient, batch_id: str, poll: float = POLL) -> dict[str, Any]:
    while True:
        info: dict[str, Any] = (await client.get(f"/v1/messages/batches/{batch_id}")).json()
        if info["processing_status"] == "ended":
            return info
        await asyncio.sleep(poll)


async def run_batch(client: httpx.AsyncClient, n: int, max_tokens: int, tag: str) -> dict[str, Any]:
    """One batch from submit to ended: generated tokens a second, and what the engine's steps carried."""
    bodies = [item(i, tag, max_tokens) for i in range(n)]
    before = await counters(client)
    began = time.perf_counter()
    info = await wait_ended(client, await submit(client, bodies, tag))
    seconds = time.perf_counter() - began
    after = await counters(client)
    lines = (await client.get(info["results_url"])).text.splitlines()
    results = [json.loads(line)["result"] for line in lines if line.strip()]
    ok = [r["message"]["usage"] for r in results if r["type"] == "succeeded"]
    if len(ok) != n:
        raise RuntimeError(f"{n - len(ok)} of {n} items did not succeed: {results[:2]}")
    delta = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in COUNTERS}
    generated = sum(u["output_tokens"] for u in ok)
    print(f"batch {tag}: {n} items, {generated} tokens in {seconds:.2f} s, {delta}", file=sys.stderr, flush=True)
    return {
        "seconds": seconds,
        "tokens": generated,
        "prompt_tokens": sum(u["input_tokens"] for u in ok),
        "tok_s": generated / seconds,
        "counts": delta,
    }


def step_counts(run: dict[str, Any], n: int) -> dict[str, float]:
    c = run["counts"]
    steps, batch_steps = max(1.0, c["steps"]), max(1.0, c["batch_steps"])
    return {
        "steps": c["steps"],
        "sequences_per_step": round(c["sequence_steps"] / steps, 2),
        "prefill_tokens_per_item": round(c["prefill_tokens"] / n, 1),
        "prompt_tokens_per_item": round(run["prompt_tokens"] / n, 1),
        "idle_batch_slots_per_step_fed": round(c["batch_idle_slot_steps_fed"] / batch_steps, 2),
        "idle_batch_slots_per_step_starved": round(c["batch_idle_slot_steps_starved"] / batch_steps, 2),
    }


# -- single calls ----------------------------------------------------------------------------------------------------
async def call(client: httpx.AsyncClient, body: dict[str, Any]) -> int:
    answer = await client.post("/v1/messages", json=body)
    answer.raise_for_status()
    return int(answer.json()["usage"]["output_tokens"])


async def client_loop(client: httpx.AsyncClient, bodies: list[dict[str, Any]], concurrency: int) -> float:
    """All the items as single calls, `concurrency` at a time; generated tokens a second."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(body: dict[str, Any]) -> int:
        async with gate:
            return await call(client, body)

    began = time.perf_counter()
    tokens = await asyncio.gather(*(guarded(body) for body in bodies))
    rate = sum(tokens) / (time.perf_counter() - began)
    print(f"client loop at {concurrency}: {rate:.1f} tok/s", file=sys.stderr, flush=True)
    return rate


async def first_token(client: httpx.AsyncClient, body: dict[str, Any]) -> float:
    """A streamed call's time to its first text, read to its end (so it costs the engine a whole call)."""
    began = time.perf_counter()
    ttft = None
    async with client.stream("POST", "/v1/messages", json={**body, "stream": True}) as answer:
        answer.raise_for_status()
        async for line in answer.aiter_lines():
            if ttft is None and line.startswith("event: content_block_delta"):
                ttft = time.perf_counter() - began
    if ttft is None:
        raise RuntimeError("a probe got no text")
    return ttft


async def probe(client: httpx.AsyncClient, n: int, interval: float, tag: str) -> list[float]:
    """n short interactive calls, one every `interval` seconds (open loop: arrivals do not wait on answers)."""
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(first_token(client, item(i, f"probe-{tag}-", 8))))
        await asyncio.sleep(interval)
    return list(await asyncio.gather(*tasks))


async def ttft_under(client: httpx.AsyncClient, background: str | None, args: argparse.Namespace, tag: str) -> Any:
    """Interactive TTFTs with nothing else running (None), beside a batch ("batch") or a client loop ("loop")."""
    bodies = [item(i, f"bg-{tag}-", 32) for i in range(args.items)]
    batch_id, loop = None, None
    if background == "batch":
        batch_id = await submit(client, bodies, f"bg-{tag}")
    elif background == "loop":
        loop = asyncio.create_task(client_loop(client, bodies, MAX_SEQS))
    if background is not None:
        await asyncio.sleep(3.0)  # the background work is under way: slots full, queue long
    before, began = await counters(client), time.perf_counter()
    ttfts = await probe(client, args.probes, args.seconds / args.probes, tag)
    after, seconds = await counters(client), time.perf_counter() - began
    if batch_id is not None:
        (await client.post(f"/v1/messages/batches/{batch_id}/cancel")).raise_for_status()
        await wait_ended(client, batch_id, poll=0.5)  # its items in flight finish; nothing is timed here
    if loop is not None:
        loop.cancel()  # its calls in flight are cancelled: their clients are gone, the engine aborts them
        await asyncio.gather(loop, return_exceptions=True)
    await settle(client)
    # Tokens the engine generated meanwhile, less the probes' (8 each): the background work's share of the engine.
    generated = after["generated_tokens"] - before["generated_tokens"] - 8 * len(ttfts)
    print(f"ttft {tag}: p95 {percentile(ttfts, 0.95) * 1000:.0f} ms", file=sys.stderr, flush=True)
    return {"ttfts": ttfts, "tok_s": generated / seconds}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    ttfts = [t for r in rounds for t in r["ttfts"]]
    return {
        "ttft_p50_ms": round(statistics.median(ttfts) * 1000, 1),
        "ttft_p95_ms": round(percentile(ttfts, 0.95) * 1000, 1),
        "ttft_p95_ms_by_round": [round(percentile(r["ttfts"], 0.95) * 1000, 1) for r in rounds],
        "probes": len(ttfts),
        "background_tok_s": round(statistics.median(r["tok_s"] for r in rounds), 1),
    }


# -- the peer --------------------------------------------------------------------------------------------------------
def batched_bench(npl: int, npp: int, ntg: int, threads: int) -> dict[str, Any] | None:
    """llama-batched-bench at `npl` parallel sequences, with the engine's cache types and flash attention: each
    sequence's prompt of `npp` tokens computed in the first steps (T_PP), then `ntg` decode steps (T_TG)."""
    if not BATCHED_BENCH.exists():
        return None
    # Per sequence the engine's context (separate KV streams, as llama-batched-bench makes them by default), its
    # cache types, flash attention, and no rotation of the quantized keys (the engine turns it off: engine/core.py).
    model = models_dir() / "smollm2-135m-instruct" / "model.gguf"
    cmd = [str(BATCHED_BENCH), "-m", str(model), "-c", str(CONTEXT * npl), "-b", "512", "-ub", "512"]
    cmd += ["-npp", str(npp), "-ntg", str(ntg), "-npl", str(npl), "-t", str(threads), "-fa", "on"]
    cmd += ["-ctk", "q8_0", "-ctv", "f16", "--output-format", "jsonl"]
    env = {**os.environ, "LLAMA_ATTN_ROT_DISABLE": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, env=env)
    for line in (done.stdout + "\n" + done.stderr).splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            return {k: float(row[k]) for k in ("speed_tg", "speed_pp", "speed", "t_pp", "t_tg")}
    match = re.search(r"\|\s*" + str(npp) + r"\s*\|\s*" + str(ntg) + r"\s*\|\s*" + str(npl) + r"\s*\|.*", done.stdout)
    if match is None:
        return {"error": (done.stderr or done.stdout)[-400:]}
    cells = [float(c.strip()) for c in match[0].strip("|").split("|")]
    return {"t_pp": cells[4], "speed_pp": cells[5], "t_tg": cells[6], "speed_tg": cells[7], "speed": cells[9]}


# -- the whole run ---------------------------------------------------------------------------------------------------
def spread(values: list[float], digits: int = 1) -> dict[str, Any]:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits)}  # fmt: skip


async def throughputs(args: argparse.Namespace, url: str, narrow: str | None) -> dict[str, Any]:
    """Rounds of: the batch (and the same on the narrow-window server), the decode-phase pair, the client loops
    and the peer, so that a slow spell of the machine lands on every side of each ratio."""
    slots = MAX_SEQS - args.batch_reserve
    n, ntg = args.throughput_items, args.max_tokens
    rows: dict[str, list[Any]] = {"batch": [], "narrow": [], "decode": [], "peer": []}
    loops: dict[int, list[float]] = {c: [] for c in args.loop_concurrency}
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        narrow_client = httpx.AsyncClient(base_url=narrow, timeout=600) if narrow else None
        await run_batch(client, slots, 8, "warm")
        if narrow_client is not None:
            await run_batch(narrow_client, slots, 8, "warm")
        for r in range(args.throughput_rounds):
            rows["batch"].append(await run_batch(client, n, ntg, f"t{r}"))
            if narrow_client is not None:
                rows["narrow"].append(await run_batch(narrow_client, n, ntg, f"n{r}"))
            # The decode phase alone, as S_TG measures it: `slots` items of `ntg` tokens against the same of 8 tokens
            # (the same prompts, so the same prefill): the difference is slots * (ntg - 8) decode tokens.
            short = await run_batch(client, slots, 8, f"d{r}")
            long = await run_batch(client, slots, ntg, f"d{r}")
            rows["decode"].append(slots * (ntg - 8) / (long["seconds"] - short["seconds"]))
            for concurrency in args.loop_concurrency:
                bodies = [item(i, f"l{r}c{concurrency}-", ntg) for i in range(n)]
                loops[concurrency].append(await client_loop(client, bodies, concurrency))
            prompt = rows["batch"][-1]["prompt_tokens"] // n
            peer = await asyncio.to_thread(batched_bench, slots, prompt, ntg, args.threads)
            if peer is not None:
                print(f"peer: {peer}", file=sys.stderr, flush=True)
                rows["peer"].append(peer)
        if narrow_client is not None:
            await narrow_client.aclose()
    best = max(loops, key=lambda c: statistics.median(loops[c]))
    batch = rows["batch"]
    results: dict[str, Any] = {
        "batch": {
            "items": n,
            "tok_s": spread([b["tok_s"] for b in batch]),
            "seconds": spread([b["seconds"] for b in batch]),
            "counts": step_counts(batch[-1], n),
            "prompt_tokens_per_item": batch[-1]["prompt_tokens"] // n,
        },
        "decode_tok_s": spread(rows["decode"]),
        "client_loop": {"tok_s_by_concurrency": {c: spread(v) for c, v in loops.items()}, "best_concurrency": best},
    }
    if rows["narrow"]:
        results["narrow"] = {
            "window": MAX_SEQS,
            "tok_s": spread([b["tok_s"] for b in rows["narrow"]]),
            "counts": step_counts(rows["narrow"][-1], n),
        }
    peers = [p for p in rows["peer"] if "speed_tg" in p]
    if peers:
        results["peer"] = {k: spread([p[k] for p in peers], 2) for k in peers[0]}
        results["ratios"] = ratios(batch, rows["decode"], peers, n, ntg)
    elif rows["peer"]:
        results["peer"] = rows["peer"][-1]
    return results


def ratios(batch: list[dict[str, Any]], decode: list[float], peers: list[dict[str, Any]], n: int, ntg: int) -> Any:
    """Each round's Basalt number over the peer's of the same round, medians and ranges over the rounds.

    - whole / S_TG: the issue's measure. S_TG leaves prompt processing out, and a batch cannot: every item's own
      prompt tokens are computed, and on a CPU a step costs about its token count.
    - decode / S_TG: the decode phase alone against S_TG, like for like.
    - S terms: (prompt + generated tokens) a second, every prompt token counted as the peer counts them, against S.
    - ceiling: the time the peer's own rates need for this batch's work (its generated tokens at S_TG, the prompt
      tokens it computed, the prefix cache's savings left out, at S_PP) over the batch's time: 1.0 means the
      engine's scheduling (turnover, idle slots, Python between steps) costs nothing.
    """
    whole, per_decode, s_terms, ceiling = [], [], [], []
    for b, d, p in zip(batch, decode, peers, strict=False):
        whole.append(b["tok_s"] / p["speed_tg"])
        per_decode.append(d / p["speed_tg"])
        s_terms.append((b["tokens"] + b["prompt_tokens"]) / b["seconds"] / p["speed"])
        work = b["tokens"] / p["speed_tg"] + b["counts"]["prefill_tokens"] / p["speed_pp"]
        ceiling.append(work / b["seconds"])
    return {
        "whole_over_s_tg": spread(whole, 2),
        "decode_over_s_tg": spread(per_decode, 2),
        "s_terms_over_s": spread(s_terms, 2),
        "whole_over_ceiling": spread(ceiling, 2),
    }


async def ttfts(args: argparse.Namespace, url: str) -> dict[str, Any]:
    cases: dict[str, str | None] = {"ttft_alone": None, "ttft_batch": "batch"}
    if args.with_loop:
        cases["ttft_loop"] = "loop"
    rounds: dict[str, list[Any]] = {name: [] for name in cases}
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        await probe(client, 4, 0.2, "warm")
        for r in range(args.rounds):
            for name, background in cases.items():
                rounds[name].append(await ttft_under(client, background, args, f"{name}{r}"))
    results = {name: combine(measured) for name, measured in rounds.items()}
    alone, batch = results["ttft_alone"], results["ttft_batch"]
    results["ttft_ratio"] = round(batch["ttft_p95_ms"] / alone["ttft_p95_ms"], 2)
    results["ttft_p50_ratio"] = round(batch["ttft_p50_ms"] / alone["ttft_p50_ms"], 2)
    # Each round's cases ran seconds apart: each round's own ratio, the least moved by a slow spell.
    by_round = [b / a for a, b in zip(alone["ttft_p95_ms_by_round"], batch["ttft_p95_ms_by_round"], strict=True)]
    results["ttft_ratio_by_round"] = [round(x, 2) for x in by_round]
    results["ttft_ratio_max_round"] = round(max(by_round), 2)
    return results


def cell(s: dict[str, Any], unit: str = "") -> str:
    return f"{s['median']}{unit} ({s['min']}-{s['max']})"


def ttft(case: dict[str, Any]) -> str:
    rounds = ", ".join(map(str, case["ttft_p95_ms_by_round"]))
    return f"{case['ttft_p95_ms']} ms (p50 {case['ttft_p50_ms']}; p95 by round: {rounds}; {case['probes']} calls)"


def counts_cell(c: dict[str, Any]) -> str:
    return (
        f"{c['steps']:.0f} steps, {c['sequences_per_step']} sequences a step, {c['prefill_tokens_per_item']} of "
        f"{c['prompt_tokens_per_item']} prompt tokens computed per item, free batch slots a step: "
        f"{c['idle_batch_slots_per_step_fed']} with items queued, {c['idle_batch_slots_per_step_starved']} with none"
    )


def markdown(r: dict[str, Any]) -> str:
    cfg = r["config"]
    lines = [
        f"Machine: {r['machine']}. Model: SmolLM2-135M-Instruct (Q8_0). `basalt serve`: max_seqs {MAX_SEQS}, "
        f"batch_reserve {cfg['batch_reserve']} (batch slots {r['batch_slots']}), batch_prefill {cfg['batch_prefill']}, "
        f"batch_busy_decode {cfg['batch_busy_decode']}, batch_busy_linger {cfg['batch_busy_linger']}, "
        f"{cfg['threads']} llama.cpp thread; the worker's window "
        f"{2 * MAX_SEQS} items. Medians (ranges) over {cfg['throughput_rounds']} rounds, TTFT over {cfg['rounds']}.",
        "",
        "| measure | value |",
        "| --- | --- |",
    ]
    if "batch" in r:
        b, p = r["batch"], r.get("peer", {})
        lines.append(
            f"| batch of {b['items']} items, {r['max_tokens']} tokens each, through the API (generated tok/s) "
            f"| {cell(b['tok_s'])} |"
        )
        lines.append(f"| its steps (last round) | {counts_cell(b['counts'])} |")
        if "narrow" in r:
            nw = r["narrow"]
            lines.append(
                f"| the same with the worker's window at {nw['window']} items (max_seqs, before) "
                f"| {cell(nw['tok_s'])} tok/s; {counts_cell(nw['counts'])} |"
            )
        lines.append(
            f"| decode phase alone: {r['batch_slots']} items of {r['max_tokens']} tokens against 8 (tok/s) "
            f"| {cell(r['decode_tok_s'])} |"
        )
        if "speed_tg" in p:
            q = r["ratios"]
            lines.append(
                f"| llama-batched-bench, npl {r['batch_slots']}, npp {b['prompt_tokens_per_item']}, ntg "
                f"{r['max_tokens']} | S_TG {cell(p['speed_tg'])}, S_PP {cell(p['speed_pp'])}, "
                f"S {cell(p['speed'])} |"
            )
            lines += [
                f"| whole batch / S_TG | {cell(q['whole_over_s_tg'], 'x')} |",
                f"| decode phase / S_TG | {cell(q['decode_over_s_tg'], 'x')} |",
                f"| whole batch in S's terms (prompt + generated tok/s) / S | {cell(q['s_terms_over_s'], 'x')} |",
                f"| whole batch / the peer's time for its work (generated at S_TG + computed prompt at S_PP) "
                f"| {cell(q['whole_over_ceiling'], 'x')} |",
            ]
        else:
            lines.append(f"| llama-batched-bench | not built ({p.get('error', 'bench/build-llama-server.sh')}) |")
        loop = r["client_loop"]
        by = ", ".join(f"{c}: {cell(v)}" for c, v in loop["tok_s_by_concurrency"].items())
        best = loop["tok_s_by_concurrency"][loop["best_concurrency"]]
        lines.append(
            f"| client loop of single calls, best concurrency ({loop['best_concurrency']}) "
            f"| {cell(best)} (by concurrency: {by}) |"
        )
    lines += [
        f"| interactive TTFT p95 alone | {ttft(r['ttft_alone'])} |",
        f"| interactive TTFT p95 while a {r['items']}-item batch runs | {ttft(r['ttft_batch'])}; "
        f"the batch made {r['ttft_batch']['background_tok_s']} tok/s meanwhile |",
        f"| ratio, batch running / alone | p95 {r['ttft_ratio']}x pooled, by round "
        f"{', '.join(map(str, r['ttft_ratio_by_round']))} (worst {r['ttft_ratio_max_round']}x); "
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
    parser.add_argument("--throughput-rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--loop-concurrency", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--probes", type=int, default=20, help="interactive calls per case and round")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long the TTFT probes run, each case and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-reserve", type=int, default=2)
    parser.add_argument("--batch-prefill", type=int, default=16)
    parser.add_argument("--batch-busy-decode", type=int, default=4)
    parser.add_argument("--batch-busy-linger", type=float, default=0.5)
    # One thread, here and for llama-batched-bench: on this shared 2-core VM, two llama.cpp threads meet at a barrier
    # every op, and any other process on either core stalls both (measured: the same 16 steps took 0.25 s to 6 s
    # with two threads, 0.25-0.35 s with one).
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    parser.add_argument("--with-loop", action="store_true", help="also probe TTFT beside a client loop")
    parser.add_argument("--no-narrow", action="store_true", help="skip the server with the old, narrow window")
    parser.add_argument("--ttft-only", action="store_true", help="skip the throughput part (and write nothing)")
    parser.add_argument("--throughput-only", action="store_true", help="skip the TTFT part (and write nothing)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with serving("main", args) as server:
        if not args.ttft_only:
            if args.no_narrow:
                results.update(asyncio.run(throughputs(args, server.url, None)))
            else:
                with serving("narrow", args, concurrency=MAX_SEQS) as narrow:
                    results.update(asyncio.run(throughputs(args, server.url, narrow.url)))
        if not args.throughput_only:
            results.update(asyncio.run(ttfts(args, server.url)))
    results.update(
        machine=machine(),
        items=args.items,
        max_tokens=args.max_tokens,
        batch_slots=MAX_SEQS - args.batch_reserve,
        config={
            "batch_reserve": args.batch_reserve,
            "batch_prefill": args.batch_prefill,
            "batch_busy_decode": args.batch_busy_decode,
            "batch_busy_linger": args.batch_busy_linger,
            "threads": args.threads,
            "rounds": args.rounds,
            "throughput_rounds": args.throughput_rounds,
        },
    )
    print(json.dumps(results, indent=2))
    if args.throughput_only:
        return
    print(markdown(results))
    if args.ttft_only or args.no_write:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "batches.json").write_text(json.dumps(results, indent=2) + "\n")
    write_section("batches", markdown(results))


if __name__ == "__main__":
    main()
