"""OpenAI Files + Batch end to end: the unmodified `openai` SDK against a real `basalt serve` (auth on) on the real
bundled model: upload, create, poll to completed, read the output and error files; cancel mid-run; a file with bad
lines fails with their line numbers; two projects' keys see only their own batches and files."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import orjson
import pytest

from ..control.servers import Server
from .conftest import link_models

CONFIG = {
    "engine": {"context_window": 1024, "max_seqs": 8},
    "batches": {"concurrency": 4, "poll_seconds": 0.2, "sweep_seconds": 1},
    "control": {"auth": True},
}
URL = "/v1/chat/completions"


@pytest.fixture(scope="module")
def server(basalt_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = link_models(basalt_home, tmp_path_factory.mktemp("openai-batches-home"))
    server = Server(home, CONFIG).start()
    try:
        yield server
    finally:
        server.stop()


def project_key(server: Server, project: str) -> str:
    admin = {"x-api-key": (server.home / "admin-key").read_text().strip()}
    assert httpx.post(server.url + "/admin/projects", json={"name": project}, headers=admin).status_code == 201
    made = httpx.post(server.url + "/admin/keys", json={"name": "k", "project": project}, headers=admin)
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


@pytest.fixture(scope="module")
def keys(server: Server) -> tuple[str, str]:
    return project_key(server, "alpha"), project_key(server, "beta")


@pytest.fixture
def client(server: Server, keys: tuple[str, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=keys[0], max_retries=0)


def body(prompt: str, max_tokens: int = 8, **more: Any) -> dict[str, Any]:
    return {"model": "smollm2", "max_tokens": max_tokens, "messages": [{"role": "user", "content": prompt}], **more}


def jsonl(lines: list[Any]) -> bytes:
    return b"".join((line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines)


def upload(client: openai.OpenAI, data: bytes) -> str:
    return client.files.create(file=("input.jsonl", io.BytesIO(data)), purpose="batch").id


def line(custom_id: str, request: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": URL, "body": request}


def wait_for(client: openai.OpenAI, batch_id: str, statuses: tuple[str, ...], seconds: float = 120) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in statuses:
            return batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.2)


def file_lines(client: openai.OpenAI, file_id: str) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for raw in client.files.content(file_id).content.splitlines()]


def test_a_batch_runs_to_completed_with_what_single_calls_answer(client: openai.OpenAI) -> None:
    prompts = ["Say hello.", "Name a colour.", "Count to three."]
    lines = [line(f"q-{i}", body(p, temperature=0)) for i, p in enumerate(prompts)]
    lines.append(line("too-long", body("word " * 1500)))  # valid, but fails when it runs: past the context window
    input_id = upload(client, jsonl(lines))
    created = client.batches.create(
        input_file_id=input_id,
        endpoint=URL,
        completion_window="24h",
        metadata={"run": "nightly"},
        output_expires_after={"anchor": "created_at", "seconds": 7200},
    )
    # Validating until a worker has read the file, after create returns (as on OpenAI); its counts are zero then.
    assert created.id.startswith("batch_") and created.status == "validating" and created.errors is None
    assert created.in_progress_at is None
    assert (created.input_file_id, created.endpoint, created.metadata) == (input_id, URL, {"run": "nightly"})
    assert created.request_counts is not None and created.request_counts.total == 0
    assert created.expires_at is not None and created.expires_at - created.created_at == pytest.approx(86400, abs=1)

    done = wait_for(client, created.id, ("completed", "failed", "expired", "cancelled"))
    assert done.status == "completed" and done.completed_at is not None and done.finalizing_at is not None
    assert done.in_progress_at is not None and created.created_at <= done.in_progress_at <= done.finalizing_at
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (4, 3, 1)
    assert done.output_file_id and done.error_file_id
    for produced_id in (done.output_file_id, done.error_file_id):  # output_expires_after: from each file's creation
        made = client.files.retrieve(produced_id)
        assert made.expires_at is not None and abs(made.expires_at - (made.created_at + 7200)) <= 1
    outputs = file_lines(client, done.output_file_id)
    assert [o["custom_id"] for o in outputs] == ["q-0", "q-1", "q-2"] and all(o["error"] is None for o in outputs)
    for output, prompt in zip(outputs, prompts, strict=True):
        response = output["response"]
        assert response["status_code"] == 200 and response["request_id"] and output["id"].startswith("batch_req_")
        completion = response["body"]
        assert completion["object"] == "chat.completion" and completion["model"] == "smollm2"
        single = client.chat.completions.create(**body(prompt, temperature=0))
        assert completion["choices"][0]["message"]["content"] == single.choices[0].message.content
        assert completion["usage"]["completion_tokens"] == single.usage.completion_tokens  # type: ignore[union-attr]
    [failure] = file_lines(client, done.error_file_id)
    assert failure["custom_id"] == "too-long" and failure["response"]["status_code"] == 400
    assert failure["response"]["body"]["error"]["type"] == "invalid_request_error"
    # The files are the project's own, listed with purpose batch_output; reading the batch again changes nothing.
    produced = {f.id for f in client.files.list(purpose="batch_output")}
    assert {done.output_file_id, done.error_file_id} <= produced
    client.files.delete(input_id)  # as on OpenAI, the input file is the caller's to delete; the batch keeps its id
    again = client.batches.retrieve(created.id)
    assert (again.output_file_id, again.error_file_id) == (done.output_file_id, done.error_file_id)
    assert (again.status, again.input_file_id) == ("completed", input_id)
    assert created.id in [b.id for b in client.batches.list(limit=100)]


def test_cancel_mid_run_leaves_exact_counts(client: openai.OpenAI) -> None:
    total = 24
    lines = [line(f"c{i}", body(f"Write a story number {i}.", 10)) for i in range(total)]
    batch = client.batches.create(input_file_id=upload(client, jsonl(lines)), endpoint=URL, completion_window="24h")
    deadline = time.monotonic() + 60
    while client.batches.retrieve(batch.id).request_counts.completed == 0:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled") and cancelling.cancelling_at is not None
    ended = wait_for(client, batch.id, ("cancelled",))
    counts = ended.request_counts
    assert ended.cancelled_at is not None and counts is not None and counts.total == total and counts.failed == 0
    completed = counts.completed
    assert 1 <= completed < total
    assert len(file_lines(client, ended.output_file_id)) == completed
    canceled = file_lines(client, ended.error_file_id)
    assert len(canceled) == total - completed
    assert {c["error"]["code"] for c in canceled} == {"batch_cancelled"} and all(
        c["response"] is None for c in canceled
    )
    ids = [o["custom_id"] for o in file_lines(client, ended.output_file_id)] + [c["custom_id"] for c in canceled]
    assert sorted(ids) == sorted(f"c{i}" for i in range(total))
    cancelled_again = client.batches.cancel(batch.id)  # as OpenAI answers it: the batch as it is
    assert cancelled_again.status == "cancelled" and cancelled_again.request_counts == counts
    failed = client.batches.create(input_file_id=upload(client, b"{}\n"), endpoint=URL, completion_window="24h")
    wait_for(client, failed.id, ("failed",))
    with pytest.raises(openai.BadRequestError, match="cannot be cancelled"):
        client.batches.cancel(failed.id)


def test_a_file_with_bad_lines_fails_naming_each_line(client: openai.OpenAI, server: Server) -> None:
    data = jsonl(
        [
            line("ok", body("Hi")),
            b"{not json",
            {**line("wrong-url", body("Hi")), "url": "/v1/embeddings"},
            line("ok", body("Hi")),
            line("too-hot", body("Hi", temperature=5)),
            {"custom_id": "get", "method": "GET", "url": URL, "body": body("Hi")},
        ]
    )
    created = client.batches.create(input_file_id=upload(client, data), endpoint=URL, completion_window="24h")
    batch = wait_for(client, created.id, ("failed", "in_progress"))
    assert batch.status == "failed" and batch.failed_at is not None and batch.errors and batch.errors.data
    found = {(e.line, e.code) for e in batch.errors.data}
    assert found == {
        (2, "invalid_json_line"),
        (3, "invalid_url"),
        (4, "duplicate_custom_id"),
        (5, "invalid_request"),
        (6, "invalid_method"),
    }
    # The body's error is the one the same request gets as a single call.
    single = httpx.post(
        server.url + URL, json=body("Hi", temperature=5), headers={"authorization": f"Bearer {client.api_key}"}
    )
    assert single.status_code == 400
    [hot] = [e for e in batch.errors.data if e.line == 5]
    assert hot.message == single.json()["error"]["message"]
    assert batch.request_counts is not None and batch.request_counts.total == 0
    assert client.batches.retrieve(batch.id).status == "failed"
    # One model per batch, as OpenAI requires: the first line names it, a line naming another fails the file.
    mixed = [line("a", body("Hi")), line("b", {**body("Hi"), "model": "other"}), line("c", body("Hi"))]
    created = client.batches.create(input_file_id=upload(client, jsonl(mixed)), endpoint=URL, completion_window="24h")
    batch = wait_for(client, created.id, ("failed", "in_progress"))
    assert batch.status == "failed" and batch.errors is not None
    assert [(e.code, e.line, e.param) for e in batch.errors.data] == [("mismatched_model", 2, "body.model")]


def test_projects_see_only_their_own_batches_and_files(server: Server, keys: tuple[str, str]) -> None:
    ours = openai.OpenAI(base_url=server.url + "/v1", api_key=keys[0], max_retries=0)
    theirs = openai.OpenAI(base_url=server.url + "/v1", api_key=keys[1], max_retries=0)
    input_id = upload(ours, jsonl([line("a", body("Hi", 2))]))
    batch = ours.batches.create(input_file_id=input_id, endpoint=URL, completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        theirs.batches.retrieve(batch.id)
    with pytest.raises(openai.NotFoundError):
        theirs.batches.cancel(batch.id)
    with pytest.raises(openai.NotFoundError):  # nor may they run a batch over our file
        theirs.batches.create(input_file_id=input_id, endpoint=URL, completion_window="24h")
    assert batch.id not in [b.id for b in theirs.batches.list()]
    first = ours.batches.list(limit=2)  # newest first, in pages the SDK follows
    assert first.data[0].id == batch.id and first.has_more
    every = [b.id for b in ours.batches.list(limit=2)]
    assert every[0] == batch.id and len(every) == len(set(every)) >= 4
    assert [b.id for b in ours.batches.list(after=every[0], limit=1).data] == [every[1]]
    assert input_id not in [f.id for f in theirs.files.list()]
    wait_for(ours, batch.id, ("completed",))
    with pytest.raises(openai.NotFoundError):
        theirs.files.content(ours.batches.retrieve(batch.id).output_file_id)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="completion_window"):
        ours.batches.create(input_file_id=input_id, endpoint=URL, completion_window="1h")  # type: ignore[arg-type]
    for seconds in (3599, 2_592_001):  # output_expires_after within OpenAI's range (an hour to 30 days)
        with pytest.raises(openai.BadRequestError, match="output_expires_after"):
            ours.batches.create(
                input_file_id=input_id,
                endpoint=URL,
                completion_window="24h",
                output_expires_after={"anchor": "created_at", "seconds": seconds},
            )


def test_an_openai_batch_is_not_found_through_the_message_batches_routes(
    client: openai.OpenAI, server: Server, keys: tuple[str, str]
) -> None:
    import anthropic

    file_id = upload(client, jsonl([line("a", body("Say hi."))]))
    batch = client.batches.create(input_file_id=file_id, endpoint=URL, completion_window="24h")
    other = anthropic.Anthropic(base_url=server.url, api_key=keys[0], max_retries=0)
    for call in (
        other.messages.batches.retrieve,
        other.messages.batches.cancel,
        other.messages.batches.delete,
        other.messages.batches.results,
    ):
        with pytest.raises(anthropic.NotFoundError):
            call(batch.id)
    assert client.batches.retrieve(batch.id).id == batch.id  # untouched: neither cancelled nor deleted
    assert client.batches.retrieve(batch.id).status not in ("cancelling", "cancelled")
