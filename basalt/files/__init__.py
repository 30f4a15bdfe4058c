"""The files room: owner-only paths under the home (modes), and the store of uploaded and produced files (OpenAI
Files: batch inputs and outputs), in a local directory or in the control database."""

from __future__ import annotations

from .modes import DIR_MODE, FILE_MODE, private_dir, private_file
from .types import CHUNK_BYTES, MAX_FILE_BYTES, PURPOSES, FileInfo, FileStore, ListOrder, Purpose

__all__ = [
    "CHUNK_BYTES",
    "DIR_MODE",
    "FILE_MODE",
    "MAX_FILE_BYTES",
    "PURPOSES",
    "FileInfo",
    "FileStore",
    "ListOrder",
    "Purpose",
    "private_dir",
    "private_file",
]
