"""OpenAI Files through the unmodified `openai` SDK: upload, list, retrieve, content, delete, per project, bounded;
and the browser guard's one multipart exception."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from basalt import InProcess
from basalt.config import ControlSettings, FileSettings, Settings
from basalt.files import types
from basalt.inprocess import BASE_URL

LINES = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n'


@pytest.fixture(params=["local", "database"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[InProcess, str]]:
    settings = Settings(
        home=tmp_path, serve_local=False, control=ControlSettings(auth=True), files=FileSettings(store=request.param)
    )
    with InProcess(settings) as basalt:
        yield basalt, (tmp_path / "admin-key").read_text().strip()


def key_for(basalt: InProcess, admin: str, project: str, **fields: object) -> str:
    with basalt.http_client() as http:
        headers = {"x-api-key": admin}
        if http.get(f"/admin/projects/{project}", headers=headers).status_code == 404:
            assert http.post("/admin/projects", json={"name": project}, headers=headers).status_code == 201
        made = http.post("/admin/keys", json={"name": "k", "project": project, **fields}, headers=headers)
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


def client(basalt: InProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=BASE_URL + "/v1", api_key=key, http_client=basalt.http_client(), max_retries=0)


def test_the_file_lifecycle_and_isolation_between_projects(gateway: tuple[InProcess, str]) -> None:
    basalt, admin = gateway
    ours, theirs = client(basalt, key_for(basalt, admin, "a")), client(basalt, key_for(basalt, admin, "b"))
    made = ours.files.create(file=("input.jsonl", io.BytesIO(LINES)), purpose="batch")
    assert (made.object, made.purpose, made.filename, made.bytes) == ("file", "batch", "input.jsonl", len(LINES))
    second = ours.files.create(file=("two.jsonl", io.BytesIO(b"{}\n")), purpose="batch")
    assert ours.files.retrieve(made.id) == made
    assert ours.files.content(made.id).content == LINES
    listed = ours.files.list()
    assert [f.id for f in listed.data] == [f.id for f in sorted([made, second], key=lambda f: (f.created_at, f.id))][
        ::-1
    ]
    paged = ours.files.list(limit=1)
    assert len(paged.data) == 1 and paged.has_more and [f.id for f in paged] == [f.id for f in listed.data]
    # Another project's key sees none of them, and cannot read or delete them.
    assert theirs.files.list().data == []
    for act in (theirs.files.retrieve, theirs.files.content, theirs.files.delete):
        with pytest.raises(openai.NotFoundError) as refused:
            act(made.id)
        assert refused.value.body["message"] == f"No such File object: {made.id}"  # type: ignore[index]
    gone = ours.files.delete(made.id)
    assert (gone.id, gone.deleted) == (made.id, True)
    with pytest.raises(openai.NotFoundError):
        ours.files.retrieve(made.id)
    assert [f.id for f in ours.files.list()] == [second.id]
    # OpenAI's expiry: a batch file goes 30 days after its upload by default, or when its expires_after says.
    assert second.expires_at is not None and abs(second.expires_at - (second.created_at + 30 * 86400)) <= 1
    hour = {"anchor": "created_at", "seconds": 3600}
    short = ours.files.create(file=("s.jsonl", io.BytesIO(b"{}\n")), purpose="batch", expires_after=hour)  # type: ignore[arg-type]
    assert short.expires_at is not None and abs(short.expires_at - (short.created_at + 3600)) <= 1
    assert ours.files.retrieve(short.id).expires_at == short.expires_at
    for bad in ({**hour, "seconds": 3599}, {**hour, "seconds": 2_592_001}, {**hour, "anchor": "last_active_at"}):
        with pytest.raises(openai.BadRequestError, match="expires_after"):
            ours.files.create(file=("b.jsonl", io.BytesIO(b"{}\n")), purpose="batch", expires_after=bad)  # type: ignore[arg-type]


def test_the_routes_need_the_batches_scope(gateway: tuple[InProcess, str]) -> None:
    basalt, admin = gateway
    chat_only = client(basalt, key_for(basalt, admin, "a", endpoints=["chat.completions"]))
    with pytest.raises(openai.PermissionDeniedError, match="may not call batches"):
        chat_only.files.list()
    with pytest.raises(openai.PermissionDeniedError):
        chat_only.files.create(file=("x.jsonl", io.BytesIO(LINES)), purpose="batch")
    batches = client(basalt, key_for(basalt, admin, "a", endpoints=["batches"]))
    made = batches.files.create(file=("x.jsonl", io.BytesIO(LINES)), purpose="batch")
    assert [f.id for f in batches.files.list()] == [made.id]


def test_bad_uploads_are_openai_errors(gateway: tuple[InProcess, str]) -> None:
    basalt, admin = gateway
    sdk = client(basalt, key_for(basalt, admin, "a"))
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.files.create(file=("x.jsonl", io.BytesIO(LINES)), purpose="fine-tune")
    assert bad.value.code is None and "purpose must be 'batch'" in bad.value.message
    with pytest.raises(openai.BadRequestError, match="limit must be an integer"):
        sdk.files.list(limit=0)
    with pytest.raises(openai.AuthenticationError):
        client(basalt, "sk-wrong").files.list()
    with basalt.http_client() as http:
        key = {"authorization": f"Bearer {sdk.api_key}"}
        no_file = http.post("/v1/files", data={"purpose": "batch"}, files={"other": ("x", b"")}, headers=key)
        assert no_file.status_code == 400 and "'file' part" in no_file.json()["error"]["message"]
        two = http.post("/v1/files", data={"purpose": "batch"}, files=[("file", b"a"), ("file", b"b")], headers=key)
        assert two.status_code == 400 and "Too many files" in two.json()["error"]["message"]
        as_json = http.post("/v1/files", json={"purpose": "batch"}, headers=key)
        assert as_json.status_code == 400 and "multipart/form-data" in as_json.json()["error"]["message"]
        declared = {**key, "content-type": "multipart/form-data; boundary=x", "content-length": str(300 * 2**20)}
        too_big = http.post("/v1/files", content=b"--x--", headers=declared)
        assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "request_too_large"


def test_a_file_past_the_limit_while_streaming_is_a_413_and_leaves_nothing(
    gateway: tuple[InProcess, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a 1 MiB limit (the same path as 200 MB's): the file is counted as it is stored, whatever the body says."""
    basalt, admin = gateway
    monkeypatch.setattr(types, "MAX_FILE_BYTES", 2**20)
    sdk = client(basalt, key_for(basalt, admin, "a"))
    with pytest.raises(openai.APIStatusError) as refused:
        sdk.files.create(file=("big.jsonl", io.BytesIO(b"x" * (2**20 + 1))), purpose="batch")
    assert refused.value.status_code == 413 and refused.value.code == "request_too_large"
    assert sdk.files.list().data == []
    exact = sdk.files.create(file=("fits.jsonl", io.BytesIO(b"x" * 2**20)), purpose="batch")
    assert exact.bytes == 2**20 and len(sdk.files.content(exact.id).content) == 2**20


def test_a_web_page_cannot_upload_even_with_auth_off(tmp_path: Path) -> None:
    """A browser sends a cross-origin multipart POST without a preflight. It always names its origin, which must be
    allowed; and it cannot add a credential header without a preflight, so an upload without one is refused too."""
    settings = Settings(home=tmp_path, serve_local=False, cors_origins=["http://allowed.example"])
    form = {"files": {"file": ("x.jsonl", LINES)}, "data": {"purpose": "batch"}}
    with InProcess(settings) as basalt, basalt.http_client() as http:
        page = http.post("/v1/files", headers={"origin": "http://evil.example"}, **form)  # type: ignore[arg-type]
        assert page.status_code == 403 and page.json()["error"]["type"] == "invalid_request_error"
        with_key = {"origin": "http://evil.example", "authorization": "Bearer x"}  # a preflight would refuse it
        assert http.post("/v1/files", headers=with_key, **form).status_code == 403  # type: ignore[arg-type]
        bare = http.post("/v1/files", **form)  # type: ignore[arg-type]
        assert bare.status_code == 415 and "application/json" in bare.json()["error"]["message"]
        elsewhere = http.post("/v1/chat/completions", headers={"authorization": "Bearer x"}, **form)  # type: ignore[arg-type]
        assert elsewhere.status_code == 415
        allowed = http.post("/v1/files", headers={"origin": "http://allowed.example"}, **form)  # type: ignore[arg-type]
        assert allowed.status_code == 200, allowed.text
        sdk = basalt.openai()  # sends its Authorization header, as every SDK does
        made = sdk.files.create(file=("y.jsonl", io.BytesIO(LINES)), purpose="batch")
        assert {f.id for f in sdk.files.list()} == {made.id, allowed.json()["id"]}
