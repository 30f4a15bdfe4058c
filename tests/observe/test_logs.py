"""Logs: the format and level from the settings, secrets masked, and one access line per request at the HTTP edge,
read from a real `basalt serve`'s stderr (JSON, level debug) and, for the finer cases, through caplog in-process."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from basalt import InProcess, Settings
from basalt.config import Deployment
from basalt.observe.logs import ACCESS_LOGGER, FIELDS, Redactor, configure, secret_values

from ..control.servers import Server
from ..fakes.upstream import Script, fake_upstream

ASK = [{"role": "user", "content": "Hi"}]
TRACE_1, TRACE_2 = "4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"
UPSTREAM_KEY = "sk-upstream-0123456789abcdefSECRET"
ACCESS_KEYS = {
    "request_id", "trace_id", "method", "path", "route", "dialect", "status", "outcome", "key_id", "project_id",
    "model", "deployment", "attempts", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "latency_ms", "ttft_ms", "guardrail_action", "error_type", "client",
}  # fmt: skip


def traceparent(trace_id: str) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}


def json_settings(**logging_: Any) -> Settings:
    return Settings.model_validate({"observability": {"logging": {"format": "json", **logging_}}})


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`configure` sets the root logger up; put it back as pytest had it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("basalt", ACCESS_LOGGER)}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)
    logging.captureWarnings(False)


# Format, level, masking --------------------------------------------------------------------------------------------


def test_json_lines_carry_ts_level_logger_message_fields_and_the_exception(restore_logging: None) -> None:
    out = io.StringIO()
    configure(json_settings(), out)
    log = logging.getLogger("basalt.test")
    log.info("hello %s", "world", extra={FIELDS: {"n": 1}})
    try:
        raise ValueError("no good")
    except ValueError:
        log.exception("it failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert first == {"ts": first["ts"], "level": "info", "logger": "basalt.test", "message": "hello world", "n": 1}
    assert (second["level"], second["message"]) == ("error", "it failed")
    assert second["exception"].startswith("Traceback") and "ValueError: no good" in second["exception"]


def test_text_lines_append_the_fields_as_key_value(restore_logging: None) -> None:
    out = io.StringIO()
    configure(Settings(), out)
    logging.getLogger("basalt.test").warning("slow", extra={FIELDS: {"model": "m", "why": "a b", "none": None}})
    assert re.fullmatch(r"\S+ \S+ WARNING basalt.test: slow model=m why=\"a b\"\n", out.getvalue())


def test_the_level_is_basalts_and_other_libraries_stay_at_warning(restore_logging: None) -> None:
    out = io.StringIO()
    configure(json_settings(level="DEBUG"), out)  # any case
    logging.getLogger("basalt.control").debug("ours")
    logging.getLogger("sqlalchemy.engine").info("SELECT ... a library's chatter")
    logging.getLogger("sqlalchemy.engine").warning("a library's warning")
    assert [json.loads(line)["message"] for line in out.getvalue().splitlines()] == ["ours", "a library's warning"]
    out.truncate(0)
    out.seek(0)
    configure(json_settings(level="error"), out)  # configured again: one handler, not two
    logging.getLogger("basalt.control").warning("quiet now")
    logging.getLogger(ACCESS_LOGGER).info("the access line still")
    assert [json.loads(line)["message"] for line in out.getvalue().splitlines()] == ["the access line still"]


@pytest.mark.parametrize(
    ("yaml", "named"),
    [("format: xml", "'text' or 'json'"), ("level: loud", "'debug', 'info', 'warning', 'error' or 'critical'")],
)
def test_a_bad_format_or_level_is_a_clear_start_up_error(tmp_path: Path, yaml: str, named: str) -> None:
    config = tmp_path / "basalt.yaml"
    config.write_text(f"observability:\n  logging:\n    {yaml}\n")
    with pytest.raises(SystemExit) as exc:
        Settings.load(config)
    assert "observability.logging." + yaml.split(":")[0] in str(exc.value) and named in str(exc.value)


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("key bsk_0123456789abcdef_Sup3r-s3cret_x ok", "key bsk_0123456789abcdef_[REDACTED] ok"),
        ("{'authorization': 'Bearer tok.en-123456'}", "{'authorization': 'Bearer [REDACTED]'}"),
        ('{"x-api-key": "k-123456789"}', '{"x-api-key": "[REDACTED]"}'),
        ('{"message":"{\\"X-Api-Key\\": \\"s3cret\\"}"}', '{"message":"{\\"X-Api-Key\\": \\"[REDACTED]\\"}"}'),
        ("[(b'authorization', b'Basic dXNlcjpwYXNz')]", "[(b'authorization', b'Basic [REDACTED]')]"),
        ("x-goog-api-key=AIzaSyA-0123456789abcdefghijklmnopqrs", "x-goog-api-key=[REDACTED]"),
        ("sent sk-ant-api03-0123456789abcdef-xyz", "sent [REDACTED]"),
        ("postgresql+asyncpg://basalt:hunter2@db:5432/b", "postgresql+asyncpg://basalt:[REDACTED]@db:5432/b"),
        (f"upstream said {UPSTREAM_KEY[3:]}!", "upstream said [REDACTED]!"),  # a configured key, matched exactly
        ("authorization failed for key_0123456789abcdef", "authorization failed for key_0123456789abcdef"),
    ],
)
def test_secrets_are_masked_in_any_shape_a_library_may_print_them(line: str, masked: str) -> None:
    assert Redactor([UPSTREAM_KEY[3:], "short"])(line) == masked


def test_the_environment_variables_holding_credentials_are_masked_exactly() -> None:
    settings = Settings(
        deployments=[Deployment(name="m", provider="openai", model="x", base_url="http://u", api_key_env="MY_KEY")]
    )
    environ = {"MY_KEY": "value-of-my-key", "ANTHROPIC_API_KEY": "anthropic-value", "HOME": "/root"}
    assert sorted(secret_values(settings, environ)) == ["anthropic-value", "value-of-my-key"]


def test_every_line_is_masked_even_when_basalt_logs_a_header_by_mistake(restore_logging: None) -> None:
    out = io.StringIO()
    configure(json_settings(level="debug"), out)
    headers = {"x-api-key": "bsk_0123456789abcdef_leaked-secret", "authorization": "Bearer leaked-token-1"}
    logging.getLogger("basalt.http").debug("headers %s", headers)
    try:
        raise RuntimeError(f"upstream refused {headers}")
    except RuntimeError:
        logging.getLogger("basalt.router").exception("failed")
    text = out.getvalue()
    assert "leaked" not in text and text.count("[REDACTED]") == 4
    assert all(json.loads(line) for line in text.splitlines())  # masking kept every line valid JSON


# The access line from a real server -------------------------------------------------------------------------------


def access_lines(log: str) -> dict[str, dict[str, Any]]:
    """Every line is a JSON object; the access lines by request id."""
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "message"} <= r.keys() for r in records)
    access = [r for r in records if r["logger"] == ACCESS_LOGGER]
    assert all(r.keys() == ACCESS_KEYS | {"ts", "level", "logger", "message"} for r in access)
    by_id = {r["request_id"]: r for r in access}
    assert len(by_id) == len(access)  # one line a request
    return by_id


def test_a_real_server_logs_one_json_access_line_per_request_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASALT_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
    with fake_upstream() as (url, script):
        config = {
            "serve_local": False,
            "deployments": [
                {
                    "name": "m",
                    "provider": "openai",
                    "model": "up",
                    "base_url": url,
                    "api_key_env": "BASALT_TEST_UPSTREAM_KEY",
                }
            ],
            "control": {"auth": True},
            "observability": {"logging": {"format": "json", "level": "debug"}},
        }
        server = Server(tmp_path, config).start()
        try:
            seen = traffic(server, script, (tmp_path / "admin-key").read_text().strip())
        finally:
            server.stop()
    log = (tmp_path / f"server-{server.port}.log").read_text()
    lines = access_lines(log)
    check_calls(lines, seen)
    for key in (seen["key"], seen["admin_key"], seen["wrong_key"]):
        assert key.split("_", 2)[2] not in log  # no key's secret part anywhere in the log (its id is public)
    assert UPSTREAM_KEY not in log and UPSTREAM_KEY[3:] not in log


def traffic(server: Server, script: Script, admin_key: str) -> dict[str, Any]:
    """The requests, and what the test needs to know about them afterwards."""
    seen: dict[str, Any] = {"admin_key": admin_key}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        admin = {"x-api-key": admin_key}
        project = http.post("/admin/projects", json={"name": "p"}, headers=admin).json()
        created = http.post("/admin/keys", json={"name": "k", "project": "p"}, headers=admin).json()
        seen |= {"project": project["id"], "key": created["key"], "key_id": created["id"]}
        seen["admin_rid"] = http.get("/admin/keys", headers=admin).headers["request-id"]
        key = {"x-api-key": created["key"]}
        bearer = {"authorization": f"Bearer {created['key']}"}

        def post(name: str, path: str, body: dict[str, Any], headers: dict[str, str], status: int) -> None:
            response = http.post(path, json=body, headers=headers)
            assert response.status_code == status, response.text
            seen[name] = response.headers["request-id"]
            seen[name + "_body"] = response.text

        post(
            "plain", "/v1/messages", {"model": "m", "max_tokens": 20, "messages": ASK}, key | traceparent(TRACE_1), 200
        )
        stream = {"model": "m", "stream": True, "messages": ASK, "stream_options": {"include_usage": True}}
        post("stream", "/v1/chat/completions", stream, bearer | traceparent(TRACE_2), 200)
        post("no_key", "/v1/messages", {"model": "m", "max_tokens": 5, "messages": ASK}, {}, 401)
        seen["wrong_key"] = "bsk_" + created["id"][4:] + "_NotTheRightSecretAtAll"
        post("wrong_key_rid", "/v1/messages", {"model": "m", "max_tokens": 5}, {"x-api-key": seen["wrong_key"]}, 401)
        post("no_model", "/v1/chat/completions", {"model": "nope", "messages": ASK}, bearer, 404)
        response = http.get("/v1/nowhere", headers=key)
        assert response.status_code == 404
        seen["no_route"] = response.headers["request-id"]
        script.actions.append("cut")
        post("cut", "/v1/messages", {"model": "m", "max_tokens": 20, "stream": True, "messages": ASK}, key, 200)
        # The ledger's rows, found by trace id: the admin's report and the tenant's own.
        rows = http.get("/admin/usage", params={"records": "1", "trace_id": TRACE_1}, headers=admin).json()["data"]
        seen["admin_rows"] = [(r["request_id"], r["trace_id"], r["key_id"]) for r in rows]
        rows = http.get("/v1/usage", params={"records": "1", "trace_id": TRACE_2.upper()}, headers=key).json()["data"]
        seen["own_rows"] = [(r["request_id"], r["trace_id"]) for r in rows]
        bad = http.get("/v1/usage", params={"records": "1", "trace_id": "not-a-trace"}, headers=key)
        assert bad.status_code == 400 and "trace_id" in bad.json()["error"]["message"]
    return seen


def check_calls(lines: dict[str, dict[str, Any]], seen: dict[str, Any]) -> None:
    plain, stream = lines[seen["plain"]], lines[seen["stream"]]
    assert plain["trace_id"] == TRACE_1 and stream["trace_id"] == TRACE_2
    for line, route, dialect in ((plain, "/v1/messages", "anthropic"), (stream, "/v1/chat/completions", "openai")):
        assert (line["method"], line["route"], line["path"], line["dialect"]) == ("POST", route, route, dialect)
        assert (line["status"], line["outcome"], line["error_type"]) == (200, "ok", None)
        assert (line["key_id"], line["project_id"], line["model"]) == (seen["key_id"], seen["project"], "m")
        assert line["deployment"].startswith("openai:up@http://127.0.0.1:") and line["attempts"] == 1
        assert (line["input_tokens"], line["output_tokens"]) == (7, 6)
        assert 0 < line["ttft_ms"] <= line["latency_ms"] and line["client"] == "127.0.0.1"
    assert seen["admin_rows"] == [(seen["plain"], TRACE_1, seen["key_id"])]
    assert seen["own_rows"] == [(seen["stream"], TRACE_2)]
    # Refused before any call existed (no key, a wrong one), by the flow (unknown model), by the router (no route).
    for name, status, error in (
        ("no_key", 401, "authentication_error"),
        ("wrong_key_rid", 401, "authentication_error"),
        ("no_model", 404, "not_found_error"),
        ("no_route", 404, "not_found_error"),
    ):
        line = lines[seen[name]]
        assert (line["status"], line["error_type"]) == (status, error), name
    assert lines[seen["no_key"]]["key_id"] is None and lines[seen["no_key"]]["route"] == "/v1/messages"
    assert (lines[seen["no_model"]]["model"], lines[seen["no_model"]]["key_id"]) == ("nope", seen["key_id"])
    assert (lines[seen["no_route"]]["route"], lines[seen["no_route"]]["path"]) == (None, "/v1/nowhere")
    # A stream that failed after its 200: the line comes once the stream ended, with the stream's error.
    cut = lines[seen["cut"]]
    assert '"type":"error"' in seen["cut_body"].replace(" ", "")
    assert (cut["status"], cut["outcome"], cut["error_type"]) == (200, "error", "api_error")
    assert lines[seen["admin_rid"]]["key_id"] == "key_" + seen["admin_key"].split("_")[1]  # admin routes too


# The access line in-process (caplog) ------------------------------------------------------------------------------


def in_process(url: str, tmp_path: Path, **settings: Any) -> InProcess:
    mask = {
        "name": "mask",
        "version": 1,
        "sensitive_information": {"entities": [{"type": "EMAIL", "action": "ANONYMIZE"}]},
    }
    return InProcess(
        Settings(
            home=tmp_path,
            serve_local=False,
            deployments=[Deployment(name="m", provider="openai", model="up", base_url=url)],
            guardrails=[mask],  # type: ignore[list-item]
            **settings,
        )
    )


def test_the_line_names_the_guardrail_action_and_count_tokens_has_one_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, ACCESS_LOGGER)
    with fake_upstream() as (url, _), in_process(url, tmp_path) as basalt, basalt.http_client() as http:
        masked = http.post(
            "/v1/messages",
            json={"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "mail ada@example.com"}]},
            headers={"basalt-guardrail": "mask:1"},
        )
        counted = http.post("/v1/messages/count_tokens", json={"model": "m", "messages": ASK})
    fields = [r.basalt_fields for r in caplog.records if r.name == ACCESS_LOGGER]  # type: ignore[attr-defined]
    lines = {f["request_id"]: f for f in fields}
    assert lines[masked.headers["request-id"]]["guardrail_action"] == "ANONYMIZED"
    count = lines[counted.headers["request-id"]]  # an OpenAI-protocol upstream cannot count: a 400, still a line
    assert (count["route"], count["model"], count["outcome"]) == ("/v1/messages/count_tokens", "m", None)
    assert (count["status"], count["error_type"]) == (counted.status_code, counted.json()["error"]["type"])
    assert "ada@example.com" not in caplog.text


def test_no_access_line_when_the_access_log_is_off(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, ACCESS_LOGGER)
    off = {"observability": {"logging": {"access_log": False}}}
    with fake_upstream() as (url, _), in_process(url, tmp_path, **off) as basalt, basalt.http_client() as http:
        assert http.post("/v1/messages", json={"model": "m", "max_tokens": 5, "messages": ASK}).status_code == 200
        assert http.get("/health").status_code == 200
    assert [r for r in caplog.records if r.name == ACCESS_LOGGER] == []


def test_a_request_the_browser_guard_refuses_gets_a_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, ACCESS_LOGGER)
    with fake_upstream() as (url, _), in_process(url, tmp_path) as basalt, basalt.http_client() as http:
        refused = http.post("/v1/messages", content=b"{}", headers={"content-type": "text/plain"})
    assert refused.status_code == 415
    (line,) = [r.basalt_fields for r in caplog.records if r.name == ACCESS_LOGGER]  # type: ignore[attr-defined]
    assert (line["request_id"], line["status"], line["route"]) == (refused.headers["request-id"], 415, None)
    assert line["error_type"] == refused.json()["error"]["type"]


def test_a_client_that_leaves_mid_stream_gets_a_cancelled_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, ACCESS_LOGGER)
    with fake_upstream() as (url, script), in_process(url, tmp_path) as basalt, basalt.http_client() as http:
        script.actions.append("drip:0.3")
        body = {"model": "m", "max_tokens": 20, "stream": True, "messages": ASK}
        with http.stream("POST", "/v1/messages", json=body) as response:
            rid = response.headers["request-id"]
            next(response.iter_bytes())  # the start of the answer, then the client goes
        deadline = time.monotonic() + 10
        while not [r for r in caplog.records if r.name == ACCESS_LOGGER] and time.monotonic() < deadline:
            time.sleep(0.05)
    (line,) = [r.basalt_fields for r in caplog.records if r.name == ACCESS_LOGGER]  # type: ignore[attr-defined]
    assert (line["request_id"], line["status"], line["outcome"], line["error_type"]) == (rid, 200, "cancelled", None)
    assert line["output_tokens"] < 6  # what was counted until the client left
