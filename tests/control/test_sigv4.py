"""AWS-style access key pairs and SigV4 verification, with botocore's signer as the oracle: pairs made by the CLI and
the admin API, their secrets sealed at rest (SQLite and PostgreSQL), botocore-signed requests accepted and every
tampering refused with the AWS error type boto3 raises, and a real boto3 client against a route that verifies."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anthropic
import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from basalt import InProcess, Settings
from basalt.cli import main
from basalt.config import ControlSettings
from basalt.control import ControlPlane
from basalt.control.auth import Authenticator
from basalt.control.aws_keys import AccessKeyPair, well_formed
from basalt.control.records import ApiKey
from basalt.control.schema import aws_access_keys
from basalt.control.sealing import KEY_FILE, SealError, load, parse_key
from basalt.errors import InternalError, PermissionDenied, SignatureRefused
from basalt.wire import sigv4

from ..fakes.upstream import serving

HOST = "http://127.0.0.1:8080"
ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
ENCODED_ARN = (
    "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-haiku-20241022-v1%3A0"
)
BODY = b'{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}'


def botocore_signed(
    url: str,
    secret: str,
    access: str = "BSLTAAAAAAAAAAAAAAAA",
    body: bytes = BODY,
    token: str | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    region: str = "us-west-2",
) -> sigv4.SignedRequest:
    """A request as botocore signs and sends it, as the server would see it."""
    aws = AWSRequest(
        method="POST",
        url=url,
        data=body,
        params=params or {},
        headers={"content-type": "application/json", **(headers or {})},
    )
    SigV4Auth(BotoCredentials(access, secret, token), "bedrock", region).add_auth(aws)
    prepared = aws.prepare()
    parts = urlsplit(prepared.url)
    sent = [*prepared.headers.items(), ("host", parts.netloc), ("user-agent", "Boto3/1 test")]
    return sigv4.SignedRequest("POST", parts.path, parts.query, sent, body)


def check(request: sigv4.SignedRequest, secret: str, now: float | None = None) -> sigv4.Claim:
    claim = sigv4.read(request, time.time() if now is None else now)
    sigv4.verify(request, claim, secret)
    return claim


def refused(request: sigv4.SignedRequest, secret: str, aws_type: str, now: float | None = None) -> str:
    with pytest.raises(SignatureRefused) as caught:
        check(request, secret, now)
    assert caught.value.aws_error_type == aws_type and caught.value.status == 403
    return caught.value.message


SECRET = "s" * 40
CASES = {
    "plain": {"url": f"{HOST}/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"},
    "session token": {"url": f"{HOST}/model/m/converse", "token": "FwoGZXIvYXdzE+/token=="},
    "reserved characters in the query": {
        "url": f"{HOST}/model/m/invoke",
        "params": {"a b": "x/y?z&=+", "tilde~": "ü*'()", "empty": "", "A": "1"},
    },
    "an encoded ARN as model id": {"url": f"{HOST}/model/{ENCODED_ARN}/converse-stream"},
    "bedrock headers and a region of its own": {
        "url": f"{HOST}/model/m/invoke",
        "headers": {"X-Amzn-Bedrock-GuardrailIdentifier": "g1", "X-Amzn-Bedrock-Trace": "ENABLED", "accept": "*/*"},
        "region": "local",
    },
}


@pytest.mark.parametrize("case", CASES)
def test_what_botocore_signs_verifies_and_any_single_byte_changed_is_refused(case: str) -> None:
    request = botocore_signed(secret=SECRET, **CASES[case])  # type: ignore[arg-type]
    check(request, SECRET)
    changed: list[sigv4.SignedRequest] = []
    for i in range(len(request.path)):
        changed.append(_replace(request, path=_flip(request.path, i)))
    for i in range(len(request.query)):
        changed.append(_replace(request, query=_flip(request.query, i)))
    for i in range(0, len(request.body)):
        changed.append(_replace(request, body=request.body[:i] + bytes([request.body[i] ^ 1]) + request.body[i + 1 :]))
    claim = sigv4.read(request, time.time())
    for n, (name, value) in enumerate(request.headers):
        if name.lower() in claim.signed_headers and name.lower() != "authorization":
            for i in range(len(value)):
                headers = list(request.headers)
                headers[n] = (name, _flip(value, i))
                changed.append(_replace(request, headers=headers))
    changed.append(_replace(request, method="PUT"))
    for other in changed:
        with pytest.raises(SignatureRefused):
            check(other, SECRET)
    assert len(changed) > len(request.body)


def _flip(text: str, i: int) -> str:
    return text[:i] + chr(ord(text[i]) ^ 1) + text[i + 1 :]


def _replace(request: sigv4.SignedRequest, **changes: Any) -> sigv4.SignedRequest:
    return sigv4.SignedRequest(**{**request.__dict__, **changes})


def test_the_canonical_uri_is_botocores_double_encoding() -> None:
    url = f"{HOST}/model/{ENCODED_ARN}/./x//converse"
    aws = AWSRequest(method="POST", url=url, data=b"")
    assert sigv4.canonical_uri(urlsplit(url).path) == SigV4Auth(None, "bedrock", "r")._normalize_url_path(
        urlsplit(url).path
    )
    assert "%253A" in sigv4.canonical_uri(urlsplit(url).path) and aws.url == url


def test_refusals_name_the_aws_error_type() -> None:
    url = f"{HOST}/model/m/converse"
    good = botocore_signed(url, SECRET)
    assert "does not match" in refused(botocore_signed(url, "w" * 40), SECRET, "InvalidSignatureException")
    expired = refused(good, SECRET, "InvalidSignatureException", now=time.time() + sigv4.MAX_SKEW_SECONDS + 2)
    assert expired.startswith("Signature expired:")
    early = refused(good, SECRET, "InvalidSignatureException", now=time.time() - sigv4.MAX_SKEW_SECONDS - 2)
    assert early.startswith("Signature not yet current:")
    check(good, SECRET, now=time.time() + sigv4.MAX_SKEW_SECONDS - 5)  # inside the window either way
    tampered = _replace(good, body=BODY.replace(b"Hi", b"Yo"))
    assert "does not match" in refused(tampered, SECRET, "InvalidSignatureException")
    stated = botocore_signed(url, SECRET, headers={"x-amz-content-sha256": "0" * 64})
    assert "x-amz-content-sha256" in refused(stated, SECRET, "InvalidSignatureException")
    unsigned = botocore_signed(url, SECRET, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    assert "unsigned payload" in refused(unsigned, SECRET, "InvalidSignatureException")
    added = _replace(good, headers=[*good.headers, ("X-Amzn-Bedrock-Trace", "ENABLED")])
    assert "not signed" in refused(added, SECRET, "InvalidSignatureException")
    other_service = botocore_signed(url, SECRET)
    auth = dict(other_service.headers)["Authorization"].replace("/bedrock/", "/s3/")
    swapped = _replace(other_service, headers=[(n, auth if n == "Authorization" else v) for n, v in good.headers])
    assert "correct service" in refused(swapped, SECRET, "InvalidSignatureException")
    without = _replace(good, headers=[(n, v) for n, v in good.headers if n != "Authorization"])
    refused(without, SECRET, "MissingAuthenticationTokenException")
    for broken in ("AWS4-HMAC-SHA256 Credential=x", "AWS4-HMAC-SHA256 " + "a=b, " * 2000, "Basic abc"):
        garbled = _replace(good, headers=[(n, broken if n == "Authorization" else v) for n, v in good.headers])
        refused(garbled, SECRET, "IncompleteSignatureException")
    no_date = _replace(good, headers=[(n, v) for n, v in good.headers if n != "X-Amz-Date"])
    refused(no_date, SECRET, "IncompleteSignatureException")
    assert sigv4.is_signed(good.headers) and not sigv4.is_signed([("authorization", "Bearer bsk_x")])


def test_sign_and_verify_share_the_canonical_request() -> None:
    url = f"{HOST}/model/{ENCODED_ARN}/converse?b=2&a=%2F"
    headers = sigv4.sign("POST", url, BODY, sigv4.Credentials("BSLTAAAAAAAAAAAAAAAA", SECRET, "tok"), "eu-west-1")
    parts = urlsplit(url)
    claim = check(sigv4.SignedRequest("POST", parts.path, parts.query, list(headers.items()), BODY), SECRET)
    assert claim.region == "eu-west-1" and claim.signed_headers == ("host", "x-amz-date", "x-amz-security-token")


def test_with_auth_off_a_signed_request_is_the_local_user() -> None:
    async def never(_: str) -> None:
        raise AssertionError("no lookup when auth is off")

    principal = asyncio.run(
        Authenticator(False, never, secrets=never).authenticate_sigv4(botocore_signed(f"{HOST}/m", "x" * 40))
    )
    assert principal.anonymous


# Sealing -----------------------------------------------------------------------------------------------------------


def test_the_secret_box_binds_each_secret_to_its_id_and_names_a_foreign_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BASALT_SECRET_KEY", raising=False)
    assert load(tmp_path, "BASALT_SECRET_KEY", create=False) is None  # verifying never makes a key
    box = load(tmp_path, "BASALT_SECRET_KEY", create=True)
    assert box is not None
    key_file = tmp_path / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(parse_key(key_file.read_text(), "f")) == 32
    again = load(tmp_path, "BASALT_SECRET_KEY", create=True)  # read, never replaced
    assert again is not None and again.fingerprint == box.fingerprint
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]  # no temporary file left
    sealed = box.seal(SECRET, "BSLTAAAAAAAAAAAAAAAA")
    assert SECRET not in sealed and box.open(sealed, "BSLTAAAAAAAAAAAAAAAA") == SECRET
    with pytest.raises(SealError, match="copied from another"):
        box.open(sealed, "BSLTBBBBBBBBBBBBBBBB")
    with pytest.raises(SealError, match="altered"):
        box.open(sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:], "BSLTAAAAAAAAAAAAAAAA")
    monkeypatch.setenv("BASALT_SECRET_KEY", os.urandom(32).hex())
    other = load(tmp_path, "BASALT_SECRET_KEY", create=True)
    assert other is not None and other.source == "$BASALT_SECRET_KEY"
    with pytest.raises(SealError, match="same key"):
        other.open(sealed, "BSLTAAAAAAAAAAAAAAAA")
    monkeypatch.setenv("BASALT_SECRET_KEY", base64.b64encode(os.urandom(32)).decode().rstrip("="))
    assert load(tmp_path, "BASALT_SECRET_KEY", create=False) is not None  # base64 without padding
    for wrong in ("short", "z" * 64, base64.b64encode(os.urandom(31)).decode(), "!" * 44):
        monkeypatch.setenv("BASALT_SECRET_KEY", wrong)
        with pytest.raises(SealError, match="32-byte key"):
            load(tmp_path, "BASALT_SECRET_KEY", create=False)


def test_concurrent_first_uses_agree_on_one_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BASALT_SECRET_KEY", raising=False)

    async def race() -> set[str]:
        boxes = await asyncio.gather(
            *(asyncio.to_thread(load, tmp_path, "BASALT_SECRET_KEY", create=True) for _ in range(8))
        )
        return {b.fingerprint for b in boxes if b is not None}

    assert len(asyncio.run(race())) == 1


# The control plane, on SQLite and PostgreSQL --------------------------------------------------------------------


def plane_settings(home: Path, database: str) -> Settings:
    return Settings(home=home, serve_local=False, control=ControlSettings(auth=True, database=database))


async def make_key(plane: ControlPlane, **fields: Any) -> ApiKey:
    store = plane.store()
    project = await store.create_project(f"p{os.urandom(3).hex()}")
    key, _ = await store.create_key("k", project, **fields)
    return key


def test_pairs_are_sealed_at_rest_and_verify_through_the_plane(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BASALT_SECRET_KEY", raising=False)
    plane = ControlPlane(plane_settings(tmp_path, database_url))
    plane.prepare()
    url = f"{HOST}/model/{ENCODED_ARN}/converse"

    async def go() -> None:
        try:
            key = await make_key(plane)
            pair = await plane.issue_access_key(key)
            assert well_formed(pair.access_key_id) and len(pair.secret_access_key) == 40
            assert await plane.store().access_key_ids(key.id) == [pair.access_key_id]
            async with plane.store().db.connect() as conn:
                row = (await conn.execute(select(aws_access_keys))).one()
            assert row.id == pair.access_key_id and row.key_id == key.id
            assert pair.secret_access_key not in str(tuple(row)) and row.secret_sealed.startswith("v1:")
            principal = await signed(plane, url, pair)
            assert principal.key is not None and principal.key.id == key.id
            with pytest.raises(SignatureRefused) as unknown:
                await signed(plane, url, AccessKeyPair(key.id, "BSLT" + "A" * 16, pair.secret_access_key))
            assert unknown.value.aws_error_type == "UnrecognizedClientException"
            with pytest.raises(SignatureRefused) as wrong:
                await signed(plane, url, AccessKeyPair(key.id, pair.access_key_id, "x" * 40))
            assert wrong.value.aws_error_type == "InvalidSignatureException"
            scoped = await plane.issue_access_key(await make_key(plane, endpoints=["models"]))
            with pytest.raises(PermissionDenied):
                await signed(plane, url, scoped)
            await plane.store().revoke_key(key.id)
            plane.auth.forget(key.id)
            with pytest.raises(SignatureRefused, match="revoked") as revoked:
                await signed(plane, url, pair)
            assert revoked.value.aws_error_type == "UnrecognizedClientException"
            expired = await plane.issue_access_key(await make_key(plane, expires_at=time.time() + 0.5))
            await asyncio.sleep(0.6)
            with pytest.raises(SignatureRefused, match="expired"):
                await signed(plane, url, expired)
        finally:
            await plane.close()

    asyncio.run(go())
    if database_url.startswith("sqlite"):
        stored = b"".join(p.read_bytes() for p in tmp_path.glob("basalt.db*"))
        assert b"BSLT" in stored  # the ids are there, in clear; no secret is (checked in the CLI test)


async def signed(plane: ControlPlane, url: str, pair: AccessKeyPair) -> Any:
    request = botocore_signed(url, pair.secret_access_key, access=pair.access_key_id)
    return await plane.authenticate_sigv4(
        request.method, request.path, request.query, request.headers, request.body, "messages"
    )


def test_a_replica_with_another_server_key_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    monkeypatch.setenv("BASALT_SECRET_KEY", os.urandom(32).hex())
    first = ControlPlane(plane_settings(tmp_path / "a", database))
    first.prepare()
    monkeypatch.setenv("BASALT_SECRET_KEY", os.urandom(32).hex())
    second = ControlPlane(plane_settings(tmp_path / "b", database))

    async def go() -> None:
        try:
            pair = await first.issue_access_key(await make_key(first))
            with pytest.raises(InternalError, match="server key differs"):
                await signed(second, f"{HOST}/model/m/converse", pair)
        finally:
            await first.close()
            await second.close()

    asyncio.run(go())
    monkeypatch.setenv("BASALT_SECRET_KEY", "not a key")
    with pytest.raises(SystemExit, match="32-byte key"):
        ControlPlane(plane_settings(tmp_path / "c", database)).prepare()


# The CLI and the admin API --------------------------------------------------------------------------------------


def test_keys_create_aws_and_keys_aws_print_a_pair_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BASALT_SECRET_KEY", raising=False)
    monkeypatch.setenv("BASALT_HOME", str(tmp_path))  # the environment's home wins over the file's
    database = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    config = tmp_path / "basalt.yaml"
    config.write_text(f"home: '{tmp_path}'\ncontrol: {{database: '{database}', auth: true}}\n")
    args = ["--config", str(config)]
    assert main(["projects", "create", "web", *args]) == 0
    capsys.readouterr()
    assert main(["keys", "create", "--project", "web", "--name", "boto", "--aws", *args]) == 0
    created = capsys.readouterr()
    key, access, secret = created.out.strip().splitlines()
    assert key.startswith("bsk_") and "access key pair" in created.err
    assert access.startswith("AWS_ACCESS_KEY_ID=BSLT") and secret.startswith("AWS_SECRET_ACCESS_KEY=")
    access, secret = access.partition("=")[2], secret.partition("=")[2]
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    key_id = "key_" + key.split("_")[1]
    assert main(["keys", "aws", key_id, *args]) == 0
    second = capsys.readouterr().out.strip().splitlines()
    assert len(second) == 2 and second[0].partition("=")[2] != access
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("db.sqlite*"))
    assert access.encode() in stored and secret.encode() not in stored
    assert second[1].partition("=")[2].encode() not in stored

    plane = ControlPlane(Settings.load(config, serve_local=False))

    async def verify() -> str | None:
        try:
            principal = await signed(plane, f"{HOST}/model/m/converse", AccessKeyPair(key_id, access, secret))
            return principal.key.id if principal.key else None
        finally:
            await plane.close()

    assert asyncio.run(verify()) == key_id
    assert main(["keys", "aws", "key_nope", *args]) == 1
    assert "no key" in capsys.readouterr().err
    assert main(["keys", "revoke", key_id, *args]) == 0
    assert main(["keys", "aws", key_id, *args]) == 1
    assert "revoked" in capsys.readouterr().err


def test_the_admin_api_issues_pairs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BASALT_SECRET_KEY", raising=False)
    settings = plane_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'basalt.db'}")
    with InProcess(settings) as basalt, basalt.http_client() as http:
        admin = {"x-api-key": (tmp_path / "admin-key").read_text().strip()}
        assert http.post("/admin/projects", json={"name": "p"}, headers=admin).status_code == 201
        made = http.post("/admin/keys", json={"name": "k", "project": "p", "aws": True}, headers=admin)
        assert made.status_code == 201, made.text
        body = made.json()
        assert well_formed(body["aws_access_key_id"]) and len(body["aws_secret_access_key"]) == 40
        plain = http.post("/admin/keys", json={"name": "k2", "project": "p"}, headers=admin).json()
        assert "aws_access_key_id" not in plain
        more = http.post(f"/admin/keys/{plain['id']}/aws-credentials", headers=admin)
        assert more.status_code == 201 and more.json()["key_id"] == plain["id"]
        assert http.post("/admin/keys/key_nope/aws-credentials", headers=admin).status_code == 404
        tenant = {"x-api-key": plain["key"]}
        assert http.post(f"/admin/keys/{plain['id']}/aws-credentials", headers=tenant).status_code == 403
        http.post(f"/admin/keys/{plain['id']}/revoke", headers=admin)
        again = http.post(f"/admin/keys/{plain['id']}/aws-credentials", headers=admin)
        assert again.status_code == 400 and "revoked" in again.text
        listing = http.get("/admin/keys", headers=admin).text
        assert body["aws_secret_access_key"] not in listing
        pairs = http.get(f"/admin/keys/{body['id']}/aws-credentials", headers=admin)
        assert pairs.json() == {"data": [{"key_id": body["id"], "aws_access_key_id": body["aws_access_key_id"]}]}
        assert http.get("/admin/keys/key_nope/aws-credentials", headers=admin).status_code == 404


# A real boto3 client -----------------------------------------------------------------------------------------------


@pytest.fixture
def verifying_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, ControlPlane, list[Any]]]:
    """A test-only route that verifies with authenticate_sigv4 and answers a Converse response (or the error as the
    Bedrock dialect will render it), recording what it verified."""
    monkeypatch.delenv("BASALT_SECRET_KEY", raising=False)
    plane = ControlPlane(plane_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'basalt.db'}"))
    plane.prepare()
    seen: list[Any] = []

    async def route(request: Request) -> Response:
        body = await request.body()
        scope = request.scope
        try:
            principal = await plane.authenticate_sigv4(
                request.method, scope["raw_path"].decode(), scope["query_string"].decode(),
                request.headers.items(), body, "messages",
            )  # fmt: skip
        except SignatureRefused as exc:
            seen.append(exc)
            return JSONResponse({"message": exc.message}, exc.status, {"x-amzn-ErrorType": exc.aws_error_type or ""})
        seen.append((principal.key.id if principal.key else None, request.url.path, json.loads(body)))
        if request.url.path.endswith("/invoke"):  # InvokeModel, in the Anthropic-on-Bedrock format
            content = [{"type": "text", "text": "verified"}]
            return JSONResponse(
                {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": content,
                 "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}
            )  # fmt: skip
        message = {"role": "assistant", "content": [{"text": "verified"}]}
        usage = {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}
        return JSONResponse(
            {"output": {"message": message}, "stopReason": "end_turn", "usage": usage, "metrics": {"latencyMs": 1}}
        )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await plane.close()

    with serving(Starlette(routes=[Route("/{rest:path}", route, methods=["POST"])], lifespan=lifespan)) as url:
        yield url, plane, seen


def test_boto3_converse_is_verified(verifying_route: tuple[str, ControlPlane, list[Any]]) -> None:
    url, plane, seen = verifying_route

    async def issue() -> tuple[str, AccessKeyPair]:
        key = await make_key(plane)
        return key.id, await plane.issue_access_key(key)

    key_id, pair = _on_fresh_loop(plane, issue())

    def client(secret: str, token: str | None = None) -> Any:
        return boto3.client(
            "bedrock-runtime", endpoint_url=url, region_name="eu-central-1", aws_access_key_id=pair.access_key_id,
            aws_secret_access_key=secret, aws_session_token=token, config=Config(retries={"max_attempts": 1}),
        )  # fmt: skip

    messages = [{"role": "user", "content": [{"text": "Hi"}]}]
    answer = client(pair.secret_access_key, "a-session-token").converse(modelId=ARN, messages=messages)
    assert answer["output"]["message"]["content"] == [{"text": "verified"}]
    assert seen[-1] == (key_id, f"/model/{ARN}/converse", {"messages": messages})
    with pytest.raises(ClientError) as caught:
        client("w" * 40).converse(modelId="m", messages=messages)
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_anthropic_bedrock_is_verified(verifying_route: tuple[str, ControlPlane, list[Any]]) -> None:
    url, plane, seen = verifying_route

    async def issue() -> tuple[str, AccessKeyPair]:
        key = await make_key(plane)
        return key.id, await plane.issue_access_key(key)

    key_id, pair = _on_fresh_loop(plane, issue())
    client = anthropic.AnthropicBedrock(
        aws_access_key=pair.access_key_id, aws_secret_key=pair.secret_access_key, aws_session_token="tok",
        aws_region="us-east-1", base_url=url, max_retries=0,
    )  # fmt: skip
    model = "anthropic.claude-3-5-haiku-20241022-v1:0"
    answer = client.messages.create(model=model, max_tokens=5, messages=[{"role": "user", "content": "Hi"}])
    assert answer.content[0].type == "text" and answer.content[0].text == "verified"
    assert seen[-1][0] == key_id and seen[-1][1] == f"/model/{model}/invoke"
    assert "anthropic_version" in seen[-1][2]  # this SDK sends 2026-10-21, not bedrock-2023-05-31
    wrong = anthropic.AnthropicBedrock(
        aws_access_key=pair.access_key_id, aws_secret_key="w" * 40, aws_region="us-east-1", base_url=url, max_retries=0
    )
    with pytest.raises(anthropic.PermissionDeniedError):
        wrong.messages.create(model=model, max_tokens=5, messages=[{"role": "user", "content": "Hi"}])
    assert isinstance(seen[-1], SignatureRefused) and seen[-1].aws_error_type == "InvalidSignatureException"


def _on_fresh_loop(plane: ControlPlane, coro: Any) -> Any:
    async def run() -> Any:
        try:
            return await coro
        finally:
            await plane.close()

    return asyncio.run(run())


def test_sign_matches_botocore_at_a_fixed_time() -> None:
    now = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
    url = f"https://bedrock-runtime.us-west-2.amazonaws.com/model/{ENCODED_ARN}/converse"
    ours = sigv4.sign("POST", url, BODY, sigv4.Credentials("AKIDEXAMPLE", SECRET), "us-west-2", now=now)
    aws = AWSRequest(method="POST", url=url, data=BODY, headers={"x-amz-date": ours["x-amz-date"]})
    aws.context["timestamp"] = ours["x-amz-date"]
    signer = SigV4Auth(BotoCredentials("AKIDEXAMPLE", SECRET), "bedrock", "us-west-2")
    assert ours["authorization"].endswith(
        "Signature=" + signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
    )
