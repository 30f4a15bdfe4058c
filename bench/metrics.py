"""What the metrics cost a request: the observer and the HTTP edge's counter in microseconds a call, and Basalt's
added p50 at concurrency 1 and RPS at 32 with metrics on and off, against the gateway benchmark's instant fake upstream.

    .venv/bin/python -m bench.metrics            # both parts; the second needs wrk (apt-get install wrk)
    .venv/bin/python -m bench.metrics --micro    # the microseconds a call only

Each round measures the upstream directly, Basalt with metrics on and Basalt with metrics off back to back (as
bench/gateway.py does; on and off swap places every other round); the added p50 is the median over rounds of each
round's difference to the upstream.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from basalt.canonical import parse_messages_request
from basalt.control import Principal
from basalt.flow import Attempt, Call, Target
from basalt.observe.metrics import Metrics
from basalt.providers.base import ModelInfo
from basalt.providers.mock import MockProvider, text_answer

from .engine import WORK, free_port, running
from .gateway import ROUNDS, basalt_tenant, run_wrk, settle, wrk_script


def finished_call() -> Call:
    """A call as the flow leaves it after a streamed answer from an upstream: one attempt, usage, timings."""
    request = parse_messages_request({"model": "m", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]})
    call = Call(Principal(), request, "chat.completions", "req_bench", dialect="openai")
    call.target = Target(MockProvider(text_answer("x")), "m", ModelInfo("m", "m", "2025-01-01T00:00:00Z"))
    now = time.monotonic()
    call.attempts.append(Attempt("openai:m@http://127.0.0.1:9/v1", started=now, ended=now + 0.001))
    call.outcome.status = "ok"
    call.outcome.usage = {"input_tokens": 12, "output_tokens": 20}
    call.outcome.first_token = now + 0.0005
    call.outcome.ended = now + 0.002
    return call


def micro(n: int = 20_000) -> float:
    """Microseconds a call for the observer and the request counter together (the best of five runs)."""
    metrics = Metrics(lambda: None, list)
    call = finished_call()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            metrics.record(call)
            metrics.request_ended("/v1/chat/completions", "openai", call, 200)
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best


def measured() -> dict[str, float]:
    """Added p50 at c=1 and RPS at c=32 (non-streaming) with metrics on and off."""
    WORK.mkdir(parents=True, exist_ok=True)
    up_port, on_port, off_port = free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    configs: dict[str, Path] = {}
    for name, enabled in (("on", "true"), ("off", "false")):
        path = configs[name] = WORK / f"metrics-{name}.yaml"
        path.write_text(
            f"serve_local: false\ndeployments:\n  - {{name: m, provider: openai, model: m, base_url: '{upstream}'}}\n"
            f"control: {{auth: true, database: 'sqlite+aiosqlite:///{WORK / 'gateway-ledger.db'}'}}\n"
            f"prices: {{m: {{input: 3.0, output: 15.0}}}}\nobservability: {{metrics: {{enabled: {enabled}}}}}\n"
        )
    key = basalt_tenant(configs["on"])  # one ledger database: the same key serves both
    fake = [sys.executable, "-m", "uvicorn", "bench.fake_upstream:app", "--port", str(up_port), "--log-level", "error"]
    serve = [sys.executable, "-m", "basalt.cli", "serve", "--config"]
    targets = {
        "direct": (upstream + "/chat/completions", None),
        "on": (f"http://127.0.0.1:{on_port}/v1/chat/completions", key),
        "off": (f"http://127.0.0.1:{off_port}/v1/chat/completions", key),
    }
    p50: dict[str, list[float]] = {name: [] for name in targets}
    rps: dict[str, list[float]] = {name: [] for name in targets}
    with (
        running(fake, up_port, probe="/v1/chat/completions", method="POST") as a,
        running([*serve, str(configs["on"]), "--port", str(on_port)], on_port, probe="/health") as b,
        running([*serve, str(configs["off"]), "--port", str(off_port)], off_port, probe="/health") as c,
    ):
        for url, secret in targets.values():
            run_wrk(url, wrk_script(False, secret), 1, duration=2)
        for i in range(ROUNDS):
            order = ["direct", "on", "off"] if i % 2 == 0 else ["direct", "off", "on"]  # neither side always last
            for name in order:
                url, secret = targets[name]
                settle([a.pid, b.pid, c.pid])
                p50[name].append(run_wrk(url, wrk_script(False, secret), 1)["p50_ms"])
                settle([a.pid, b.pid, c.pid])
                rps[name].append(run_wrk(url, wrk_script(False, secret), 32)["rps"])
            shown = ", ".join(f"{n} {p50[n][-1]:.3f} ms / {rps[n][-1]:.0f} rps" for n in order)
            print(f"  round {i + 1}: {shown}", flush=True)
    out = {}
    for name in ("on", "off"):
        out[f"{name}_added_p50_ms"] = round(
            statistics.median(x - d for x, d in zip(p50[name], p50["direct"], strict=True)), 3
        )
        out[f"{name}_rps_c32"] = round(statistics.mean(rps[name]))
    return out


def main() -> None:
    print(f"observer + request counter: {micro():.1f} us a call")
    if "--micro" not in sys.argv:
        found = measured()
        for side in ("on", "off"):
            added, rps = found[f"{side}_added_p50_ms"], found[f"{side}_rps_c32"]
            print(f"non-streaming, metrics {side}: added p50 at c=1 {added} ms, {rps} RPS at c=32")


if __name__ == "__main__":
    main()
