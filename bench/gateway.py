"""Gateway overhead: Basalt vs LiteLLM's proxy vs the upstream directly, against the same instant fake upstream.

    .venv/bin/python -m bench.gateway      # needs wrk (apt-get install wrk); installs LiteLLM into bench/.work

Each gateway runs one worker; load comes from wrk on the same machine, OpenAI Chat Completions requests, non-streaming
and streaming (the fake upstream streams 20 chunks), at concurrency 1 and 32; and Bedrock's Converse through
Basalt's Bedrock dialect to the same upstream (a Basalt-only row: LiteLLM's proxy does not serve that API). Every
row is measured in rounds (BENCH_ROUNDS, 5 by default, of BENCH_DURATION seconds, 3 by default), each round
measuring the upstream directly, Basalt and LiteLLM back to back, each once all three servers are idle: RPS is the
mean over rounds, added p50 the median of each round's difference to the upstream. Writes
bench/results/gateway.json and the table in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .engine import RESULTS, WORK, free_port, machine, running, write_section

ROOT = Path(__file__).resolve().parent.parent
LITELLM_VERSION = "1.108.7"
MASTER_KEY = "sk-bench-master-key"
DURATION = int(os.environ.get("BENCH_DURATION", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def wrk_script(stream: bool, key: str | None, converse: bool = False) -> Path:
    body: dict[str, Any] = {"model": "m", "max_tokens": 32, "messages": [{"role": "user", "content": "hello"}]}
    body["stream"] = stream
    if converse:  # Bedrock's Converse: the model is in the path
        body = {"messages": [{"role": "user", "content": [{"text": "hello"}]}], "inferenceConfig": {"maxTokens": 32}}
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = '{json.dumps(body)}'",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if key:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {key}"')
    kind = "converse" if converse else "stream" if stream else "plain"
    path = WORK / f"wrk-{kind}-{'key' if key else 'nokey'}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_wrk(url: str, script: Path, concurrency: int, duration: int = DURATION) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{duration}s", "--latency", "-s", str(script), url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": float(p50.group(1)) * scale[p50.group(2)] if p50 else float("nan"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def basalt_tenant(config: Path) -> str:
    """A fresh ledger with a project whose limits and budget are on but never reached, and its key: so the run
    pays for authentication, rate limiting, budget checks and a durable ledger row per request."""
    for stale in WORK.glob("gateway-ledger.db*"):
        stale.unlink()
    basalt = [sys.executable, "-m", "basalt.cli"]
    limits = ["--rpm", "100000000", "--input-tpm", "1000000000", "--output-tpm", "1000000000"]
    limits += ["--max-concurrency", "10000", "--daily-budget-usd", "1000000000"]
    subprocess.run([*basalt, "projects", "create", "bench", *limits, "--config", str(config)], check=True)
    created = subprocess.run(
        [*basalt, "keys", "create", "--project", "bench", "--name", "bench", *limits, "--config", str(config)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return created.stdout.strip()


def litellm_bin() -> Path:
    venv = WORK / "litellm-venv"
    if not (venv / "bin" / "litellm").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"], check=True)
    return venv / "bin" / "litellm"


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench.gateway needs wrk: apt-get install wrk")
    WORK.mkdir(parents=True, exist_ok=True)
    up_port, basalt_port, litellm_port = free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    basalt_config = WORK / "gateway-basalt.yaml"
    basalt_config.write_text(
        f"serve_local: false\ndeployments:\n  - {{name: m, provider: openai, model: m, base_url: '{upstream}'}}\n"
        f"control: {{auth: true, database: 'sqlite+aiosqlite:///{WORK / 'gateway-ledger.db'}'}}\n"
        "prices: {m: {input: 3.0, output: 15.0}}\n"
    )
    basalt_key = basalt_tenant(basalt_config)
    (WORK / "gateway-litellm.yaml").write_text(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/m\n"
        f"      api_base: {upstream}\n      api_key: fake\ngeneral_settings:\n  master_key: {MASTER_KEY}\n"
    )
    cases = [("non-streaming", False, 1), ("non-streaming", False, 32), ("stream-20", True, 1), ("stream-20", True, 32)]
    fake = [sys.executable, "-m", "uvicorn", "bench.fake_upstream:app", "--port", str(up_port), "--log-level", "error"]
    basalt = [sys.executable, "-m", "basalt.cli", "serve", "--port", str(basalt_port), "--config", str(basalt_config)]
    litellm = [str(litellm_bin()), "--config", str(WORK / "gateway-litellm.yaml"), "--port", str(litellm_port),
               "--num_workers", "1"]  # fmt: skip
    targets = {
        "direct": (upstream + "/chat/completions", None),
        "basalt": (f"http://127.0.0.1:{basalt_port}/v1/chat/completions", basalt_key),
        "litellm": (f"http://127.0.0.1:{litellm_port}/v1/chat/completions", MASTER_KEY),
    }
    # All three run at once and each round measures them back to back: an added latency is a difference between
    # two measurements, and on a shared VM the machine drifts between measurements taken minutes apart.
    rounds: dict[str, dict[str, list[dict[str, float]]]] = {name: {} for name in targets}
    with (
        running(fake, up_port, probe="/v1/chat/completions", method="POST") as fake_server,
        running(basalt, basalt_port, probe="/health") as basalt_server,
        running(litellm, litellm_port, probe="/health/liveliness") as litellm_server,  # /v1/models needs a DB
    ):
        servers = [fake_server.pid, basalt_server.pid, litellm_server.pid]
        for url, key in targets.values():  # warm every path of every gateway alike
            for _, stream, concurrency in cases:
                run_wrk(url, wrk_script(stream, key), concurrency, duration=2)
        for mode, stream, concurrency in cases:
            case = f"{mode}/{concurrency}"
            for i in range(ROUNDS):
                for name, (url, key) in targets.items():
                    settle(servers)
                    row = run_wrk(url, wrk_script(stream, key), concurrency)
                    rounds[name].setdefault(case, []).append(row)
                    summary = f"rps={row['rps']:.0f} p50={row['p50_ms']:.2f}ms non2xx={row['non_2xx']:.0f}"
                    print(f"  {case:16} round {i + 1} {name:8} {summary}", flush=True)
        converse_url = f"http://127.0.0.1:{basalt_port}/model/m/converse"
        run_wrk(converse_url, wrk_script(False, basalt_key, converse=True), 1, duration=2)
        for concurrency in (1, 32):  # Bedrock's dialect: the upstream directly, then Basalt's Converse, each round
            case = f"bedrock-converse/{concurrency}"
            for i in range(ROUNDS):
                for name, url, script in (
                    ("direct", targets["direct"][0], wrk_script(False, None)),
                    ("basalt", converse_url, wrk_script(False, basalt_key, converse=True)),
                ):
                    settle(servers)
                    row = run_wrk(url, script, concurrency)
                    rounds[name].setdefault(case, []).append(row)
                    print(f"  {case:16} round {i + 1} {name:8} rps={row['rps']:.0f} p50={row['p50_ms']:.2f}ms")
    rows: list[dict[str, Any]] = []
    for mode, _, concurrency in cases:
        case = f"{mode}/{concurrency}"
        d, b, lt = rounds["direct"][case], rounds["basalt"][case], rounds["litellm"][case]
        rps = {name: statistics.mean(r["rps"] for r in rounds[name][case]) for name in targets}
        rows.append({
            "mode": mode,
            "concurrency": concurrency,
            "basalt_rps": round(rps["basalt"]),
            "litellm_rps": round(rps["litellm"]),
            "direct_rps": round(rps["direct"]),
            "ratio_rps_vs_litellm": round(rps["basalt"] / rps["litellm"], 1) if rps["litellm"] else None,
            "basalt_added_p50_ms": _added(b, d),
            "litellm_added_p50_ms": _added(lt, d),
            "basalt_added_p50_ms_rounds": [round(x["p50_ms"] - y["p50_ms"], 3) for x, y in zip(b, d, strict=True)],
            "basalt_non_2xx": sum(r["non_2xx"] for r in b),
            "litellm_non_2xx": sum(r["non_2xx"] for r in lt),
        })  # fmt: skip
    for concurrency in (1, 32):
        case = f"bedrock-converse/{concurrency}"
        d, b = rounds["direct"][case], rounds["basalt"][case]
        rows.append({
            "mode": "bedrock-converse",
            "concurrency": concurrency,
            "basalt_rps": round(statistics.mean(r["rps"] for r in b)),
            "litellm_rps": None,
            "direct_rps": round(statistics.mean(r["rps"] for r in d)),
            "ratio_rps_vs_litellm": None,
            "basalt_added_p50_ms": _added(b, d),
            "litellm_added_p50_ms": None,
            "basalt_added_p50_ms_rounds": [round(x["p50_ms"] - y["p50_ms"], 3) for x, y in zip(b, d, strict=True)],
            "basalt_non_2xx": sum(r["non_2xx"] for r in b),
            "litellm_non_2xx": None,
        })  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gateway.json").write_text(json.dumps({"machine": machine(), "rows": rows, "raw": rounds}, indent=2))
    table = "| mode | conc. | Basalt RPS | LiteLLM RPS | direct RPS | ratio | added p50 ms B / L | B per round |\n"
    table += "|---|---|---|---|---|---|---|---|\n"
    table += "".join(
        f"| {r['mode']} | {r['concurrency']} | {r['basalt_rps']} | {r['litellm_rps'] or 'n/a'} | {r['direct_rps']} | "
        f"{_ratio(r)} | {r['basalt_added_p50_ms']} / {r['litellm_added_p50_ms'] or 'n/a'} | "
        f"{', '.join(str(x) for x in r['basalt_added_p50_ms_rounds'])} |\n"
        for r in rows
    )
    write_section("gateway", f"Machine: {machine()}\n\n{table}")
    print(table)


def _ratio(row: dict[str, Any]) -> str:
    return f"{row['ratio_rps_vs_litellm']}x" if row["ratio_rps_vs_litellm"] is not None else "n/a"


def settle(pids: list[int], timeout: float = 20.0) -> None:
    """Waits until the servers are idle: a gateway slower than its load still works through the requests wrk left
    behind, and that must not land in the next measurement."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = _cpu_seconds(pids)
        time.sleep(0.3)
        if _cpu_seconds(pids) - before < 0.03:  # under 10% of a core
            return


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def _added(gateway: list[dict[str, float]], direct: list[dict[str, float]]) -> float:
    """The gateway's p50 minus the upstream's, each round's pair measured back to back; the median over rounds."""
    return round(statistics.median(g["p50_ms"] - d["p50_ms"] for g, d in zip(gateway, direct, strict=True)), 3)


if __name__ == "__main__":
    main()
