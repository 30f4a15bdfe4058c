"""`basalt eval run SPEC.yaml` end to end: the CLI drives a real `basalt serve` through the unmodified openai SDK's
Evals API, on the real bundled model (smollm2, also the judge) and the fake upstream (m, which always answers "Hello
from the fake upstream."), then writes the result JSON and the HTML report and applies the regression gate."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2 as httpx
import pytest

from basalt.cli import main
from basalt.evals.results import FORMAT

from ..control.servers import Server

ITEMS = [
    {"prompt": "What is the capital of France?", "referenceResponse": "Paris", "category": "geography"},
    {"prompt": "Say hello to me.", "referenceResponse": "hello", "category": "greeting"},
    {"prompt": "What is the capital of Italy?", "referenceResponse": "Rome", "category": "geography"},
]
SPEC = """\
name: capitals
task: question_answering
data: items.jsonl
models: [smollm2, m]
metrics: [accuracy, robustness, toxicity, correctness]
judge: smollm2
system: Answer in one word.
sampling: {temperature: 0, max_tokens: 6}
seed: 3
"""


def baseline(path: Path, accuracy: float) -> str:
    doc = {"format": FORMAT, "models": ["m"], "metrics": ["accuracy", "toxicity"], "lower_is_better": ["toxicity"],
           "scores": {"m": {"accuracy": accuracy, "toxicity": 0.0}}}  # fmt: skip
    path.write_text(json.dumps(doc))
    return str(path)


def test_run_writes_the_result_and_report_and_the_gate_fails_on_a_regression(
    eval_server: Server, eval_keys: tuple[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("OPENAI_API_KEY", eval_keys[0])
    monkeypatch.setenv("BASALT_URL", eval_server.url)
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in ITEMS))
    (tmp_path / "capitals.yaml").write_text(SPEC)
    planted = baseline(tmp_path / "planted.json", accuracy=1.0)  # m "was" always right: now it is not
    argv = ["eval", "run", str(tmp_path / "capitals.yaml"), "--out", str(tmp_path / "out")]
    assert main([*argv, "--baseline", planted, "--tolerance", "0.1"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("eval_") and "-0.6667  REGRESSION" in out and "gate FAILED (1 regression" in out
    # 2 models x (3 samples + 3 judgments, then 3 perturbed samples): the bar counts model calls.
    assert "18/18 calls" in err and "calls/s" in err and "ETA" in err

    result = json.loads((tmp_path / "out" / "capitals.result.json").read_text())
    assert result["models"] == ["smollm2", "m"] and len(result["items"]) == 3
    # The fake upstream's one answer contains "hello" only: 1 of 3, perturbed or not, and nothing toxic.
    assert result["scores"]["m"] == {"accuracy": 0.3333, "robustness": 0.0, "toxicity": 0.0, "correctness": ANY}
    local = result["scores"]["smollm2"]
    assert set(local) == {"accuracy", "robustness", "toxicity", "correctness"}
    assert all(-1.0 <= v <= 1.0 for v in local.values()) and 0.0 <= local["correctness"] <= 1.0
    # The judge (the local model, at temperature 0) tells the right capitals from the fake upstream's greeting.
    assert local["correctness"] > result["scores"]["m"]["correctness"]
    assert result["counts"] == {"smollm2": {"items": 3, "errored": 0}, "m": {"items": 3, "errored": 0}}
    first = result["items"][0]["outputs"]["smollm2"]
    assert first["text"] and first["perturbed_prompt"] != ITEMS[0]["prompt"] and first["perturbed_text"] is not None
    assert result["by_category"]["m"]["greeting"]["accuracy"] == 1.0
    assert result["judge"]["model"] == "smollm2" and "correctness" in result["judge"]["prompts"]
    assert set(result["runs"]["m"]) == {"eval_id", "run_id", "perturbed_eval_id", "perturbed_run_id"}
    page = (tmp_path / "out" / "capitals.report.html").read_text()
    assert page.count('class="bar"') >= 8 and "Hello from the fake upstream." in page

    passing = baseline(tmp_path / "passing.json", accuracy=0.3333)
    assert main(["eval", "compare", passing, str(tmp_path / "out" / "capitals.result.json"), "--tolerance", "0"]) == 0
    assert "gate passed" in capsys.readouterr().out


class _Any:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, float) and 0.0 <= other <= 1.0


ANY = _Any()


def test_guardrail_evaluation_scores_a_version_the_server_holds(
    eval_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = (eval_server.home / "admin-key").read_text().strip()
    words = {"name": "words", "version": 1, "words": {"words": ["zeus"]}}
    made = httpx.post(eval_server.url + "/admin/guardrails", json=words, headers={"x-api-key": admin})
    assert made.status_code == 201, made.text
    data = tmp_path / "set.jsonl"
    data.write_text('{"text": "project zeus", "label": 1}\n{"text": "hello", "label": 0}\n')
    argv = ["eval", "guardrail", "words:1", str(data), "--url", eval_server.url]
    monkeypatch.setenv("BASALT_ADMIN_KEY", "wrong")
    assert main(argv) == 2
    assert "answered 401" in capsys.readouterr().err
    monkeypatch.setenv("BASALT_ADMIN_KEY", admin)
    assert main(argv) == 0
    assert "ANY                      P 1.0000  R 1.0000  (tp 1, fp 0, fn 0)" in capsys.readouterr().out
    assert main([*argv[:2], "words:7", *argv[3:]]) == 2
    assert "holds no guardrail 'words:7'" in capsys.readouterr().err
