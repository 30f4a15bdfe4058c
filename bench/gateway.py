"""Gateway overhead: Basalt vs LiteLLM's proxy vs the upstream directly, against the same instant fake upstream.

    .venv/bin/python -m bench.gateway      # needs wrk (apt-get install wrk); installs LiteLLM into bench/.work

Each gateway runs one worker; load comes from wrk on the same machine, OpenAI Chat Completions requests, non-streaming
and streaming (the fake upstream streams 20 chunks), at concurrency 1 and 32. Writes bench/results/gateway.json and
the table in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .engine import RESULTS, WORK, free_port, machine, running, write_section

ROOT = Path(__file__).resolve().parent.parent
LITELLM_VERSION = "1.108.7"
MASTER_KEY = "sk-bench-master-key"
DURATION = int(__import__("os").environ.get("BENCH_DURATION", "8"))


def wrk_script(stream: bool, key: str | None) -> Path:
    body = {"model": "m", "max_tokens": 32, "messages": [{"role": "user", "content": "hello"}], "stream": stream}
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = '{json.dumps(body)}'",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if key:
        lines.append(f'wrk.headers["Authorization"] = "Bearer {key}"')
    path = WORK / f"wrk-{'stream' if stream else 'plain'}-{'key' if key else 'nokey'}.lua"
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
    results: dict[str, dict[str, dict[str, float]]] = {}
    fake = [sys.executable, "-m", "uvicorn", "bench.fake_upstream:app", "--port", str(up_port), "--log-level", "error"]
    with running(fake, up_port, probe="/v1/chat/completions", method="POST"):
        servers = {
            "direct": (None, upstream + "/chat/completions", None),
            "basalt": (
                [sys.executable, "-m", "basalt.cli", "serve", "--port", str(basalt_port), "--config",
                 str(WORK / "gateway-basalt.yaml")],
                f"http://127.0.0.1:{basalt_port}/v1/chat/completions",
                basalt_key,
            ),
            "litellm": (
                [str(litellm_bin()), "--config", str(WORK / "gateway-litellm.yaml"), "--port", str(litellm_port),
                 "--num_workers", "1"],
                f"http://127.0.0.1:{litellm_port}/v1/chat/completions",
                MASTER_KEY,
            ),
        }  # fmt: skip
        for name, (cmd, url, key) in servers.items():
            print(f"== {name}", flush=True)
            port = int(url.split(":")[2].split("/")[0])
            probe = "/health/liveliness" if name == "litellm" else "/health"  # LiteLLM's /v1/models needs a DB
            ctx = running(cmd, port, probe=probe) if cmd else _null()
            with ctx:
                time.sleep(1)
                results[name] = {}
                for _, stream, concurrency in cases:  # warm up every path first (each gateway alike)
                    run_wrk(url, wrk_script(stream, key), concurrency, duration=2)
                for mode, stream, concurrency in cases:
                    row = run_wrk(url, wrk_script(stream, key), concurrency)
                    results[name][f"{mode}/{concurrency}"] = row
                    summary = f"rps={row['rps']:.0f} p50={row['p50_ms']:.2f}ms non2xx={row['non_2xx']:.0f}"
                    print(f"  {mode:14} c={concurrency:<3} {summary}", flush=True)
    rows = []
    for mode, _, concurrency in cases:
        key = f"{mode}/{concurrency}"
        b, lt, d = results["basalt"][key], results["litellm"][key], results["direct"][key]
        rows.append({
            "mode": mode,
            "concurrency": concurrency,
            "basalt_rps": round(b["rps"]),
            "litellm_rps": round(lt["rps"]),
            "direct_rps": round(d["rps"]),
            "ratio_rps_vs_litellm": round(b["rps"] / lt["rps"], 1) if lt["rps"] else None,
            "basalt_added_p50_ms": round(b["p50_ms"] - d["p50_ms"], 3),
            "litellm_added_p50_ms": round(lt["p50_ms"] - d["p50_ms"], 3),
            "basalt_non_2xx": b["non_2xx"],
            "litellm_non_2xx": lt["non_2xx"],
        })  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gateway.json").write_text(json.dumps({"machine": machine(), "rows": rows, "raw": results}, indent=2))
    table = "| mode | conc. | Basalt RPS | LiteLLM RPS | direct RPS | ratio | added p50 ms B / L |\n"
    table += "|---|---|---|---|---|---|---|\n"
    table += "".join(
        f"| {r['mode']} | {r['concurrency']} | {r['basalt_rps']} | {r['litellm_rps']} | {r['direct_rps']} | "
        f"{r['ratio_rps_vs_litellm']}x | {r['basalt_added_p50_ms']} / {r['litellm_added_p50_ms']} |\n"
        for r in rows
    )
    write_section("gateway", f"Machine: {machine()}\n\n{table}")
    print(table)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


if __name__ == "__main__":
    main()
