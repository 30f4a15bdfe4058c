"""Real databases (SQLite, PostgreSQL) and `basalt serve` processes for the batch tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..control.conftest import database_url, pg_url

__all__ = ["database_url", "link_models", "pg_url"]


def link_models(basalt_home: Path, home: Path) -> Path:
    """A fresh home (its own database and ledger) holding the bundled model, hard-linked, not copied."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copytree(basalt_home / "models", home / "models", copy_function=os.link)
    return home
