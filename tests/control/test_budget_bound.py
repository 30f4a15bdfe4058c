"""The documented budget bound (docs/architecture.md, control plane): in one process (memory counters) a cold burst
is admitted one request at a time, so open reservations never pass the budget."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from basalt import InProcess
from basalt.config import ControlSettings, Deployment, Price, Settings

from ..fakes.upstream import fake_upstream

ASK = {"model": "m", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}


def test_a_cold_burst_reserves_no_more_than_the_budget_in_one_process(tmp_path: Path) -> None:
    with fake_upstream() as (url, script):
        script.actions = ["slow:1"] * 16  # nothing settles while the burst is admitted
        settings = Settings(
            home=tmp_path,
            serve_local=False,
            deployments=[Deployment(name="m", provider="openai", model="up", base_url=url)],
            control=ControlSettings(auth=True),
            prices={"m": Price(input=3.0, output=15.0)},  # a reservation of max_tokens=20: $0.000315
        )
        with InProcess(settings) as basalt, basalt.http_client() as http:
            admin = {"x-api-key": (tmp_path / "admin-key").read_text().strip()}
            http.post("/admin/projects", json={"name": "p", "daily_budget_usd": 0.0005}, headers=admin)
            key = {
                "x-api-key": http.post("/admin/keys", json={"name": "k", "project": "p"}, headers=admin).json()["key"]
            }
            with ThreadPoolExecutor(16) as pool:  # the counter is cold: every request first waits on the ledger read
                codes = list(
                    pool.map(lambda _: http.post("/v1/messages", json=ASK, headers=key).status_code, range(16))
                )
    assert sorted(codes) == [200] + [402] * 15
    assert len(script.requests) == 1
