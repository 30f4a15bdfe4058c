"""`basalt eval guardrail DEFINITION DATA.jsonl`: precision and recall per policy of a guardrail definition on a
labelled set, the texts it got wrong, and with `--baseline OTHER` how the figures moved from another definition
(the one in production) to this one. Offline: it compiles the definition here, as a server would."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from ..errors import InvalidRequest
from . import guardrail_eval as ge

MAX_DEFINITION_BYTES = 1024 * 1024


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "definition",
        help="YAML/JSON: one guardrail, or a config file with `guardrails:` (see --name); with --url, NAME:VERSION",
    )
    p.add_argument("data", help="labelled JSONL: {text, label, policy} or {text, spans} rows")
    p.add_argument(
        "--url",
        default=None,
        help="read DEFINITION (and --baseline) as NAME:VERSION from this server's /admin/guardrails "
        "(admin key from $BASALT_ADMIN_KEY or $BASALT_API_KEY)",
    )
    p.add_argument("--name", default=None, help="which guardrail of a config file (name or name:version)")
    p.add_argument("--policy", default=None, help="the policy of rows that name none (default ANY: any finding)")
    p.add_argument("--source", choices=("INPUT", "OUTPUT"), default="INPUT", help="score texts as prompts or answers")
    p.add_argument("--baseline", default=None, help="another definition to score on the same set and compare")
    p.add_argument("--json", dest="json_out", default=None, help="write the whole result (with the wrong texts)")
    p.add_argument("--show", type=int, default=5, help="wrong texts to print per policy (default 5)")


def load_definition(path: Path, name: str | None) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"{path}: {exc.strerror}") from None
    if len(raw) > MAX_DEFINITION_BYTES:
        raise InvalidRequest(f"{path}: a definition is at most {MAX_DEFINITION_BYTES} bytes")
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InvalidRequest(f"{path}: not YAML or JSON ({exc})") from None
    if isinstance(doc, dict) and isinstance(doc.get("guardrails"), list):
        found = [g for g in doc["guardrails"] if isinstance(g, dict) and _named(g, name)]
        if len(found) != 1:
            names = ", ".join(f"{g.get('name')}:{g.get('version', 'DRAFT')}" for g in doc["guardrails"])
            raise InvalidRequest(f"{path}: choose one guardrail with --name ({names})")
        doc = found[0]
    if not isinstance(doc, dict):
        raise InvalidRequest(f"{path}: a guardrail definition is a mapping")
    return doc


def _named(g: dict[str, Any], name: str | None) -> bool:
    if name is None:
        return True
    wanted, _, version = name.partition(":")
    return bool(g.get("name") == wanted and (not version or str(g.get("version", "DRAFT")) == version))


def from_server(url: str, ref: str) -> dict[str, Any]:
    """A guardrail version as a running server holds it (defined in its config or through the admin API)."""
    import httpx2 as httpx

    key = os.environ.get("BASALT_ADMIN_KEY") or os.environ.get("BASALT_API_KEY") or ""
    try:
        answer = httpx.get(f"{url.rstrip('/')}/admin/guardrails", headers={"x-api-key": key}, timeout=30)
    except httpx.HTTPError as exc:
        raise InvalidRequest(f"cannot reach {url}: {exc}") from None
    if answer.status_code != 200:
        raise InvalidRequest(f"{url}/admin/guardrails answered {answer.status_code}: {answer.text[:200]}")
    found = [g for g in answer.json().get("data", []) if isinstance(g, dict) and _named(g, ref)]
    if len(found) != 1:
        raise InvalidRequest(f"{url} holds no guardrail {ref!r} (give NAME:VERSION)")
    return dict(found[0])


def score(ref: str, args: argparse.Namespace, rows: list[ge.Labelled]) -> dict[str, Any]:
    from ..guard import Guardrails

    definition = from_server(args.url, ref) if args.url else load_definition(Path(ref), args.name)
    return ge.evaluate(Guardrails().compile(definition), rows, args.source)


def describe(result: dict[str, Any], show: int) -> str:
    g = result["guardrail"]
    lines = [f"guardrail {g['name']} version {g['version']}: {result['samples']} texts ({result['source']})"]
    for name, f in result["policies"].items():
        lines.append(
            f"  {name:<24} P {f['precision']:.4f}  R {f['recall']:.4f}  (tp {f['tp']}, fp {f['fp']}, fn {f['fn']})"
        )
        for what in ("missed", "wrongly_caught"):
            for wrong in f[what][:show]:
                text = wrong["text"].replace("\n", " ")
                lines.append(f"      {what.replace('_', ' ')}: {text[:100]}{'…' if len(text) > 100 else ''}")
    for name, f in result["groups"].items():
        figures = "  ".join(f"{k} {f[k]:.4f}" for k in ("recall", "false_positive_rate") if k in f)
        lines.append(f"  group {name:<18} {figures}  ({f['flagged']}/{f['samples']} flagged)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        rows = ge.read_labelled(Path(args.data), args.policy)
        result = score(args.definition, args, rows)
        before = score(args.baseline, args, rows) if args.baseline else None
    except (ge.LabelError, InvalidRequest) as exc:
        print(f"basalt eval guardrail: {exc}", file=sys.stderr)
        return 2
    print(describe(result, max(0, args.show)))
    if before is not None:
        result["baseline"] = {"guardrail": before["guardrail"], "change": ge.compare(before, result)}
        print(f"change from {before['guardrail']['name']} version {before['guardrail']['version']}:")
        for name, change in result["baseline"]["change"].items():
            print(f"  {name:<24} precision {change['precision']:+.4f}  recall {change['recall']:+.4f}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0
