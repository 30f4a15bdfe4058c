"""`basalt batches submit | list | show | cancel | results`: a client of a running server's Anthropic Message
Batches API, through the official `anthropic` SDK (so the CLI sees exactly what any SDK user sees)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import anthropic
    from anthropic.types.messages import MessageBatch

DEFAULT_URL = "http://127.0.0.1:8000"
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # what the server (and Anthropic) accept
MAX_FILE_BYTES = 256 * 1024 * 1024  # the server's own body limit for one batch
MAX_LINES = 100_000  # the most requests a batch holds
POLL_SECONDS = 0.5


class LineError(Exception):
    """A bad line of the input file: told as `FILE:N: why`, and nothing is submitted."""


@dataclass(frozen=True)
class Counts:
    done: int
    total: int


def client_for(args: argparse.Namespace) -> anthropic.Anthropic:
    import anthropic

    url = args.url or os.environ.get("BASALT_URL") or DEFAULT_URL
    key = os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("BASALT_API_KEY")
    # With auth off the server ignores the key, but the SDK refuses to send a request without one.
    return anthropic.Anthropic(base_url=url, api_key=key or "none", max_retries=2)


def read_requests(path: Path, model: str | None) -> list[dict[str, Any]]:
    """The batch's requests from a JSONL file: `{"custom_id", "params"}` lines, or bare Messages params."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LineError(f"{path}: {exc.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise LineError(f"{path}: {size} bytes; a batch holds at most {MAX_FILE_BYTES} bytes")
    requests: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue  # blank lines (a trailing newline, spacing) are not requests
            where = f"{path}:{number}"
            if len(requests) == MAX_LINES:
                raise LineError(f"{where}: a batch holds at most {MAX_LINES} requests")
            request = parse_line(raw, number, model, where)
            custom_id = request["custom_id"]
            if custom_id in seen:
                raise LineError(f"{where}: custom_id {custom_id!r} is used by line {seen[custom_id]} too")
            seen[custom_id] = number
            requests.append(request)
    if not requests:
        raise LineError(f"{path}: no requests in the file")
    return requests


def parse_line(raw: bytes, number: int, model: str | None, where: str) -> dict[str, Any]:
    try:
        entry = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LineError(f"{where}: not JSON ({exc})") from None
    if not isinstance(entry, dict):
        raise LineError(f"{where}: expected a JSON object, got {type(entry).__name__}")
    if "params" in entry:
        extra = sorted(set(entry) - {"custom_id", "params"})
        if extra:
            raise LineError(f"{where}: unexpected field {extra[0]!r} beside custom_id and params")
        params, custom_id = entry["params"], entry.get("custom_id", f"line-{number}")
    else:
        params, custom_id = entry, f"line-{number}"
    if not isinstance(params, dict):
        raise LineError(f"{where}: params must be a JSON object")
    if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
        raise LineError(f"{where}: custom_id must be 1-64 letters, digits, '_' or '-', got {custom_id!r}")
    if "model" not in params:
        if model is None:
            raise LineError(f"{where}: no model; give one in the line or with --model")
        params = {**params, "model": model}
    if not isinstance(params.get("messages"), list):
        raise LineError(f"{where}: messages must be a list of messages")
    if not isinstance(params.get("max_tokens"), int):
        raise LineError(f"{where}: max_tokens must be an integer")
    return {"custom_id": custom_id, "params": params}


def counts(batch: MessageBatch) -> Counts:
    c = batch.request_counts
    total = c.processing + c.succeeded + c.errored + c.canceled + c.expired
    return Counts(total - c.processing, total)


def describe(batch: MessageBatch) -> str:
    c = batch.request_counts
    return (
        f"{batch.id}  {batch.processing_status}  succeeded {c.succeeded}  errored {c.errored}  "
        f"processing {c.processing}  canceled {c.canceled}  expired {c.expired}"
    )


def progress_line(done: int, total: int, started: float, now: float) -> str:
    """`[####    ] 12/40 items  3.1 items/s  ETA 9s`: the rate over the whole wait, which is steadier than the
    last poll's (results, and so tokens, are only readable once the batch has ended)."""
    frac = done / total if total else 1.0
    rate = done / (now - started) if now > started else 0.0
    eta = f"{(total - done) / rate:.0f}s" if rate > 0 and done < total else "-"
    return f"\r[{'#' * int(frac * 30):<30}] {done}/{total} items  {rate:.1f} items/s  ETA {eta}"


def wait_ended(client: anthropic.Anthropic, batch: MessageBatch) -> MessageBatch:
    started = time.monotonic()
    while True:
        c = counts(batch)
        sys.stderr.write(progress_line(c.done, c.total, started, time.monotonic()))
        sys.stderr.flush()
        if batch.processing_status == "ended":
            sys.stderr.write("\n")
            return batch
        time.sleep(POLL_SECONDS)
        batch = client.messages.batches.retrieve(batch.id)


def write_results(client: anthropic.Anthropic, batch_id: str, out: Path) -> tuple[int, int]:
    """Writes the results' lines as they come; returns (lines, output tokens) for the summary."""
    lines = tokens = 0
    with out.open("w", encoding="utf-8") as f:
        for item in client.messages.batches.results(batch_id):
            line = item.to_dict(mode="json")
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
            lines += 1
            if item.result.type == "succeeded":
                tokens += item.result.message.usage.output_tokens
    return lines, tokens


def submit(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        requests = read_requests(path, args.model)
    except LineError as exc:
        print(f"basalt batches submit: {exc}", file=sys.stderr)
        return 2
    client = client_for(args)
    started = time.monotonic()
    batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    print(batch.id)
    if not args.wait:
        return 0
    batch = wait_ended(client, batch)
    out = path.with_name(path.name.removesuffix(".jsonl") + ".results.jsonl")
    lines, tokens = write_results(client, batch.id, out)
    elapsed = time.monotonic() - started
    print(describe(batch), file=sys.stderr)
    print(f"{lines} results in {out} ({tokens} output tokens, {tokens / elapsed:.1f} tok/s overall)", file=sys.stderr)
    return 0


def list_batches(args: argparse.Namespace) -> int:
    for batch in client_for(args).messages.batches.list(limit=args.limit).data:  # the newest N, one page
        print(describe(batch))
    return 0


def show(args: argparse.Namespace) -> int:
    batch = client_for(args).messages.batches.retrieve(args.batch_id)
    print(json.dumps(batch.to_dict(mode="json"), indent=2) if args.json else describe(batch))
    return 0


def cancel(args: argparse.Namespace) -> int:
    print(describe(client_for(args).messages.batches.cancel(args.batch_id)))
    return 0


def results(args: argparse.Namespace) -> int:
    for item in client_for(args).messages.batches.results(args.batch_id):
        sys.stdout.write(json.dumps(item.to_dict(mode="json"), ensure_ascii=False) + "\n")
    return 0


def guarded(func: Any) -> Any:
    """The server's answer (a 404, a 400...) or an unreachable server as one line and exit status 1, no trace."""

    def call(args: argparse.Namespace) -> int:
        import anthropic

        try:
            return int(func(args))
        except anthropic.APIStatusError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            message = error.get("message") if isinstance(error, dict) else None
            print(f"basalt batches: {exc.status_code} {message or exc.message}", file=sys.stderr)
        except anthropic.APIConnectionError as exc:
            print(f"basalt batches: cannot reach the server at {exc.request.url}: {exc}", file=sys.stderr)
        return 1

    return call


def register(sub: Any) -> None:
    """Adds `basalt batches ...` to the `basalt` parser."""
    batches = sub.add_parser("batches", help="Message Batches on a running server (submit, list, show, ...)")
    actions = batches.add_subparsers(dest="action", required=True)

    def command(name: str, help: str, func: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help)
        parser.add_argument("--url", default=None, help=f"the server's base URL (default $BASALT_URL or {DEFAULT_URL})")
        parser.set_defaults(func=guarded(func))
        return parser

    p = command("submit", "submit a JSONL file of requests; prints the batch id", submit)
    p.add_argument("file", help="JSONL: {custom_id, params} lines, or bare Messages params")
    p.add_argument("--model", default=None, help="the model for lines that name none")
    p.add_argument("--wait", action="store_true", help="show progress, then write FILE.results.jsonl")
    p = command("list", "list batches, newest first", list_batches)
    p.add_argument("--limit", type=int, default=20, choices=range(1, 1001), metavar="N", help="how many (1-1000)")
    p = command("show", "a batch's status and counts", show)
    p.add_argument("batch_id")
    p.add_argument("--json", action="store_true")
    p = command("cancel", "cancel a batch; prints what the server reports", cancel)
    p.add_argument("batch_id")
    p = command("results", "an ended batch's results as JSON lines on stdout", results)
    p.add_argument("batch_id")
