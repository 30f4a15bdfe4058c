"""Anthropic Message Batches end to end: the unmodified `anthropic` SDK against a real `basalt serve` on the real
bundled model (create, poll to the end, results; cancel mid-run; delete; paging; bad requests)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import pytest

from ..control.servers import Server
from .conftest import link_models

CONFIG = {
    "engine": {"context_window": 1024, "max_seqs": 8},
    "batches": {"concurrency": 4, "poll_seconds": 0.2, "sweep_seconds": 1},
}


@pytest.fixture(scope="module")
def server(basalt_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = link_models(basalt_home, tmp_path_factory.mktemp("batches-home"))
    server = Server(home, CONFIG).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(server: Server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="test-key", max_retries=0)


def params(prompt: str, max_tokens: int = 8, **more: Any) -> dict[str, Any]:
    return {"model": "smollm2", "max_tokens": max_tokens, "messages": [{"role": "user", "content": prompt}], **more}


def wait_ended(client: anthropic.Anthropic, batch_id: str, seconds: float = 120) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.2)


def ledger(server: Server, batch_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        server.url + "/admin/usage", params={"records": "1", "limit": "10000", "batch": batch_id}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows


def test_a_batch_runs_to_the_end_with_what_single_calls_answer(client: anthropic.Anthropic, server: Server) -> None:
    prompts = ["Say hello.", "Name a colour.", "Count to three.", "What is 2+2?"]
    requests: list[dict[str, Any]] = [
        {"custom_id": f"q-{i}", "params": params(p, temperature=0)} for i, p in enumerate(prompts)
    ]
    requests.append({"custom_id": "no_max_tokens", "params": {"model": "smollm2", "messages": []}})
    requests.append({"custom_id": "too_hot", "params": params("Hi", temperature=2)})
    created = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert created.id.startswith("msgbatch_") and created.processing_status == "in_progress"
    assert created.request_counts.errored == 2 and created.request_counts.processing == 4  # bad params, known now
    assert created.results_url is None
    assert (created.expires_at - created.created_at).total_seconds() == pytest.approx(86400, abs=1)

    ended = wait_ended(client, created.id)
    counts = ended.request_counts
    assert (counts.succeeded, counts.errored, counts.processing, counts.canceled, counts.expired) == (4, 2, 0, 0, 0)
    assert ended.ended_at is not None and ended.results_url == f"{server.url}/v1/messages/batches/{created.id}/results"

    results = {r.custom_id: r.result for r in client.messages.batches.results(created.id)}
    assert sorted(results) == sorted(str(r["custom_id"]) for r in requests)
    for i, prompt in enumerate(prompts):
        result = results[f"q-{i}"]
        assert result.type == "succeeded"
        single = client.messages.create(**params(prompt), extra_body={"temperature": 0})
        assert [b.model_dump() for b in result.message.content] == [b.model_dump() for b in single.content]
        assert result.message.usage.output_tokens == single.usage.output_tokens
    # A bad request's error is the one the same request gets as a single call.
    for custom_id, body in (("no_max_tokens", requests[4]["params"]), ("too_hot", requests[5]["params"])):
        result = results[custom_id]
        assert result.type == "errored" and result.error.error.type == "invalid_request_error"
        single_error = httpx.post(server.url + "/v1/messages", json=body, timeout=30)
        assert single_error.status_code == 400
        assert result.error.error.message == single_error.json()["error"]["message"]

    rows = ledger(server, created.id)  # one row per item that ran, carrying the batch id; the bad ones never ran
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"} and {r["batch_id"] for r in rows} == {created.id}
    report = httpx.get(server.url + "/admin/usage", params={"group_by": "batch"}, timeout=30).json()["data"]
    assert {"batch": created.id, "requests": 4} in [{"batch": g["batch"], "requests": g["requests"]} for g in report]


def test_cancel_mid_run_leaves_exact_counts(client: anthropic.Anthropic, server: Server) -> None:
    total = 24
    requests = [{"custom_id": f"c{i}", "params": params(f"Write a story number {i}.", 12)} for i in range(total)]
    batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    deadline = time.monotonic() + 60
    while client.messages.batches.retrieve(batch.id).request_counts.succeeded == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status in ("canceling", "ended") and canceling.cancel_initiated_at is not None
    ended = wait_ended(client, batch.id)
    counts = ended.request_counts
    assert counts.succeeded >= 1 and counts.canceled >= 1 and counts.errored == 0
    assert counts.succeeded + counts.canceled == total
    kinds = Counter(r.result.type for r in client.messages.batches.results(batch.id))
    assert kinds == {"succeeded": counts.succeeded, "canceled": counts.canceled}
    assert len(ledger(server, batch.id)) == counts.succeeded  # canceled items never reached the model


def test_delete_only_once_ended_then_gone(client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[{"custom_id": "d", "params": params("Hi", 4)}])  # type: ignore[typeddict-item]
    if client.messages.batches.retrieve(batch.id).processing_status != "ended":
        with pytest.raises(anthropic.BadRequestError, match="cannot be deleted while it is processing"):
            client.messages.batches.delete(batch.id)
    wait_ended(client, batch.id)
    deleted = client.messages.batches.delete(batch.id)
    assert deleted.id == batch.id and deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)
    assert batch.id not in [b.id for b in client.messages.batches.list(limit=100)]


def test_listing_pages_newest_first(client: anthropic.Anthropic) -> None:
    made = [
        client.messages.batches.create(requests=[{"custom_id": "x", "params": params("Hi", 1)}]).id  # type: ignore[typeddict-item]
        for _ in range(3)
    ]
    first = client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == made[::-1][:2] and first.has_more
    every = [b.id for b in client.messages.batches.list(limit=2)]  # the SDK follows the pages
    assert every[:3] == made[::-1] and len(every) == len(set(every))
    newer = client.messages.batches.list(before_id=made[0], limit=1)
    assert [b.id for b in newer.data] == [made[1]]


def test_the_envelope_is_checked_up_front_naming_the_request(client: anthropic.Anthropic) -> None:
    ok = {"custom_id": "a", "params": params("Hi")}
    cases = [
        ([ok, {"custom_id": "a", "params": params("Hi")}], "requests.1.custom_id"),
        ([ok, {"custom_id": "not ok!", "params": params("Hi")}], "requests.1.custom_id"),
        ([ok, {"custom_id": "b"}], "requests.1.params: Field required"),
        ([], "requests: a batch holds from 1 to 100000 requests"),
    ]
    for requests, message in cases:
        with pytest.raises(anthropic.BadRequestError, match=message) as raised:
            client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        assert raised.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


def test_results_of_a_batch_still_running_and_unknown_batches(server: Server, client: anthropic.Anthropic) -> None:
    unknown = httpx.get(server.url + "/v1/messages/batches/msgbatch_nope/results", timeout=30)
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"
    batch = client.messages.batches.create(requests=[{"custom_id": "r", "params": params("Hi", 8)}])  # type: ignore[typeddict-item]
    early = httpx.get(server.url + f"/v1/messages/batches/{batch.id}/results", timeout=30)
    if early.status_code != 200:  # it may have ended already on a fast machine
        assert early.status_code == 400 and "results are available once it has ended" in early.text
    wait_ended(client, batch.id)
    late = httpx.get(server.url + f"/v1/messages/batches/{batch.id}/results", timeout=30)
    assert late.status_code == 200 and late.headers["content-type"] == "application/binary"
