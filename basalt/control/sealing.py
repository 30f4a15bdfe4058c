"""Secrets Basalt must read back, sealed at rest under the server's secret key with AES-256-GCM.

SigV4 verification recomputes the signature, so it needs an access key pair's secret itself, not a hash of it: the
secret is stored encrypted, bound to its access key id (the associated data, so a sealed secret copied onto another
row does not open), and opened only to verify. The server's key comes from an environment variable (32 bytes, hex or
base64; `control.secret_key_env`, BASALT_SECRET_KEY by default) or, without one, from `<home>/secret-key`, created
once, atomically, readable by the owner only. Replicas that share a database must share the key: a sealed secret
names the fingerprint of the key that sealed it, so a replica with another key says so instead of failing vaguely.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..files import FILE_MODE, private_dir

KEY_FILE = "secret-key"
KEY_BYTES = 32
NONCE_BYTES = 12  # GCM's standard nonce; random per seal, and a key seals few secrets (one per key pair)
VERSION = "v1"
MAX_SEALED_CHARS = 200  # the column's width; a secret of up to 64 characters fits


class SealError(Exception):
    """A server key that cannot be read, or a sealed secret it cannot open; the message says what to fix."""


def parse_key(text: str, source: str) -> bytes:
    """32 bytes from 64 hex digits or base64 (standard or URL-safe, padded or not)."""
    text = text.strip()
    try:
        if len(text) == 2 * KEY_BYTES:
            key = bytes.fromhex(text)
        else:
            standard = text.replace("-", "+").replace("_", "/")
            key = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != KEY_BYTES:
        raise SealError(
            f"{source} must hold a {KEY_BYTES}-byte key as 64 hex digits or base64 (make one with `openssl rand "
            "-base64 32`)"
        )
    return key


class SecretBox:
    """Seals and opens secrets under one server key."""

    def __init__(self, key: bytes, source: str) -> None:
        self._aead = AESGCM(key)
        self.source = source  # where the key came from, for error messages (never the key)
        self.fingerprint = hashlib.sha256(b"basalt secret key\0" + key).hexdigest()[:8]

    def seal(self, secret: str, bound_to: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), bound_to.encode())
        token = f"{VERSION}:{self.fingerprint}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"
        if len(token) > MAX_SEALED_CHARS:
            raise ValueError(f"a secret of {len(secret)} characters is too long to seal")
        return token

    def open(self, token: str, bound_to: str) -> str:
        version, _, rest = token.partition(":")
        fingerprint, _, data = rest.partition(":")
        if version != VERSION or not data:
            raise SealError(f"the stored secret of {bound_to} is not in a format this Basalt reads ({version[:8]!r})")
        if fingerprint != self.fingerprint:
            raise SealError(
                f"the stored secret of {bound_to} was sealed under server key {fingerprint}, but this server's key "
                f"({self.source}) is {self.fingerprint}: every replica sharing a database must use the same key"
            )
        try:
            raw = base64.urlsafe_b64decode(data)
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], bound_to.encode()).decode()
        except (InvalidTag, ValueError, binascii.Error):
            raise SealError(
                f"the stored secret of {bound_to} does not decrypt under this server's key ({self.source}): it was "
                "altered, or copied from another access key's row"
            ) from None


def load(home: Path, env_name: str, *, create: bool) -> SecretBox | None:
    """The server's box: from the environment variable `env_name` if set, else from `<home>/secret-key`, made there
    first if `create` (issuing a pair creates it; verifying never does, since a new key opens nothing stored)."""
    given = os.environ.get(env_name)
    if given:
        return SecretBox(parse_key(given, f"${env_name}"), f"${env_name}")
    path = home / KEY_FILE
    if not path.exists():
        if not create:
            return None
        _create_key_file(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SealError(f"cannot read the server key {path}: {exc}") from None
    return SecretBox(parse_key(text, str(path)), str(path))


def _create_key_file(path: Path) -> None:
    # Written whole under a temporary name, then linked into place: a reader never sees half a key, and when two
    # processes race, link() lets exactly one key win (it never replaces a file), which both then read.
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode() + "\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another process's key won: it is the one both read
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the link survives a crash too
    finally:
        os.close(directory)
