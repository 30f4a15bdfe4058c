"""Engine benchmark: Basalt vs llama.cpp's llama-server vs llama-cpp-python's server, same model, same machine.

    .venv/bin/python -m bench.engine            # all peers, all workloads; writes bench/results/engine.json
    .venv/bin/python -m bench.engine --soak     # 2,000 requests against Basalt, RSS sampled along the way

Basalt and llama-server run side by side for the whole bench, and every workload is measured in rounds, each round
measuring both back to back (in alternating order), so a slow spell of this shared machine lands on both sides of a
ratio. Every request's prompt is new to both servers. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx

from .load import RunStats, run_load

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
CONTEXT_PER_SEQ = 2048
SLOTS = 16
TOPICS = ["the sea", "mountains", "a city at night", "coffee", "trains", "the moon", "autumn", "a library", "bridges"]
# (concurrency, requests per round, rounds per --rounds). The short rows run in more, shorter rounds: this VM's speed
# flips between levels 20% apart within seconds, and a round of 8 sequential requests (9 s per server) often caught
# one server in each; 20 rounds of 2 requests put the two sides of each ratio about 2 s apart.
DISTINCT = [(1, 2, 4), (4, 8, 2), (16, 32, 1), (64, 64, 1)]
# Rounds of the shared-prefix workload, fewer than the others: a llama-server round of it takes about 2 minutes, and
# its ratio is far from 1.
SHARED_PREFIX_ROUNDS = 3
SHARED_PREFIX = "You are the assistant of the Basalt Historical Society. Follow the society's style guide. " + " ".join(
    f"Guideline {i}: when asked about period {i}, cite the archive box {i * 13}, stay factual, use short "
    f"sentences, and never speculate about events after the year {1800 + i}."
    for i in range(34)
)
QUESTIONS = [f"Question {i}: what should I know about {TOPICS[i % len(TOPICS)]}?" for i in range(16)]


def distinct_prompts(n: int, tag: str = "") -> list[list[dict[str, str]]]:
    """n prompts; a different `tag` makes them different from any other call's (no whole-prompt cache hits)."""
    return [
        [{"role": "user", "content": f"Write a long essay about {TOPICS[i % len(TOPICS)]} (#{tag}{i})."}]
        for i in range(n)
    ]


def shared_prompts(tag: str = "") -> list[list[dict[str, str]]]:
    """16 prompts sharing a long system prompt; a different `tag` makes that prompt new to the servers' caches."""
    system = f"Session {tag}. {SHARED_PREFIX}"
    return [[{"role": "system", "content": system}, {"role": "user", "content": q}] for q in QUESTIONS]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def running(
    cmd: list[str], port: int, env: dict[str, str] | None = None, probe: str = "/v1/models", method: str = "GET"
) -> Iterator[subprocess.Popen[bytes]]:
    log = (WORK / f"server-{port}.log").open("wb")
    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]} if method == "POST" else None
                if httpx.request(method, f"http://127.0.0.1:{port}{probe}", json=body, timeout=2).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[0]} did not start; see {log.name}")
            time.sleep(0.5)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def model_path() -> Path:
    home = Path(os.environ.get("BASALT_HOME") or Path.home() / ".basalt")
    path = home / "models" / "smollm2-135m-instruct" / "model.gguf"
    if not path.exists():
        subprocess.run([sys.executable, "-m", "basalt.cli", "pull"], check=True)
    return path


def basalt_cmd(port: int) -> list[str]:
    config = WORK / "basalt-bench.yaml"
    config.write_text(f"engine:\n  context_window: {CONTEXT_PER_SEQ}\n  max_seqs: {SLOTS}\n  max_waiting: 1024\n")
    return [sys.executable, "-m", "basalt.cli", "serve", "--port", str(port), "--config", str(config)]


def llama_server_cmd(port: int) -> list[str]:
    binary = subprocess.run(
        [str(ROOT / "bench" / "build-llama-server.sh")], check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    # The same per-request capacity as Basalt: 16 slots that can each hold CONTEXT_PER_SEQ tokens.
    return [
        str(ROOT / "bench" / binary), "-m", str(model_path()), "--port", str(port), "-np", str(SLOTS),
        "-c", str(SLOTS * CONTEXT_PER_SEQ), "-t", str(os.cpu_count() or 2), "--log-disable",
    ]  # fmt: skip


def llama_cpp_python_cmd(port: int) -> list[str]:
    venv = WORK / "lcp-venv"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "build-llama.sh")],
            env={**os.environ, "PY": str(venv / "bin" / "python")},
            check=True,
        )
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "llama-cpp-python[server]==0.3.36"], check=True)
    return [
        str(venv / "bin" / "python"), "-m", "llama_cpp.server", "--model", str(model_path()), "--port", str(port),
        "--n_ctx", str(CONTEXT_PER_SEQ), "--n_threads", str(os.cpu_count() or 2), "--interrupt_requests", "False",
    ]  # fmt: skip


Workload = tuple[str, int, int]  # (name, concurrency, requests)


def row_key(workload: Workload) -> str:
    return f"{workload[0]}/{workload[1]}"


def load(url: str, workload: Workload, tag: str) -> RunStats:
    name, concurrency, requests = workload
    prompts = shared_prompts(tag) if name == "shared_prefix" else distinct_prompts(requests, tag)
    max_tokens = 64 if name == "shared_prefix" else 128
    return asyncio.run(run_load(url, "smollm2", prompts, concurrency, max_tokens))


def measure_side_by_side(servers: dict[str, str], workloads: list[Workload], rounds: dict[str, int]) -> dict[str, Any]:
    """Each workload its number of `rounds` in a row; within a round each server in turn, the order alternating
    between rounds. The shared-prefix workload comes last: it leaves long prompts in llama-server's slots, and its
    next requests then took seconds to start."""
    for url in servers.values():
        load(url, ("distinct", 2, 2), "warm-up ")
    runs: dict[str, dict[str, list[RunStats]]] = {name: {} for name in servers}
    for workload in workloads:
        key = row_key(workload)
        for r in range(rounds[key]):
            order = list(servers) if r % 2 == 0 else list(reversed(servers))
            for name in order:
                stats = load(servers[name], workload, f"{r}.{workload[1]}.")
                runs[name].setdefault(key, []).append(stats)
                summary = stats.summary()
                print(
                    f"  round {r} {name:12} {key:16} " + " ".join(f"{k}={v:.3f}" for k, v in summary.items()),
                    flush=True,
                )
    return {name: {key: combine(stats) for key, stats in by_key.items()} for name, by_key in runs.items()}


def combine(rounds: list[RunStats]) -> dict[str, Any]:
    """Throughput per round (and its median); latency percentiles over every request of every round."""
    pooled = RunStats(results=[x for s in rounds for x in s.results], errors=sum(s.errors for s in rounds))
    summary: dict[str, Any] = dict(pooled.summary())
    per_round = [s.summary()["tok_s"] for s in rounds]
    summary["tok_s"] = statistics.median(per_round)
    summary["tok_s_rounds"] = per_round
    return summary


def measure(name: str, cmd: list[str], port: int, workloads: list[Workload]) -> dict[str, Any]:
    """One server alone, each workload once (for the slow third peer)."""
    print(f"== {name}", flush=True)
    with running(cmd, port) as process:
        url = f"http://127.0.0.1:{port}"
        load(url, ("distinct", 2, 2), "warm-up ")
        rows: dict[str, Any] = {}
        for workload in workloads:
            rows[row_key(workload)] = load(url, workload, "lcp.").summary()
        rows["peak_rss_mb"] = peak_rss_mb(process.pid)
    return rows


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if a and b and a == a and b == b else None


def build_rows(results: dict[str, dict[str, Any]], workloads: list[Workload]) -> list[dict[str, Any]]:
    rows = []
    b, ls, lcp = results["basalt"], results["llama_server"], results.get("llama_cpp_python", {})
    for workload, concurrency, requests in workloads:
        key = row_key((workload, concurrency, requests))
        mine, peer, third = b[key], ls[key], lcp.get(key, {})
        rounds = [round(x / y, 3) for x, y in zip(mine["tok_s_rounds"], peer["tok_s_rounds"], strict=True)]
        rows.append({
            "workload": workload,
            "concurrency": concurrency,
            "basalt_tok_s": round(mine["tok_s"], 1),
            "llama_server_tok_s": round(peer["tok_s"], 1),
            "llama_cpp_python_tok_s": round(third["tok_s"], 1) if third else None,
            "ratio_tok_s": round(statistics.median(rounds), 3),
            "ratio_tok_s_rounds": rounds,
            "basalt_ttft_p50_s": round(mine["ttft_p50"], 3),
            "llama_server_ttft_p50_s": round(peer["ttft_p50"], 3),
            "ratio_ttft_p50": ratio(peer["ttft_p50"], mine["ttft_p50"]),
            "basalt_ttft_p95_s": round(mine["ttft_p95"], 3),
            "llama_server_ttft_p95_s": round(peer["ttft_p95"], 3),
            "ratio_ttft_p95": ratio(peer["ttft_p95"], mine["ttft_p95"]),
            "basalt_itl_p50_ms": round(mine["itl_p50"] * 1000, 1),
            "llama_server_itl_p50_ms": round(peer["itl_p50"] * 1000, 1),
            "basalt_itl_p95_ms": round(mine["itl_p95"] * 1000, 1),
            "llama_server_itl_p95_ms": round(peer["itl_p95"] * 1000, 1),
            "basalt_peak_rss_mb": round(b["peak_rss_mb"]),
            "llama_server_peak_rss_mb": round(ls["peak_rss_mb"]),
            "ratio_peak_rss": ratio(b["peak_rss_mb"], ls["peak_rss_mb"]),
        })  # fmt: skip
    return rows


def markdown(rows: list[dict[str, Any]], machine: str) -> str:
    head = (
        "| workload | conc. | Basalt tok/s | llama-server tok/s | llama-cpp-python tok/s | ratio tok/s | "
        "ratio per round | TTFT p50 B / L (s) | TTFT p95 B / L (s) | ITL p50 B / L (ms) | ITL p95 B / L (ms) | "
        "peak RSS B / L (MB) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )

    def pair(r: dict[str, Any], a: str, b: str) -> str:
        return f"{r[a]} / {r[b]}"

    lines = [
        " | ".join(
            [
                f"| {r['workload']}",
                str(r["concurrency"]),
                str(r["basalt_tok_s"]),
                str(r["llama_server_tok_s"]),
                "n/a" if r["llama_cpp_python_tok_s"] is None else str(r["llama_cpp_python_tok_s"]),
                f"{r['ratio_tok_s']}x",
                per_round(r["ratio_tok_s_rounds"]),
                pair(r, "basalt_ttft_p50_s", "llama_server_ttft_p50_s"),
                pair(r, "basalt_ttft_p95_s", "llama_server_ttft_p95_s"),
                pair(r, "basalt_itl_p50_ms", "llama_server_itl_p50_ms"),
                pair(r, "basalt_itl_p95_ms", "llama_server_itl_p95_ms"),
                pair(r, "basalt_peak_rss_mb", "llama_server_peak_rss_mb"),
            ]
        )
        + " |"
        for r in rows
    ]
    return f"Machine: {machine}\n\n" + head + "\n".join(lines) + "\n"


def per_round(ratios: list[float]) -> str:
    if len(ratios) <= 6:
        return ", ".join(f"{x}" for x in ratios)
    above = sum(x >= 1.0 for x in ratios)
    return f"{len(ratios)} rounds: {min(ratios)} to {max(ratios)}, >= 1.0 in {above}"


def write_section(name: str, text: str) -> None:
    """Replace the text between `<!-- name:begin -->` and `<!-- name:end -->` in docs/benchmarks.md."""
    doc = ROOT / "docs" / "benchmarks.md"
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    content = doc.read_text()
    head, _, rest = content.partition(begin)
    _, _, tail = rest.partition(end)
    doc.write_text(f"{head}{begin}\n{text}{end}{tail}")


def machine() -> str:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "?",
    )
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def soak(total: int = 2000, concurrency: int = 16) -> None:
    port = free_port()
    samples = []
    with running(basalt_cmd(port), port) as process:
        url = f"http://127.0.0.1:{port}"
        done = 0
        while done < total:
            asyncio.run(run_load(url, "smollm2", distinct_prompts(250), concurrency, 8))
            done += 250
            samples.append((done, round(rss_mb(process.pid), 1)))
            print(f"  {done} requests: RSS {samples[-1][1]} MB", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps({"machine": machine(), "rss_mb_after_requests": samples}, indent=2))
    table = "| requests served | Basalt RSS (MB) |\n|---|---|\n" + "".join(f"| {n} | {r} |\n" for n, r in samples)
    write_section("soak", f"Machine: {machine()}\n\n" + table)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--soak", action="store_true")
    parser.add_argument("--skip-llama-cpp-python", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if args.soak:
        soak()
        return
    model_path()
    workloads: list[Workload] = [("distinct", c, n) for c, n, _ in DISTINCT] + [("shared_prefix", 16, 16)]
    rounds = {row_key(("distinct", c, n)): k * args.rounds for c, n, k in DISTINCT}
    rounds[row_key(("shared_prefix", 16, 16))] = min(args.rounds, SHARED_PREFIX_ROUNDS)
    ports = {"basalt": free_port(), "llama_server": free_port()}
    with (
        running(basalt_cmd(ports["basalt"]), ports["basalt"]) as basalt,
        running(llama_server_cmd(ports["llama_server"]), ports["llama_server"]) as llama_server,
    ):
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        results = measure_side_by_side(urls, workloads, rounds)
        results["basalt"]["peak_rss_mb"] = peak_rss_mb(basalt.pid)
        results["llama_server"]["peak_rss_mb"] = peak_rss_mb(llama_server.pid)
    if not args.skip_llama_cpp_python:
        slow: list[Workload] = [("distinct", 1, 2), ("distinct", 4, 4), ("distinct", 16, 16)]
        results["llama_cpp_python"] = measure("llama-cpp-python", llama_cpp_python_cmd(p := free_port()), p, slow)
    rows = build_rows(results, workloads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "engine.json").write_text(json.dumps({"machine": machine(), "rows": rows, "raw": results}, indent=2))
    table = markdown(rows, machine())
    write_section("engine", table)
    print(table)


if __name__ == "__main__":
    main()
