"""The `basalt` command: serve, pull, models, chat (and the admin and batch commands registered from their modules)."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

from .config import Settings
from .engine.store import SMOLLM2, ModelStore, StoreError


class ProgressBar:
    """A one-line progress bar on stderr."""

    def __init__(self) -> None:
        self.label = ""
        self.last = 0.0

    def __call__(self, label: str, done: int, total: int) -> None:
        now = time.monotonic()
        if label == self.label and done < total and now - self.last < 0.1:
            return
        if label != self.label and self.label:
            sys.stderr.write("\n")
        self.label, self.last = label, now
        frac = done / total if total else 1.0
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r{label:<18} [{bar:<30}] {frac:6.1%} {done / 1e6:7.1f}/{total / 1e6:.1f} MB")
        sys.stderr.flush()

    def end(self) -> None:
        if self.label:
            sys.stderr.write("\n")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app, late_body
    from .http.deadlines import timed_protocol
    from .observe.logs import configure as configure_logging

    settings = Settings.load(args.config, host=args.host, port=args.port, workers=args.workers)
    configure_logging(settings)
    # Pull the bundled model here, with a progress bar, rather than silently inside the server's startup.
    missing = ModelStore(settings.home).find(settings.local_model) is None
    if settings.serve_local and missing and settings.local_model in (SMOLLM2.name, *SMOLLM2.aliases):
        pulled = cmd_pull(argparse.Namespace(name=settings.local_model, home=settings.home, name_as=None))
        if pulled != 0:
            return pulled
    if settings.workers > 1:
        from .workers import serve

        serve(settings, args.config)
        return 0
    app = create_app(settings)
    # What exists now lives as long as the server (modules, schemas, templates): moved out of the collector's reach,
    # it is not walked again by every full collection, which pauses the event loop and the engine's thread alike.
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        http=timed_protocol(settings.header_timeout, settings.body_timeout, late_body),  # slowloris is cut off
        log_config=None,  # uvicorn's records go to Basalt's handler (JSON when configured so), not its own
        log_level="warning",
        access_log=False,  # Basalt writes its own access line (basalt/observe/access.py)
        timeout_graceful_shutdown=5,
    )
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    bar = ProgressBar()
    try:
        model = ModelStore(Path(args.home) if args.home else None).pull(args.name, progress=bar, as_name=args.name_as)
    except StoreError as exc:
        bar.end()
        print(f"basalt pull: {exc}", file=sys.stderr)
        return 1
    bar.end()
    print(f"installed {model.name} ({model.size / 1e6:.1f} MB, sha256 {model.sha256[:12]}…) at {model.path}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    models = ModelStore(Path(args.home) if args.home else None).installed()
    if args.json:
        print(json.dumps([{**m.__dict__, "path": str(m.path)} for m in models], indent=2))
        return 0
    if not models:
        print("no models installed; run `basalt pull`")
        return 0
    rows = [("NAME", "SIZE", "SHA256", "INSTALLED", "SOURCE")]
    rows += [(m.name, f"{m.size / 1e6:.1f} MB", m.sha256[:12], m.installed_at, m.source) for m in models]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """An interactive streaming chat; talks to a running server, or runs the model in-process when none answers."""
    from .inprocess import InProcess

    base_url = args.url or os.environ.get("BASALT_URL")
    history: list[dict[str, str]] = []
    with InProcess.maybe(base_url) as client:
        print(f"chatting with {args.model}; an empty line or Ctrl-D ends", file=sys.stderr)
        while True:
            try:
                line = input("> ").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                return 0
            if not line:
                return 0
            history.append({"role": "user", "content": line})
            reply = ""
            with client.messages.stream(model=args.model, max_tokens=args.max_tokens, messages=history) as stream:
                for text in stream.text_stream:
                    reply += text
                    sys.stdout.write(text)
                    sys.stdout.flush()
            print()
            history.append({"role": "assistant", "content": reply or "…"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="basalt", description="Generative AI platform: serve, pull, models, chat.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP server (Anthropic and OpenAI APIs)")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--config", default=None, help="YAML configuration file")
    serve.add_argument("--workers", type=int, default=None, help="server processes on the port (default 1)")
    serve.set_defaults(func=cmd_serve)

    pull = sub.add_parser("pull", help="install a model into the store ($BASALT_HOME, default ~/.basalt)")
    pull.add_argument("name", nargs="?", default=SMOLLM2.name, help="bundled model name, or a path to a GGUF file")
    pull.add_argument("--as", dest="name_as", default=None, help="store name for a GGUF file")
    pull.add_argument("--home", default=None, help=argparse.SUPPRESS)
    pull.set_defaults(func=cmd_pull)

    models = sub.add_parser("models", help="list installed models")
    models.add_argument("--json", action="store_true")
    models.add_argument("--home", default=None, help=argparse.SUPPRESS)
    models.set_defaults(func=cmd_models)

    chat = sub.add_parser("chat", help="interactive streaming chat in the terminal")
    chat.add_argument("--model", default="smollm2")
    chat.add_argument("--max-tokens", type=int, default=512)
    chat.add_argument("--url", default=None, help="a running server's base URL (default: run in-process)")
    chat.set_defaults(func=cmd_chat)

    from .batches.cli import register as register_batches
    from .control.commands import register
    from .evals.cli import register as register_evals

    register(sub)
    register_batches(sub)
    register_evals(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
