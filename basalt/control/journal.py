"""The usage ledger's local journal: append-only JSON lines, in segments named after the run that wrote them.

A run (one ledger writer of one process) is `r<start ms>.<8 random hex>`, so no two runs share a segment name, not
across restarts nor across pid namespaces where every container's server is pid 1. Each run holds an exclusive
`flock` on its own lock file for as long as it lives; the kernel drops it when the process dies, however it dies and
whatever its pid, so a segment is another run's to replay exactly when that run's lock can be taken.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .bounds import fit
from .schema import usage

log = logging.getLogger("basalt.ledger")
_RUN = r"r\d{13}\.[0-9a-f]{8}"
_SEGMENT = re.compile(rf"({_RUN})-(\d+)\.jsonl")
_LOCK = re.compile(rf"({_RUN})\.lock")
_OLD_SEGMENT = re.compile(r"(\d+)-(\d+)\.jsonl")  # `<pid>-<counter>`, as runs before run ids named them


def journal_prefix(instance: str) -> str:
    return "ledger-" + re.sub(r"[^A-Za-z0-9_.-]", "_", instance) + "-"


def new_run() -> str:
    return f"r{int(time.time() * 1000):013d}.{secrets.token_hex(4)}"


class Journal:
    """The current segment of this run; `rotate` starts a new one (if the current one holds anything)."""

    def __init__(self, directory: Path, instance: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.prefix = journal_prefix(instance)
        self.run = new_run()
        self._lock_path = directory / f"{self.prefix}{self.run}.lock"
        lock = _locked(self._lock_path)  # before the first segment exists, so no one replays it
        assert lock is not None, "a fresh run's lock file is locked by someone else"
        self._lock_fd = lock
        self._segments = 0
        self.path = self._open()

    def _open(self) -> Path:
        self._segments += 1
        path = self.directory / f"{self.prefix}{self.run}-{self._segments:06d}.jsonl"
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.empty = True
        return path

    def append(self, kind: str, row: dict[str, Any]) -> dict[str, Any]:
        """Writes one line; returns the row as written (fitted to its columns if JSON could not hold it as it was)."""
        try:
            line = orjson.dumps([kind, row])
        except TypeError:  # an integer past 64 bits, say: what the database could not hold either
            row = fit(usage, row)
            line = orjson.dumps([kind, row])
        os.write(self.fd, line + b"\n")
        self.empty = False
        return row

    def rotate(self) -> Path | None:
        """The finished segment, or None when nothing was written since the last rotation (kept open)."""
        if self.empty:
            return None
        os.close(self.fd)
        old, self.path = self.path, self._open()
        return old

    def close(self, remove: bool = True) -> None:
        """Closes the run; its lock file goes too unless segments are left for the next start to replay."""
        os.close(self.fd)
        if remove:
            self.path.unlink(missing_ok=True)
        if not any(self.directory.glob(f"{self.prefix}{self.run}-*.jsonl")):
            self._lock_path.unlink(missing_ok=True)
        os.close(self._lock_fd)


@dataclass
class Run:
    """Another run's journal: dead (its lock is held by us now) or live (its lock is held by its process)."""

    run: str | None  # None: segments named `<pid>-<counter>` by an older Basalt, which held no lock
    segments: list[Path] = field(default_factory=list)
    lock: Path | None = None
    fd: int | None = None

    def lines(self) -> Iterator[bytes]:
        for segment in self.segments:
            try:
                data = segment.read_bytes()
            except FileNotFoundError:  # replayed by another process of this instance meanwhile
                continue
            yield from data.splitlines()

    def release(self, remove: bool) -> None:
        """Deletes the replayed segments and the lock file (if `remove`), then drops the lock."""
        if remove:
            for segment in self.segments:
                segment.unlink(missing_ok=True)
            if self.lock is not None:
                self.lock.unlink(missing_ok=True)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def other_runs(directory: Path, instance: str) -> tuple[list[Run], set[str]]:
    """The runs of this instance that left a journal: the dead ones, oldest first, each locked until released, and
    the ids of the live ones."""
    prefix = journal_prefix(instance)
    runs: dict[str | None, Run] = {}
    names = sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
    for name in names:
        rest = name[len(prefix) :] if name.startswith(prefix) else ""
        if (match := _SEGMENT.fullmatch(rest)) or (match := _OLD_SEGMENT.fullmatch(rest)):
            run = match[1] if match.re is _SEGMENT else None
            runs.setdefault(run, Run(run)).segments.append(directory / name)
        elif match := _LOCK.fullmatch(rest):
            runs.setdefault(match[1], Run(match[1])).lock = directory / name
    dead: list[Run] = []
    live: set[str] = set()
    for key in sorted(runs, key=lambda r: r or ""):
        run = runs[key]
        run.segments.sort(key=_counter)
        if run.lock is not None:
            run.fd = _locked(run.lock)
            if run.fd is None:
                live.add(str(run.run))
                continue
        dead.append(run)
    return dead, live


def _counter(segment: Path) -> int:
    return int(segment.name.rsplit("-", 1)[1].split(".")[0])


def _locked(path: Path) -> int | None:
    """An open descriptor holding an exclusive lock on `path` (created if missing), or None if someone holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
