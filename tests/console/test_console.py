"""The console in a real browser (Debian's Chromium through Playwright) against a real `basalt serve` on the real
bundled model, auth on: sign-in, every page by keyboard with no serious axe-core violation, a chat streamed token by
token in both dialects, a key made in the console used in its playground and its call seen in usage and requests,
a project key that sees its own project only, a guardrail defined and masking a test text, a batch run to the end."""

from __future__ import annotations

import ast
import itertools
import json
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest

from ..control.servers import Server
from .conftest import Console

PAGES = ["Playground", "Models", "Keys and projects", "Usage and cost", "Requests", "Guardrails", "Batches",
         "Evaluations", "Live"]  # fmt: skip

# Records every text the answer shows, as it changes: a streamed answer must be seen growing, not appear at once.
WATCH = """() => {
  window.seen = [];
  new MutationObserver(() => {
    const answer = document.querySelector('[data-testid="answer"]');
    const text = answer ? answer.textContent : null;
    if (text && text !== window.seen[window.seen.length - 1]) window.seen.push(text);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def answered(console: Console, testid: str = "answer", seconds: float = 180) -> str:
    meta = console.page.get_by_test_id(f"{testid}-meta")
    meta.get_by_text("Done").wait_for(timeout=seconds * 1000)
    text: str = console.page.get_by_test_id(testid).inner_text()
    return text


def make_key(server: Server, admin_key: str, project: str) -> str:
    admin = {"x-api-key": admin_key}
    httpx.post(server.url + "/admin/projects", json={"name": project}, headers=admin, timeout=10)
    made = httpx.post(server.url + "/admin/keys", json={"name": f"{project}-key", "project": project}, headers=admin)
    assert made.status_code == 201, made.text
    secret: str = made.json()["key"]
    return secret


def test_sign_in_and_every_page_by_keyboard_with_no_serious_accessibility_violation(
    console: Console, admin_key: str
) -> None:
    page = console.page
    page.goto(console.url)
    page.get_by_label("API key").wait_for()
    console.shoot("signin")
    page.get_by_label("API key").fill("bsk_wrong_wrong")
    page.keyboard.press("Enter")
    page.get_by_role("alert").wait_for()
    assert "key" in page.get_by_role("alert").inner_text().lower()
    console.sign_in(admin_key)
    assert "admin key" in page.get_by_test_id("who").inner_text()
    assert page.evaluate("sessionStorage.getItem('basalt.console.key')") == admin_key
    assert admin_key not in page.url
    # The first Tab reaches the skip link, which moves the focus to the page's heading.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.tagName") == "H1"
    for label in PAGES:
        console.open(label)
        page.wait_for_load_state("networkidle")
        console.accessible()
        assert f"{label} · Basalt console" == page.title()
    # Every control on every page carries a label (axe checks it too); Tab walks them in order without a trap.
    console.open("Keys and projects")
    seen = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        seen.add(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    assert len(seen) > 30


@pytest.mark.parametrize("dialect", ["Anthropic Messages", "OpenAI Chat Completions"])
def test_a_streamed_chat_renders_token_by_token(console: Console, admin_key: str, dialect: str) -> None:
    console.sign_in(admin_key)
    page = console.page
    page.get_by_label("API dialect").select_option(label=dialect)
    page.get_by_label("Prompt", exact=True).fill("Tell me a short story about a cat.")
    page.get_by_label("Max tokens").fill("16")
    page.evaluate(WATCH)
    page.get_by_role("button", name="Send").click()
    final = answered(console)
    seen: list[str] = page.evaluate("window.seen")
    assert len(final) > 12
    assert len(seen) >= 5, seen  # rendered as the tokens came, not once at the end
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(seen)), seen
    assert seen[-1] == final and len(seen[0]) < len(final) / 2
    meta = page.get_by_test_id("answer-meta").inner_text()
    assert "first token" in meta and "out " in meta and "request req_" in meta
    if dialect.startswith("Anthropic"):
        console.shoot("playground-stream")


def test_a_key_made_in_the_console_calls_in_the_playground_and_its_project_sees_only_itself(
    console: Console, server: Server, admin_key: str
) -> None:
    page = console.page
    console.sign_in(admin_key)
    console.open("Keys and projects")
    project_form = page.get_by_role("form", name="New project")
    project_form.get_by_label("Project name").fill("acme")
    project_form.get_by_label("Daily budget (USD)").fill("1")
    project_form.get_by_role("button", name="Create project").click()
    page.get_by_role("cell", name="acme", exact=True).wait_for()
    key_form = page.get_by_role("form", name="New key")
    key_form.get_by_label("Key name").fill("acme-console")
    key_form.get_by_label("Project").select_option(label="acme")
    key_form.get_by_label("messages").check()
    key_form.get_by_label("usage").check()
    key_form.get_by_label("models", exact=True).check()
    key_form.get_by_label("batches").check()
    key_form.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-key").inner_text().strip()
    assert secret.startswith("bsk_")
    # Another project's call: the acme key must not see it anywhere.
    other = make_key(server, admin_key, "other")
    body = {"model": "smollm2", "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}]}
    elsewhere = httpx.post(server.url + "/v1/messages", json=body, headers={"x-api-key": other}, timeout=60)
    assert elsewhere.status_code == 200, elsewhere.text
    console.sign_out()

    console.sign_in(secret)
    assert "project acme" in page.get_by_test_id("who").inner_text()
    page.get_by_label("Stream tokens").uncheck()
    page.get_by_label("Max tokens").fill("8")
    page.get_by_role("button", name="Send").click()
    answered(console)
    request_id = page.get_by_test_id("answer-rid").inner_text()
    console.open("Requests")
    page.get_by_role("cell", name=request_id).wait_for()
    assert elsewhere.headers["request-id"] not in page.get_by_role("main").inner_text()
    rows = page.get_by_role("main").get_by_role("row")
    assert rows.count() == 2  # its one call, under the header row
    console.open("Usage and cost")
    group = page.get_by_label("Group by")
    assert "project" not in group.inner_text()  # a project key is not offered other projects
    group.select_option("key")
    page.get_by_role("figure").first.wait_for()
    table = page.get_by_role("table", name="Usage by key")
    key_id = httpx.get(server.url + "/v1/whoami", headers={"x-api-key": secret}).json()["key"]["id"]
    (row,) = table.get_by_role("row").all()[1:]  # its own key, one call
    assert row.get_by_role("cell").nth(0).inner_text() == key_id and row.get_by_role("cell").nth(1).inner_text() == "1"
    budget = page.get_by_role("table", name="Budgets")
    assert "acme" in budget.inner_text() and "other" not in budget.inner_text()
    console.open("Keys and projects")
    assert "acme-console" in page.get_by_role("main").inner_text()
    assert page.get_by_role("button", name="Create key").count() == 0
    # The hidden button is not the protection: the server refuses the admin API to this key.
    status = page.evaluate("async (key) => (await fetch('/admin/keys', {headers: {'x-api-key': key}})).status", secret)
    assert status == 403
    console.sign_out()
    console.sign_in(admin_key)
    console.open("Keys and projects")
    console.shoot("keys")


def test_a_guardrail_defined_in_the_console_masks_a_test_text(console: Console, admin_key: str) -> None:
    page = console.page
    console.sign_in(admin_key)
    console.open("Guardrails")
    form = page.get_by_role("form", name="New guardrail version")
    form.get_by_role("button", name="YAML").click()
    yaml_field = form.get_by_label("Definition (YAML)")
    yaml_field.fill("name: mask-mail\nversion: 1\nsensitive_information:\n  entities:\n    - type: SHOE_SIZE\n")
    form.get_by_role("button", name="Validate and create").click()
    error = form.get_by_role("alert")
    error.wait_for()
    assert "sensitive_information.entities.0.type" in error.inner_text() and "SHOE_SIZE" in error.inner_text()
    assert yaml_field.get_attribute("aria-invalid") == "true"
    yaml_field.fill("name: mask-mail\nversion: 1\nsensitive_information:\n  entities:\n    - type: EMAIL\n")
    form.get_by_role("button", name="Validate and create").click()
    form.get_by_text("Created mask-mail version 1.").wait_for()
    page.get_by_role("cell", name="mask-mail").wait_for()

    panel = page.get_by_role("form", name="Test a guardrail")
    panel.get_by_label("Guardrail").select_option("mask-mail:1")
    panel.get_by_label("Text to check").fill("Write to jane.doe@example.com before noon.")
    panel.get_by_role("button", name="Apply guardrail").click()
    assert panel.get_by_test_id("guardrail-action").inner_text() == "GUARDRAIL_INTERVENED"
    assert panel.get_by_test_id("guardrail-output").inner_text() == "Write to {EMAIL} before noon."
    marks = panel.get_by_test_id("guardrail-highlight").locator("mark")
    assert marks.count() == 1 and marks.first.inner_text().startswith("jane.doe@example.com")
    console.shoot("guardrails")

    # The guardrail on a playground call, with its trace.
    console.open("Playground")
    page.get_by_label("Guardrails (name:version, comma-separated)").fill("mask-mail:1")
    page.get_by_label("Prompt", exact=True).fill("Repeat after me: my address is jane.doe@example.com")
    page.get_by_label("Max tokens").fill("12")
    page.get_by_role("button", name="Send").click()
    answered(console)
    trace = json.loads(page.get_by_test_id("guardrail-trace").inner_text())
    assert "action" in trace
    assert "jane.doe@example.com" not in page.get_by_test_id("answer").inner_text()


def test_forced_tools_json_output_compare_and_the_code_of_the_request(console: Console, admin_key: str) -> None:
    page = console.page
    console.sign_in(admin_key)
    page.get_by_text("Tools and structured output").click()
    city = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tool = {"name": "get_weather", "description": "The weather in a city", "input_schema": city}
    page.get_by_label("Tools (JSON array: name, description, input_schema)").fill(json.dumps([tool]))
    page.get_by_label("Tool choice").select_option(label="force get_weather")
    page.get_by_label("Prompt", exact=True).fill("What is the weather in Paris?")
    page.get_by_label("Max tokens").fill("40")
    page.get_by_label("Temperature").fill("0")
    page.get_by_role("button", name="Send").click()
    answered(console)
    called: dict[str, Any] = json.loads(page.get_by_test_id("tool-input").inner_text())
    assert isinstance(called.get("city"), str)
    assert "stop: tool_use" in page.get_by_test_id("answer-meta").inner_text()

    page.get_by_role("button", name="View code").click()
    code = page.get_by_test_id("code")
    for tab in ("anthropic", "openai", "boto3 (Bedrock Converse)"):
        page.get_by_role("tab", name=tab).click()
        source = code.inner_text()
        ast.parse(source)  # valid Python
        assert "get_weather" in source and "BASALT_API_KEY" in source and admin_key not in source
    assert '"tool_choice"' not in source and "toolChoice" in source

    page.get_by_label("Tools (JSON array: name, description, input_schema)").fill("")
    schema = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}
    page.get_by_label("JSON schema of the answer (optional)").fill(json.dumps(schema))
    page.get_by_label("Prompt", exact=True).fill("Name a colour.")
    page.get_by_label("Max tokens").fill("48")
    page.get_by_label("Compare with a second model").check()
    page.get_by_label("Second model", exact=True).select_option("smollm2")
    page.get_by_label("API dialect").select_option(label="OpenAI Chat Completions")
    page.get_by_role("button", name="Send").click()
    for testid in ("answer", "answer-b"):
        assert isinstance(json.loads(answered(console, testid))["colour"], str)
    console.shoot("playground-compare")


def test_a_batch_submitted_in_the_console_runs_to_the_end(console: Console, admin_key: str) -> None:
    page = console.page
    console.sign_in(admin_key)
    console.open("Batches")
    page.get_by_label("Max tokens per answer").fill("6")
    page.get_by_role("button", name="Submit batch").click()
    status = page.get_by_test_id("batch-status").first
    status.wait_for()
    deadline = time.monotonic() + 180
    while status.inner_text().strip() != "ended":
        assert time.monotonic() < deadline, status.inner_text()
        page.wait_for_timeout(300)
    progress = page.get_by_role("progressbar").first
    assert progress.get_attribute("value") == progress.get_attribute("max") == "3"
    with page.expect_download() as download:
        page.get_by_role("button", name="Download results of").first.click()
    lines = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert sorted(r["custom_id"] for r in lines) == ["line-1", "line-2", "line-3"]
    assert all(r["result"]["type"] == "succeeded" for r in lines)
    console.shoot("batches")


@pytest.mark.filterwarnings("ignore:The Evals API is deprecated:DeprecationWarning")
def test_evaluation_runs_with_their_chart_and_side_by_side(console: Console, server: Server, admin_key: str) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=admin_key, max_retries=0)
    schema = {"type": "object", "properties": {"expected": {"type": "string"}}, "required": ["expected"]}
    check = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
             "reference": "{{item.expected}}", "operation": "eq"}  # fmt: skip
    made = client.evals.create(
        name="console-qa", data_source_config={"type": "custom", "item_schema": schema}, testing_criteria=[check]
    )

    def graded(answers: list[str]) -> Any:  # items that bring their own answers: graded, nothing sampled
        content = [
            {"item": {"expected": e}, "sample": {"output_text": a}} for e, a in zip(["a", "b"], answers, strict=True)
        ]
        source = {"type": "jsonl", "source": {"type": "file_content", "content": content}}
        return client.evals.runs.create(made.id, name="-".join(answers), data_source=source)  # type: ignore[arg-type]

    runs = [graded(["a", "b"]), graded(["a", "x"])]
    deadline = time.monotonic() + 120
    for run in runs:
        while client.evals.runs.retrieve(run.id, eval_id=made.id).status != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.3)
    page = console.page
    console.sign_in(admin_key)
    console.open("Evaluations")
    page.get_by_role("cell", name="console-qa").wait_for()
    page.get_by_role("table", name="Run comparison").wait_for()
    comparison = page.get_by_role("table", name="Run comparison").inner_text()
    assert "100.0 %" in comparison and "50.0 %" in comparison and "exact" in comparison
    chart = page.get_by_role("img", name="Pass rate by run").get_attribute("aria-label") or ""
    assert "a-b 100.0 %" in chart and "a-x 50.0 %" in chart
    console.shoot("evaluations")


def test_models_usage_requests_and_live_pages(console: Console, admin_key: str) -> None:
    page = console.page
    console.sign_in(admin_key)
    console.open("Models")
    page.get_by_role("cell", name="local:smollm2-135m-instruct").first.wait_for()
    assert "ok" in page.get_by_role("table", name="Deployments").inner_text()
    console.shoot("models")
    console.open("Usage and cost")
    page.get_by_label("Group by").select_option("model")
    page.get_by_role("figure").first.wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    rows = Path(download.value.path()).read_text().splitlines()
    assert rows[0].startswith("model,requests,errors,input_tokens") and len(rows) >= 2
    console.shoot("usage")
    console.open("Requests")
    page.get_by_label("Status").select_option("ok")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("cell", name="ok").first.wait_for()
    console.shoot("requests")
    console.open("Live")
    page.get_by_test_id("live").get_by_text("KV cells in all").wait_for()
    page.wait_for_timeout(1200)
    assert "…" not in page.get_by_test_id("live").inner_text()
    console.shoot("live")
