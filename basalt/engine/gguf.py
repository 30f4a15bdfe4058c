"""Reads a GGUF file's header (metadata and tensor directory, not the weights) to tell a model file from anything
else that starts with `GGUF`: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md.

Every count and length is checked against sane bounds and against what is left of the file before it is used, so a
hostile header can neither make the reader allocate without bound nor loop for long.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAGIC = b"GGUF"
VERSIONS = (2, 3)  # what llama.cpp reads; version 1 (32-bit counts) it refuses
MAX_TENSORS = 1 << 20  # the largest published models have a few thousand
MAX_KV = 1 << 16  # metadata entries; real files have tens
MAX_KEY = 1 << 16  # bytes in a key (the spec: at most 65535)
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_TYPE = 64  # ggml tensor types are numbered below this
# Metadata value types: (struct format, size) for the fixed-size ones; 8 is a string, 9 an array.
_FIXED = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


class NotGGUF(ValueError):
    """The file is not a GGUF model; the message says what is wrong with it."""


@dataclass(frozen=True)
class Header:
    version: int
    tensor_count: int
    kv_count: int
    architecture: str


def read_header(path: Path) -> Header:
    """The header of the GGUF file at `path`; raises NotGGUF when it is not one."""
    with path.open("rb") as f:
        return _Reader(f, path.stat().st_size).header()


class _Reader:
    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f = f
        self.size = size

    def header(self) -> Header:
        if self.take(4) != MAGIC:
            raise NotGGUF("it does not start with the GGUF magic")
        version, tensors, kvs = struct.unpack("<IQQ", self.take(20))
        if version not in VERSIONS:
            raise NotGGUF(f"GGUF version {version} is not one of {VERSIONS}")
        if not 1 <= tensors <= MAX_TENSORS:
            raise NotGGUF(f"its tensor count {tensors} is not between 1 and {MAX_TENSORS}")
        if not 1 <= kvs <= MAX_KV:
            raise NotGGUF(f"its metadata count {kvs} is not between 1 and {MAX_KV}")
        architecture = None
        for _ in range(kvs):
            key = self.string(MAX_KEY)
            kind = self.u32()
            if key == "general.architecture" and kind == _STRING:
                architecture = self.string(MAX_KEY)
            else:
                self.skip_value(kind, depth=0)
        if not architecture:
            raise NotGGUF("its metadata has no general.architecture")
        for _ in range(tensors):
            self.tensor_info()
        return Header(version, tensors, kvs, architecture)

    def take(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise NotGGUF("its header is cut short")
        return data

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def skip(self, n: int) -> None:
        if n > self.size - self.f.tell():
            raise NotGGUF("a length in its header runs past the end of the file")
        self.f.seek(n, 1)

    def string(self, limit: int) -> str:
        n = self.u64()
        if n > limit:
            raise NotGGUF(f"a key or name of {n} bytes is longer than {limit}")
        try:
            return self.take(n).decode()
        except UnicodeDecodeError:
            raise NotGGUF("a key or name is not UTF-8") from None

    def skip_value(self, kind: int, depth: int) -> None:
        if kind in _FIXED:
            self.skip(struct.calcsize(_FIXED[kind]))
        elif kind == _STRING:
            self.skip(self.u64())
        elif kind == _ARRAY and depth == 0:  # arrays of arrays are allowed by the spec but nothing writes deeper
            item, count = self.u32(), self.u64()
            if item in _FIXED:
                self.skip(count * struct.calcsize(_FIXED[item]))
                return
            if count * 8 > self.size - self.f.tell():  # every other element takes at least 8 bytes
                raise NotGGUF("an array in its metadata runs past the end of the file")
            for _ in range(count):
                self.skip_value(item, depth + 1)
        else:
            raise NotGGUF(f"its metadata has a value of unknown type {kind}")

    def tensor_info(self) -> None:
        self.string(MAX_KEY)
        dims = self.u32()
        if not 1 <= dims <= MAX_DIMS:
            raise NotGGUF(f"a tensor has {dims} dimensions (1 to {MAX_DIMS})")
        self.skip(8 * dims)
        if self.u32() >= MAX_TYPE:
            raise NotGGUF("a tensor has an unknown type")
        if self.u64() >= self.size:
            raise NotGGUF("a tensor's data starts past the end of the file")
