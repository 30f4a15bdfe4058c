"""The cost of tracing: two Basalt servers against the same instant fake upstream, one with tracing off (the
default) and one with tracing on at sampling 1.0, exporting over OTLP/HTTP to a sink on loopback.

    .venv/bin/python -m bench.tracing      # needs wrk (apt-get install wrk); ~2 minutes

Each row is measured in rounds (BENCH_ROUNDS, 5 by default, of BENCH_DURATION seconds, 3 by default), each round
measuring both servers back to back, once both are idle. Per row: RPS, p50, and the CPU seconds the server spent
per call (its process's user + system time over the round, the exporter's thread included, divided by the calls
wrk completed). The cost of tracing is the median over rounds of the difference on minus off, in p50 and in CPU
per call. Writes bench/results/tracing.json and the table in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2 as httpx

from .engine import RESULTS, WORK, free_port, machine, running, write_section
from .gateway import DURATION, ROUNDS, _cpu_seconds, run_wrk, settle, wrk_script

CASES = [("non-streaming", False, 1), ("stream-20", True, 1), ("non-streaming", False, 32)]


def sink(port: int) -> None:
    """An OTLP/HTTP receiver that reads and drops what it is sent (and counts it, for the run to check)."""
    exports = [0, 0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                exports[0] += 1
                exports[1] += len(body)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # the probe, and the count
            with lock:
                answer = json.dumps({"exports": exports[0], "bytes": exports[1]}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def config(path: Path, upstream: str, sink_port: int | None) -> Path:
    db = WORK / f"tracing-ledger-{'on' if sink_port else 'off'}.db"
    for stale in WORK.glob(db.name + "*"):
        stale.unlink()
    text = (
        f"serve_local: false\ndeployments:\n  - {{name: m, provider: openai, model: m, base_url: '{upstream}'}}\n"
        f"control: {{database: 'sqlite+aiosqlite:///{db}'}}\nprices: {{m: {{input: 3.0, output: 15.0}}}}\n"
    )
    if sink_port is not None:
        text += (
            "observability:\n  tracing: {enabled: true, sampling_ratio: 1.0, "
            f"endpoint: 'http://127.0.0.1:{sink_port}/v1/traces'}}\n"
        )
    path.write_text(text)
    return path


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    up_port, sink_port, off_port, on_port = free_port(), free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    fake = [sys.executable, "-m", "uvicorn", "bench.fake_upstream:app", "--port", str(up_port), "--log-level", "error"]
    receiver = [sys.executable, "-m", "bench.tracing", "--sink", str(sink_port)]
    basalt = [sys.executable, "-m", "basalt.cli", "serve", "--config"]
    off = [*basalt, str(config(WORK / "tracing-off.yaml", upstream, None)), "--port", str(off_port)]
    on = [*basalt, str(config(WORK / "tracing-on.yaml", upstream, sink_port)), "--port", str(on_port)]
    rounds: dict[str, dict[str, list[dict[str, float]]]] = {"off": {}, "on": {}}
    with (
        running(fake, up_port, probe="/v1/chat/completions", method="POST") as fake_server,
        running(receiver, sink_port, probe="/") as sink_server,
        running(off, off_port, probe="/health") as off_server,
        running(on, on_port, probe="/health") as on_server,
    ):
        servers = {"off": (off_port, off_server.pid), "on": (on_port, on_server.pid)}
        pids = [fake_server.pid, sink_server.pid, off_server.pid, on_server.pid]
        for port, _ in servers.values():  # warm both alike
            for _, stream, concurrency in CASES:
                run_wrk(f"http://127.0.0.1:{port}/v1/chat/completions", wrk_script(stream, None), concurrency, 2)
        for mode, stream, concurrency in CASES:
            case = f"{mode}/{concurrency}"
            for i in range(ROUNDS):
                order = ["off", "on"] if i % 2 == 0 else ["on", "off"]  # neither side always runs first
                for name in order:
                    port, pid = servers[name]
                    settle(pids)
                    before = _cpu_seconds([pid])
                    row = run_wrk(f"http://127.0.0.1:{port}/v1/chat/completions", wrk_script(stream, None), concurrency)
                    settle(pids)  # the exporter's work for this round is counted in it
                    row["cpu_ms_per_call"] = (_cpu_seconds([pid]) - before) * 1000 / max(1.0, row["rps"] * DURATION)
                    rounds[name].setdefault(case, []).append(row)
                    print(
                        f"  {case:16} round {i + 1} {name:3} rps={row['rps']:.0f} p50={row['p50_ms']:.3f}ms "
                        f"cpu/call={row['cpu_ms_per_call']:.3f}ms non2xx={row['non_2xx']:.0f}",
                        flush=True,
                    )
        exported = httpx.get(f"http://127.0.0.1:{sink_port}/", timeout=5).json()
    if not exported["exports"]:
        raise SystemExit("the tracing server exported nothing: tracing was not on")
    rows = [_row(mode, concurrency, rounds) for mode, _, concurrency in CASES]
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), "rows": rows, "exported": exported, "raw": rounds}
    (RESULTS / "tracing.json").write_text(json.dumps(result, indent=2))
    table = "| mode | conc. | RPS off / on | p50 ms off / on | added p50 ms | CPU ms a call off / on "
    table += "| added CPU ms a call |\n"
    table += "|---|---|---|---|---|---|---|\n"
    table += "".join(
        f"| {r['mode']} | {r['concurrency']} | {r['rps_off']} / {r['rps_on']} | {r['p50_off']} / {r['p50_on']} | "
        f"{r['added_p50_ms']} | {r['cpu_off']} / {r['cpu_on']} | {r['added_cpu_ms']} |\n"
        for r in rows
    )
    write_section("tracing", f"Machine: {machine()}\n\n{table}")
    print(table)


def _row(mode: str, concurrency: int, rounds: dict[str, dict[str, list[dict[str, float]]]]) -> dict[str, Any]:
    case = f"{mode}/{concurrency}"
    off, on = rounds["off"][case], rounds["on"][case]

    def median(key: str, rows: list[dict[str, float]]) -> float:
        return round(statistics.median(r[key] for r in rows), 3)

    def added(key: str) -> float:
        return round(statistics.median(b[key] - a[key] for a, b in zip(off, on, strict=True)), 3)

    return {
        "mode": mode,
        "concurrency": concurrency,
        "rps_off": round(statistics.mean(r["rps"] for r in off)),
        "rps_on": round(statistics.mean(r["rps"] for r in on)),
        "p50_off": median("p50_ms", off),
        "p50_on": median("p50_ms", on),
        "added_p50_ms": added("p50_ms"),
        "cpu_off": median("cpu_ms_per_call", off),
        "cpu_on": median("cpu_ms_per_call", on),
        "added_cpu_ms": added("cpu_ms_per_call"),
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--sink":
        sink(int(sys.argv[2]))
    else:
        main()
