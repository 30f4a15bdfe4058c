"""Several server processes on one port (`basalt serve --workers N`): uvicorn starts each worker from an app factory,
so each builds its own platform from the settings, and prometheus-client's multiprocess mode has every worker write
its metrics to files in one directory, which /metrics adds up whichever worker answers the scrape.

What the workers share and what they do not (docs/observability.md, Metrics): the database, the ledger directory
(each worker is its own journal run, so a worker that dies is replayed by the next start), and Redis when configured.
Without Redis each worker counts rate limits and budgets by itself, so they allow up to N times as much.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from .app import create_app, late_body
from .config import Settings
from .control import ControlPlane
from .files import private_dir
from .http.deadlines import _TimedProtocol
from .observe.metrics import MULTIPROC_ENV

log = logging.getLogger("basalt")
CONFIG_ENV = "BASALT_CONFIG"  # the YAML file the workers read their settings from


class WorkerProtocol(_TimedProtocol):
    """The request deadlines' protocol, importable by name: uvicorn hands a worker its protocol by import string
    (a worker is a fresh interpreter), and `app` sets the deadlines from the settings before any connection."""

    late_body = staticmethod(late_body)


def metrics_directory(settings: Settings) -> Path:
    """Where the workers of this server (one per home and port) keep their metric files."""
    return settings.home / f"metrics-{settings.port}"


def serve(settings: Settings, config: str | None) -> None:
    """Runs `settings.workers` server processes until a signal stops them."""
    directory = metrics_directory(settings)
    shutil.rmtree(directory, ignore_errors=True)  # counts of an earlier run are not this run's
    private_dir(directory)
    # The workers inherit the environment: Settings.load reads host, port and home from it, prometheus-client the
    # metrics directory (when it is imported, so before the first worker starts).
    os.environ.update(
        {
            MULTIPROC_ENV: str(directory),
            CONFIG_ENV: config or "",
            "BASALT_HOST": settings.host,
            "BASALT_PORT": str(settings.port),
            "BASALT_HOME": str(settings.home),
        }
    )
    if settings.control.auth and not settings.control.redis:
        log.warning(
            "%d workers without control.redis: each worker counts rate limits and budgets by itself", settings.workers
        )
    # Once, before the workers start: migrating the schema and bootstrapping the admin key in each worker at once
    # would race (two admin keys, one file); replaying dead runs' journals here leaves the workers nothing to fight
    # over. Each worker still prepares (a no-op by then) so that one restarted later replays a dead sibling.
    ControlPlane(settings).prepare()
    uvicorn.run(
        "basalt.workers:app",
        factory=True,
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        http="basalt.workers:WorkerProtocol",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )


def app() -> FastAPI:
    """The app factory each worker calls."""
    settings = Settings.load(os.environ.get(CONFIG_ENV) or None)
    WorkerProtocol.header_timeout = settings.header_timeout
    WorkerProtocol.body_timeout = settings.body_timeout
    built = create_app(settings)
    gc.collect()  # as `cmd_serve` does: what exists now lives as long as the worker
    gc.freeze()
    return built
