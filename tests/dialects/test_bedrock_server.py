"""The Bedrock Runtime dialect driven by boto3's own bedrock-runtime client, through an upstream (the fake
OpenAI-compatible server): Converse, ConverseStream, InvokeModel, its stream, CountTokens, errors as boto3 raises
them, and mid-stream failures as exception frames."""

from __future__ import annotations

import datetime
import json
import ssl
from collections.abc import Iterator
from typing import Any

import anthropic
import boto3
import botocore.auth
import httpx2 as httpx
import pytest
from botocore.exceptions import ClientError, EventStreamError

from basalt import Settings
from basalt.config import ControlSettings, Deployment, Price, RouterSettings
from basalt.guard import GuardrailConfig

from ..fakes.upstream import Script, fake_upstream
from .bedrock_servers import MODEL, basalt_server, bedrock_client, tls_basalt_server

PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us." + MODEL
FOUNDATION_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{MODEL}"
ANTHROPIC_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "Hi"}],
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[Any, Script]]:
    with fake_upstream() as (url, script):
        deployments = [Deployment(name="up", provider="openai", model="gpt-up", base_url=url)]
        settings = Settings(
            serve_local=False,
            deployments=deployments,
            aliases={MODEL: "up"},
            router=RouterSettings(retries=0),
            guardrails=[BLOCKER],
        )
        with basalt_server(settings) as basalt:
            client = bedrock_client(basalt)
            yield client, script
            client.close()  # its kept-alive connections would hold up the server's shutdown


BLOCKER = GuardrailConfig.model_validate(
    {
        "name": "blocker",
        "version": 1,
        "stream_mode": "sync",
        "blocked_output_message": "Output blocked by policy.",
        "words": {"words": ["project zeus"], "action": "BLOCK"},
    }
)
GUARDED = {"guardrailIdentifier": "blocker", "guardrailVersion": "1", "trace": "enabled"}
SECRET_PLAN = "say:The plan is project| zeus, then lunch."


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def test_converse_answers_in_converses_shape(upstream: tuple[Any, Script]) -> None:
    client, script = upstream
    out = client.converse(
        modelId=MODEL,
        system=[{"text": "Be brief."}],
        messages=user("Hi"),
        inferenceConfig={"maxTokens": 50, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
    )
    assert out["output"]["message"] == {"role": "assistant", "content": [{"text": "Hello from the fake upstream."}]}
    assert out["stopReason"] == "end_turn"
    assert out["usage"] == {
        "inputTokens": 7, "outputTokens": 6, "totalTokens": 13, "cacheReadInputTokens": 0, "cacheWriteInputTokens": 0
    }  # fmt: skip
    assert out["metrics"]["latencyMs"] >= 0
    assert out["ResponseMetadata"]["RequestId"].startswith("req_")
    sent = script.requests[-1]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert (sent["max_completion_tokens"], sent["temperature"], sent["top_p"], sent["stop"]) == (50, 0.5, 0.9, ["END"])


@pytest.mark.parametrize("model_id", ["us." + MODEL, PROFILE_ARN, FOUNDATION_ARN])
def test_profiles_and_arns_name_the_aliased_model(upstream: tuple[Any, Script], model_id: str) -> None:
    client, _ = upstream
    assert client.converse(modelId=model_id, messages=user("Hi"))["stopReason"] == "end_turn"


def test_converse_stream_events(upstream: tuple[Any, Script]) -> None:
    client, _ = upstream
    events = list(client.converse_stream(modelId=MODEL, messages=user("Hi"))["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "Hello from the fake upstream."
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    assert events[-1]["metadata"]["usage"]["totalTokens"] == 13
    assert events[-1]["metadata"]["metrics"]["latencyMs"] >= 0


def test_invoke_model_with_an_anthropic_body(upstream: tuple[Any, Script]) -> None:
    client, _ = upstream
    body = ANTHROPIC_BODY
    out = client.invoke_model(modelId=MODEL, body=json.dumps(body))
    message = json.loads(out["body"].read())
    assert message["type"] == "message" and message["model"] == MODEL
    assert message["content"] == [{"type": "text", "text": "Hello from the fake upstream."}]
    assert out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-bedrock-output-token-count"] == "6"


def test_invoke_model_stream_chunks_are_anthropic_events(upstream: tuple[Any, Script]) -> None:
    client, _ = upstream
    body = ANTHROPIC_BODY
    out = client.invoke_model_with_response_stream(modelId=MODEL, body=json.dumps(body))
    events = [json.loads(e["chunk"]["bytes"]) for e in out["body"]]
    assert [e["type"] for e in events][:2] == ["message_start", "content_block_start"]
    assert events[-1]["type"] == "message_stop"
    assert events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 6


def test_count_tokens_on_an_upstream_that_cannot_count_is_a_validation_exception(upstream: tuple[Any, Script]) -> None:
    client, _ = upstream
    with pytest.raises(client.exceptions.ValidationException, match="cannot count tokens"):
        client.count_tokens(modelId=MODEL, input={"converse": {"messages": user("Hi")}})


def test_errors_are_bedrock_exceptions(upstream: tuple[Any, Script]) -> None:
    client, script = upstream
    with pytest.raises(client.exceptions.ResourceNotFoundException, match="nova") as missing:
        client.converse(modelId="amazon.nova-pro-v1:0", messages=user("Hi"))
    assert missing.value.response["ResponseMetadata"]["RequestId"].startswith("req_")
    with pytest.raises(client.exceptions.ValidationException, match="video"):
        video = {"video": {"format": "mp4", "source": {"bytes": b"x"}}}
        client.converse(modelId=MODEL, messages=[{"role": "user", "content": [video]}])
    with pytest.raises(client.exceptions.ValidationException, match="anthropic_version"):
        client.invoke_model(modelId=MODEL, body=json.dumps({"inputText": "Titan body"}))
    with pytest.raises(client.exceptions.ValidationException, match=r"additionalModelRequestFields\.foo"):
        client.converse(modelId=MODEL, messages=user("Hi"), additionalModelRequestFields={"foo": 1})
    script.actions = ["429"] * 3  # the router's one more try after a cooldown gets the next
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(modelId=MODEL, messages=user("Hi"))
    script.actions = ["529"] * 3
    with pytest.raises(client.exceptions.ServiceUnavailableException):
        client.converse(modelId=MODEL, messages=user("Hi"))
    script.actions = []


def test_a_failure_mid_stream_is_an_exception_frame(upstream: tuple[Any, Script]) -> None:
    client, script = upstream
    script.actions = ["cut"]
    stream = client.converse_stream(modelId=MODEL, messages=user("Hi"))["stream"]
    with pytest.raises(EventStreamError) as caught:
        list(stream)
    assert caught.value.response["Error"]["Code"] == "modelStreamErrorException"


def test_a_guardrail_named_in_converse_intervenes_with_its_trace(upstream: tuple[Any, Script]) -> None:
    client, script = upstream
    script.actions = [SECRET_PLAN]
    out = client.converse(modelId=MODEL, messages=user("The plan?"), guardrailConfig=GUARDED)
    assert out["stopReason"] == "guardrail_intervened"
    assert out["output"]["message"]["content"] == [{"text": "Output blocked by policy."}]
    assessment = out["trace"]["guardrail"]["outputAssessments"]["blocker"][0]
    assert assessment["wordPolicy"]["customWords"][0]["match"].lower() == "project zeus"


def test_a_guardrail_intervening_in_a_stream(upstream: tuple[Any, Script]) -> None:
    client, script = upstream
    script.actions = [SECRET_PLAN]
    events = list(client.converse_stream(modelId=MODEL, messages=user("The plan?"), guardrailConfig=GUARDED)["stream"])
    text = "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e)
    assert "zeus" not in text and text.endswith("Output blocked by policy.")
    assert next(e for e in events if "messageStop" in e)["messageStop"]["stopReason"] == "guardrail_intervened"
    assert "blocker" in events[-1]["metadata"]["trace"]["guardrail"]["outputAssessments"]


def test_a_guardrail_refusing_the_request_never_reaches_the_model(upstream: tuple[Any, Script]) -> None:
    client, script = upstream
    before = len(script.requests)
    out = client.converse(modelId=MODEL, messages=user("Tell me about project zeus."), guardrailConfig=GUARDED)
    assert out["stopReason"] == "guardrail_intervened" and len(script.requests) == before
    assert "wordPolicy" in out["trace"]["guardrail"]["inputAssessment"]["blocker"]
    events = list(
        client.converse_stream(modelId=MODEL, messages=user("project zeus?"), guardrailConfig=GUARDED)["stream"]
    )
    assert "blocker" in events[-1]["metadata"]["trace"]["guardrail"]["inputAssessment"]
    assert len(script.requests) == before


def test_invoke_models_guardrail_headers(upstream: tuple[Any, Script]) -> None:
    client, script = upstream
    script.actions = [SECRET_PLAN]
    out = client.invoke_model(
        modelId=MODEL, body=json.dumps(ANTHROPIC_BODY), guardrailIdentifier="blocker", guardrailVersion="1"
    )
    assert json.loads(out["body"].read())["content"] == [{"type": "text", "text": "Output blocked by policy."}]
    url = client.meta.endpoint_url
    too_long = {"x-amzn-bedrock-guardrailidentifier": "g" * 3000, **JSON}
    response = httpx.post(f"{url}/model/{MODEL}/invoke", content=json.dumps(ANTHROPIC_BODY), headers=too_long)
    assert response.status_code == 400 and "GuardrailIdentifier" in response.json()["message"]


def test_an_undefined_guardrail_is_a_validation_exception(upstream: tuple[Any, Script]) -> None:
    client, _ = upstream
    missing = {"guardrailIdentifier": "nope", "guardrailVersion": "1"}
    with pytest.raises(client.exceptions.ValidationException, match="nope"):
        client.converse(modelId=MODEL, messages=user("Hi"), guardrailConfig=missing)


def test_apply_guardrail(upstream: tuple[Any, Script]) -> None:
    client, _ = upstream
    content = [{"text": {"text": "Tell me about project zeus."}}]
    out = client.apply_guardrail(guardrailIdentifier="blocker", guardrailVersion="1", source="OUTPUT", content=content)
    assert out["action"] == "GUARDRAIL_INTERVENED" and out["outputs"] == [{"text": "Output blocked by policy."}]
    arn = "arn:aws:bedrock:us-east-1:123456789012:guardrail/blocker"
    calm = client.apply_guardrail(
        guardrailIdentifier=arn,
        guardrailVersion="1",
        source="INPUT",
        content=[{"text": {"text": "hello"}}],
    )
    assert calm["action"] == "NONE"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.apply_guardrail(guardrailIdentifier="nope", guardrailVersion="1", source="INPUT", content=content)


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    [
        ("POST", "/model/x/unknown-operation", {}, 404, "ResourceNotFoundException"),
        ("GET", "/model/x/converse", {}, 405, "ValidationException"),
        ("POST", "/model/x/converse", {"content-type": "text/plain"}, 415, "ValidationException"),
        ("POST", "/guardrail/x/version/1/other", {}, 404, "ResourceNotFoundException"),
    ],
)
def test_the_http_edges_errors_are_in_bedrocks_shape(
    upstream: tuple[Any, Script], method: str, path: str, headers: dict[str, str], status: int, code: str
) -> None:
    url = upstream[0].meta.endpoint_url
    response = httpx.request(method, url + path, headers={**JSON, **headers}, content=b"{}")
    assert response.status_code == status
    assert response.headers["x-amzn-errortype"] == code and set(response.json()) == {"message"}


def test_a_body_over_the_limit_is_413_in_bedrocks_shape() -> None:
    with basalt_server(Settings(serve_local=False, max_body_bytes=1024)) as url:
        response = httpx.post(url + "/model/m/converse", content=b"{" + b" " * 2048 + b"}", headers=JSON)
    assert response.status_code == 413 and response.headers["x-amzn-errortype"] == "ValidationException"


JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str, str]]:
    """Basalt with auth on, over https; a key of a project with room, and one of a project whose budget is spent."""
    home = tmp_path_factory.mktemp("bedrock-auth")
    with fake_upstream() as (upstream_url, _):
        deployments = [Deployment(name="up", provider="openai", model="gpt-up", base_url=upstream_url)]
        settings = Settings(
            home=home,
            serve_local=False,
            deployments=deployments,
            aliases={MODEL: "up"},
            control=ControlSettings(auth=True, key_cache_seconds=0),
            prices={MODEL: Price(input=3.0, output=15.0)},
        )
        with tls_basalt_server(settings, home) as (url, ca):
            admin = {"x-api-key": (home / "admin-key").read_text().strip()}
            keys = []
            with httpx.Client(verify=ssl.create_default_context(cafile=ca)) as http:
                for project in ({"name": "br"}, {"name": "broke", "daily_budget_usd": 0.0}):
                    assert http.post(url + "/admin/projects", json=project, headers=admin).status_code < 300
                    created = http.post(
                        url + "/admin/keys", json={"name": "k", "project": project["name"]}, headers=admin
                    )
                    keys.append(created.json()["key"])
                pair = {"name": "aws", "project": "br", "aws": True}
                PAIR.update(http.post(url + "/admin/keys", json=pair, headers=admin).json())
            yield url, ca, keys[0], keys[1]


def test_a_bedrock_api_key_is_a_basalt_key(keyed: tuple[str, str, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    url, ca, key, _ = keyed
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", key)
    client = bedrock_client(url, verify=ca)
    assert client.converse(modelId=MODEL, messages=user("Hi"))["stopReason"] == "end_turn"
    http = httpx.Client(verify=ssl.create_default_context(cafile=ca))
    bedrock = anthropic.AnthropicBedrock(
        base_url=url, api_key=key, aws_region="us-east-1", max_retries=0, http_client=http
    )
    assert bedrock.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "Hi"}]).content
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", key[:-4] + "abcd")
    with pytest.raises(client.exceptions.AccessDeniedException, match="Invalid API key"):
        bedrock_client(url, verify=ca).converse(modelId=MODEL, messages=user("Hi"))


PAIR: dict[str, Any] = {}


def test_an_access_key_pair_signs_with_sigv4(keyed: tuple[str, str, str, str]) -> None:
    url, ca, _, _ = keyed
    access, secret = PAIR["aws_access_key_id"], PAIR["aws_secret_access_key"]
    signed = boto3.client(
        "bedrock-runtime", endpoint_url=url, region_name="eu-west-1", verify=ca,
        aws_access_key_id=access, aws_secret_access_key=secret,
    )  # fmt: skip
    assert signed.converse(modelId=MODEL, messages=user("Hi"))["stopReason"] == "end_turn"
    wrong = boto3.client(
        "bedrock-runtime", endpoint_url=url, region_name="eu-west-1", verify=ca,
        aws_access_key_id=access, aws_secret_access_key=secret[:-1] + ("A" if secret[-1] != "A" else "B"),
    )  # fmt: skip
    with pytest.raises(ClientError) as refused:
        wrong.converse(modelId=MODEL, messages=user("Hi"))
    assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def _pair_client(url: str, ca: str) -> Any:
    return boto3.client(
        "bedrock-runtime", endpoint_url=url, region_name="eu-west-1", verify=ca,
        aws_access_key_id=PAIR["aws_access_key_id"], aws_secret_access_key=PAIR["aws_secret_access_key"],
    )  # fmt: skip


def test_a_sigv4_request_signed_too_long_ago_is_refused(
    keyed: tuple[str, str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request boto3 signed correctly, but ten minutes ago (a replayed capture): past the five minutes' skew."""
    url, ca, _, _ = keyed
    stale = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: stale)
    with pytest.raises(ClientError) as refused:
        _pair_client(url, ca).converse(modelId=MODEL, messages=user("Hi"))
    error = refused.value.response["Error"]
    assert (error["Code"], refused.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "InvalidSignatureException",
        403,
    )
    assert "Signature expired" in error["Message"]


def test_a_sigv4_request_whose_body_changed_after_signing_is_refused(keyed: tuple[str, str, str, str]) -> None:
    """boto3 signs, then the body is changed on the way (a man in the middle): the payload hash no longer matches."""
    url, ca, _, _ = keyed
    client = _pair_client(url, ca)

    def tamper(request: Any, **_: Any) -> None:
        request.body = request.body.replace(b"Hi", b"Yo")

    client.meta.events.register("before-send.bedrock-runtime.Converse", tamper)
    with pytest.raises(ClientError) as refused:
        client.converse(modelId=MODEL, messages=user("Hi"))
    assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_spent_budget_is_service_quota_exceeded(
    keyed: tuple[str, str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ca, _, broke = keyed
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", broke)
    client = bedrock_client(url, verify=ca)
    with pytest.raises(client.exceptions.ServiceQuotaExceededException, match="budget"):
        client.converse(modelId=MODEL, messages=user("Hi"))


def test_without_a_key_auth_on_refuses_with_403(keyed: tuple[str, str, str, str]) -> None:
    url, ca, _, _ = keyed
    response = httpx.post(
        url + f"/model/{MODEL}/converse", json={"messages": user("Hi")}, verify=ssl.create_default_context(cafile=ca)
    )
    assert response.status_code == 403 and response.headers["x-amzn-errortype"] == "AccessDeniedException"


def test_a_refusal_before_the_stream_is_an_http_error(upstream: tuple[Any, Script]) -> None:
    client, script = upstream
    script.actions = ["429"] * 3
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse_stream(modelId=MODEL, messages=user("Hi"))
    script.actions = []


def test_a_failure_mid_invoke_stream_is_an_exception_frame(upstream: tuple[Any, Script]) -> None:
    client, script = upstream
    script.actions = ["cut"]
    out = client.invoke_model_with_response_stream(modelId=MODEL, body=json.dumps(ANTHROPIC_BODY))
    with pytest.raises(EventStreamError) as caught:
        list(out["body"])
    assert caught.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert "upstream" in caught.value.response["Error"]["Message"]


def test_an_untyped_body_passes_only_signed_and_only_on_bedrocks_paths(upstream: tuple[Any, Script]) -> None:
    url = upstream[0].meta.endpoint_url
    body = json.dumps({"messages": user("Hi")}).encode()
    converse = f"{url}/model/{MODEL}/converse"
    assert httpx.post(converse, content=body).status_code == 415  # what a page can send without a preflight
    assert httpx.post(converse, content=body, headers={"x-amz-date": "20260101T000000Z"}).status_code == 200
    assert httpx.post(converse, content=body, headers={"authorization": "Bearer x"}).status_code == 200  # auth off
    anthropic_body = json.dumps({"model": "up", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]})
    assert httpx.post(f"{url}/v1/messages", content=anthropic_body, headers={"x-amz-date": "x"}).status_code == 415
