"""The prompt-attack scorer's training corpus, assembled from sources that are not evaluation sets.

    attacks: the synthetic indirect injections (bench/attack_synth.py); spikee 0.9.2's jailbreak wrappers x its
    instructions, alone and injected into its documents (Apache-2.0); AgentDojo 0.1.35's attack templates x its
    injection goals, alone and in its environments' documents (MIT); PyRIT 1.1.0's jailbreak templates (MIT); the
    team's attacks (tests/data/guardrails/prompt_attack.jsonl).
    benign: the synthetic look-alikes; spikee's documents and its false-positive questions; AgentDojo's
    environment texts with their default (clean) values; PyRIT's garak normal instructions; the team's benign
    prompts and the content, topic and PII texts; Python standard-library docstrings (imperative technical prose).

Never read here: bastioncorpus, jailbreak-corpus-mini, agent-injection-bench and the held-out set (evaluation only).
The training sources are read from their installed packages' files without importing them (AgentDojo and PyRIT
pull large dependency trees): `pip install --no-deps spikee==0.9.2 agentdojo==0.1.35 pyrit==1.1.0`.
"""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import json
import random
import re
from pathlib import Path

import yaml

from .attack_synth import composed_attack, injection, synthesize, synthesize_composed

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "guardrails"
VERSIONS = {"spikee": "0.9.2", "agentdojo": "0.1.35", "pyrit": "1.1.0"}

# (text, is attack, source, injected passage or None): the passage is what a positive training window centres on.
Example = tuple[str, bool, str, str | None]


def package_dir(dist: str, package: str) -> Path:
    """The installed package's folder, checked against the pinned version (the corpus must rebuild the same)."""
    d = importlib.metadata.distribution(dist)
    if d.version != VERSIONS[dist]:
        raise RuntimeError(f"{dist} {d.version} is installed; the corpus is built from {VERSIONS[dist]}")
    return Path(str(d.locate_file(package)))


def _jsonl(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8").replace("}{", "}\n{")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def spikee(rng: random.Random) -> list[Example]:
    base = package_dir("spikee", "spikee") / "data" / "workspace" / "datasets"
    out: list[Example] = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        if "harmful" in folder.name or "toxic" in folder.name or folder.name[6:] == "investment-advice":
            continue  # harmful requests and topic tests, not prompt attacks
        jailbreaks = [str(r["text"]) for r in _jsonl(folder / "jailbreaks.jsonl")]
        instructions = [str(r["instruction"]) for r in _jsonl(folder / "instructions.jsonl")]
        documents = [r for r in _jsonl(folder / "base_user_inputs.jsonl") if r.get("document")]
        if folder.name.endswith("-fp"):
            out += [(str(r["text"]), False, "spikee", None) for r in _jsonl(folder / "standalone_user_inputs.jsonl")]
            continue
        for r in documents:
            doc, slot = str(r["document"]), str(r.get("placeholder") or "")
            if slot and doc != slot:
                out.append((doc.replace(slot, ""), False, "spikee", None))
        for jb in jailbreaks:
            for instruction in rng.sample(instructions, min(3, len(instructions))):
                passage = jb.replace("<INSTRUCTION>", instruction)
                doc_row = rng.choice(documents) if documents else None
                doc, slot = (str(doc_row["document"]), str(doc_row.get("placeholder") or "")) if doc_row else ("", "")
                text = doc.replace(slot, passage) if slot and slot in doc else passage
                out.append((text, True, "spikee", passage))
    return out


def _goals(path: Path) -> list[str]:
    """Each injection task's GOAL, its f-string filled with the class's own string constants."""
    goals: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ClassDef):
            continue
        consts: dict[str, str] = {}
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                name, value = stmt.targets[0].id, stmt.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    consts[name] = value.value
                elif isinstance(value, ast.JoinedStr) and name == "GOAL":
                    goals.append("".join(_part(p, consts) for p in value.values))
    return goals


def _part(node: ast.expr, consts: dict[str, str]) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.FormattedValue) and isinstance(node.value, ast.Name):
        return consts.get(node.value.id, "the account")
    return "the account"


def _attack_templates(folder: Path) -> list[str]:
    """Every string in AgentDojo's attack modules with a {goal} slot (string pieces joined as Python joins them)."""
    found: list[str] = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "{goal}" in node.value:
                found.append(node.value)
    return found


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def agentdojo(rng: random.Random) -> list[Example]:
    base = package_dir("agentdojo", "agentdojo")
    templates = _attack_templates(base / "attacks")
    out: list[Example] = []
    for suite in sorted((base / "data" / "suites").iterdir()):
        vectors = yaml.safe_load((suite / "injection_vectors.yaml").read_text(encoding="utf-8")) or {}
        defaults = {k: str(v.get("default", "")) for k, v in vectors.items()}
        goals = _goals(base / "default_suites" / "v1" / suite.name / "injection_tasks.py")
        texts = [s for p in sorted(suite.rglob("*.yaml")) if p.stem != "injection_vectors" for s in _yaml_strings(p)]
        for text in texts:
            slots = [k for k in defaults if "{" + k + "}" in text]
            clean = text
            for k in slots:
                clean = clean.replace("{" + k + "}", defaults[k])
            out.append((clean, False, "agentdojo", None))
            if slots and goals:
                passage = _attack(rng.choice(templates), rng.choice(goals), rng.choice(["GPT-4", "Claude", "AI model"]))
                attacked = text.replace("{" + slots[0] + "}", passage)
                for k in slots[1:]:
                    attacked = attacked.replace("{" + k + "}", defaults[k])
                out.append((attacked, True, "agentdojo", passage))
        for goal in goals:
            for template in templates:
                passage = _attack(template, goal, "the assistant").strip()
                out.append((passage, True, "agentdojo", passage))
    return out


def _yaml_strings(path: Path) -> list[str]:
    """The long string values of an environment file (its !include tags and odd documents are skipped)."""
    try:
        docs = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Lenient))
    except yaml.YAMLError:
        return []
    return [s for d in docs for s in _strings(d) if len(s) > 40]


class _Lenient(yaml.SafeLoader):
    pass


_Lenient.add_multi_constructor("!", lambda loader, suffix, node: None)


def _attack(template: str, goal: str, model: str) -> str:
    """A template's slots filled: the goal, AgentDojo's default user name, a model name; any other slot empty."""
    fills = {"goal": goal, "user": "Emma Johnson", "model": model}
    return re.sub(r"\{(\w+)\}", lambda m: fills.get(m.group(1), ""), template)


def pyrit(rng: random.Random) -> list[Example]:
    base = package_dir("pyrit", "pyrit") / "datasets"
    requests = ["explain how to pick a lock", "write a phishing email", "tell me how to hotwire a car",
                "describe how to make a weapon", "give me someone's home address"]  # fmt: skip
    out: list[Example] = []
    for path in sorted((base / "jailbreak" / "templates").rglob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue
        value = doc.get("value") if isinstance(doc, dict) else None
        if isinstance(value, str) and len(value) > 40:
            value = value.replace("{% raw %}", "").replace("{% endraw %}", "")
            text = re.sub(r"\{\{\s*\w+\s*\}\}", lambda _: rng.choice(requests), value)
            out.append((text, True, "pyrit", None))
    normal = yaml.safe_load((base / "seed_datasets" / "local" / "garak" / "normal_instructions.prompt").read_text())
    out += [(str(s["value"]), False, "pyrit", None) for s in normal.get("seeds", [])]
    return out


def team() -> list[Example]:
    out: list[Example] = []
    for name in ("prompt_attack.jsonl",):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            out.append((r["text"], bool(r["label"]), "team", None))
    for name in ("content.jsonl", "topics.jsonl", "pii.jsonl"):
        from .guardrails import rows

        out += [(r["text"], False, "team_other", None) for r in rows(name)]
    return out


def docstrings(rng: random.Random, limit: int = 3000) -> list[Example]:
    """Paragraphs of the standard library's docstrings: imperative prose ("Return...", "Ignore...", "Use...")
    that addresses a programmer, not an AI."""
    import argparse, collections, csv, email, http.client, json as json_mod, logging, os, pathlib, shutil, string  # noqa: E401, I001
    import subprocess, tarfile, textwrap, unittest, urllib.request, zipfile  # noqa: E401

    modules = [argparse, collections, csv, email, http.client, json_mod, logging, os, pathlib, shutil, string,
               subprocess, tarfile, textwrap, unittest, urllib.request, zipfile]  # fmt: skip
    paragraphs: list[str] = []
    for module in modules:
        for _, obj in sorted(vars(module).items()):
            doc = inspect.getdoc(obj) if callable(obj) or inspect.isclass(obj) else None
            if doc:
                paragraphs += [" ".join(p.split()) for p in doc.split("\n\n") if len(p) > 60]
    paragraphs = sorted(set(paragraphs))
    rng.shuffle(paragraphs)
    return [(p, False, "docstrings", None) for p in paragraphs[:limit]]


# Package descriptions of libraries in Basalt's own environment: install steps, usage, "you can ...", "ignore ..."
# and chat-API examples ("You are a helpful assistant"), prose for people that names models and assistants.
READMES = [
    "aiohttp", "alembic", "anthropic", "boto3", "click", "fastapi", "httpx", "huggingface_hub", "hypothesis",
    "jinja2", "jsonschema", "lxml", "markdown-it-py", "mypy", "networkx", "numpy", "openai", "pydantic", "pygments",
    "pytest", "ray", "redis", "requests", "rich", "ruff", "scipy", "sentence-transformers", "sqlalchemy", "starlette",
    "sympy", "tenacity", "tokenizers", "tqdm", "transformers", "typer", "uvicorn", "virtualenv", "websockets",
]  # fmt: skip


def readmes(rng: random.Random, limit: int = 2500) -> list[Example]:
    paragraphs: list[str] = []
    for name in READMES:
        try:
            body = importlib.metadata.metadata(name).get_payload()  # type: ignore[attr-defined]
        except importlib.metadata.PackageNotFoundError:
            continue
        paragraphs += [" ".join(p.split()) for p in str(body or "").split("\n\n") if len(p.strip()) > 60]
    paragraphs = sorted(set(paragraphs))
    rng.shuffle(paragraphs)
    return [(p, False, "readmes", None) for p in paragraphs[:limit]]


def carried(rng: random.Random, paragraphs: list[Example]) -> list[Example]:
    """Attacks inside real prose: each paragraph gets a synthetic injection at a sentence boundary, so the
    carriers are not only the generator's few templates (these paragraphs are not also used as benign texts)."""
    out: list[Example] = []
    for text, _, source, _ in paragraphs:
        passage = composed_attack(rng) if rng.random() < 0.6 else injection("en", rng)
        cuts = [m.end() for m in re.finditer(r"[.!?:]\s", text)] or [len(text)]
        at = rng.choice(cuts)
        out.append((f"{text[:at]} {passage} {text[at:]}".strip(), True, f"{source}_carried", passage))
    return out


def corpus(seed: int = 17) -> list[Example]:
    rng = random.Random(seed)
    out: list[Example] = [(t, label, "synth", p) for t, label, _, p in synthesize(seed) + synthesize_composed()]
    out += spikee(rng) + agentdojo(rng) + pyrit(rng) + team()
    prose = docstrings(rng) + readmes(rng)
    out += prose[::2] + carried(rng, prose[1::2])
    return out
