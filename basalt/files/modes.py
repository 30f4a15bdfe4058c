"""Files that hold secrets and tenants' data (the SQLite database, the admin key, the ledger journal) are created
readable by their owner only: directories 0700, files 0600.

Modes are given when a path is created, so the process umask can only narrow them, never widen them; paths that
exist already are left as their owner set them. SQLite creates its -wal and -shm files with the database's mode.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """`path`, created 0700 if missing (its missing parents with the default mode, as `mkdir -p` does)."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=DIR_MODE, exist_ok=True)
    return path


def private_file(path: Path) -> Path:
    """`path`, created empty and 0600 if missing (an empty file is a new database to SQLite)."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    return path
