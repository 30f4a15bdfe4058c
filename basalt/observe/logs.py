"""The server's logging, from `observability.logging`: the level of Basalt's loggers, text or JSON lines on stderr,
and no secret in any line.

JSON is one object a line: `ts` (UTC, ms), `level`, `logger`, `message`, `exception` when there is one, and the
structured fields a record carries (the access line's: see `access.py`). Text is the classic
`ts LEVEL logger: message` with those fields appended as `key=value`.

Every formatted line goes through a `Redactor` before it is written: Basalt API keys keep their public id and lose
their secret, `Authorization`-style header values, bearer tokens, providers' key shapes and passwords in URLs are
masked, and so are the values of the environment variables that hold upstream keys (known at start-up, so matched
exactly). Nothing in Basalt logs a key on purpose; this is the net under what a library might put in an error.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

import orjson

from ..config import LogSettings, Settings

ACCESS_LOGGER = "basalt.access"
FIELDS = "basalt_fields"  # the LogRecord attribute holding a record's structured fields (`extra={FIELDS: {...}}`)
# Set (`extra={CLEAN: True}`) on a record whose every free-text part was masked where it was made (the access line:
# a whole line costs ~10 us to mask, its two or three client strings a fraction of that).
CLEAN = "basalt_clean"
REDACTED = "[REDACTED]"
# Environment variables that hold upstream credentials by default (a deployment may name others: `api_key_env`).
SECRET_ENV = (
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "BASALT_DATABASE_URL",
    "BASALT_REDIS_URL",
)
_MIN_LITERAL = 8  # a shorter value (a test's "x") would mask innocent text and protects nothing

# (what must be in the lowercased line for the shape to be looked for, the shape, the group it keeps). A
# case-insensitive expression costs ~10 us a shape over a line; one case-sensitive search for all the triggers in the
# lowercased line costs a tenth of that, so the shapes are matched only in lines where a trigger occurs: few.
_SHAPES: tuple[tuple[tuple[str, ...], str, str | None], ...] = (
    (("bsk_",), r"(?P<k>\bbsk_[0-9a-f]{16}_)[A-Za-z0-9_-]+", "k"),  # a Basalt key: its id is public, its secret not
    # A credential header as text, a repr, a dict or JSON: `Authorization: Bearer x`, ('x-api-key', 'x'), ...
    (
        ("authorization", "api-key", "x-amz-security-token"),
        r"(?P<k>(?:(?:proxy-)?authorization|x-api-key|api-key|x-goog-api-key|x-amz-security-token)"
        r"\\?[\"']?\s*[:=,]\s*(?:b?\\?[\"'])?(?:(?:bearer|basic|aws4-hmac-sha256)\s+)?)"
        r"(?!\[REDACTED\])[^\s\"',}\]\\]+",
        "k",
    ),
    (("bearer",), r"(?P<k>\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}", "k"),
    (("sk-",), r"\bsk-(?:ant-)?[A-Za-z0-9_-]{16,}", None),  # Anthropic and OpenAI keys
    (("aiza",), r"\bAIza[0-9A-Za-z_-]{30,}", None),  # Google API keys
    (("://",), r"(?P<k>://[^/\s:@\"']+:)[^/\s@\"']+(?=@)", "k"),  # the password in scheme://user:password@host
)


class Redactor:
    """Masks secrets in a line: the known shapes, and `literals` (values known to be secret) wherever they appear."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        self.literals = sorted({v for v in literals if len(v) >= _MIN_LITERAL}, key=len, reverse=True)
        self.shapes = [(triggers, re.compile(shape, re.IGNORECASE), kept) for triggers, shape, kept in _SHAPES]
        self.trigger = re.compile("|".join(re.escape(t) for triggers, _, _ in _SHAPES for t in triggers))

    def __call__(self, text: str) -> str:
        for literal in self.literals:
            if literal in text:
                text = text.replace(literal, REDACTED)
        low = text.lower()
        if self.trigger.search(low) is None:
            return text
        for triggers, shape, kept in self.shapes:
            if any(t in low for t in triggers):
                text = shape.sub(_keeping(kept), text)
        return text


def _keeping(group: str | None) -> str | Callable[[re.Match[str]], str]:
    return (lambda match: match.group(group) + REDACTED) if group else REDACTED


def secret_values(settings: Settings, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The values of the environment variables the settings read credentials from (upstream keys, tracing headers,
    the database and Redis URLs), to be masked exactly wherever they would appear."""
    names = {*SECRET_ENV, *(d.api_key_env for d in settings.deployments if d.api_key_env)}
    names |= set(settings.observability.tracing.headers_env.values())
    values = [environ[name] for name in names if environ.get(name)]
    values += [url for url in (settings.control.database, settings.control.redis) if url and "@" in url]
    return values


class _Stamp:
    """`2026-12-04T18:37:50.123Z` from a record's time; the part up to the second is reused within the second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((created - second) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object a line."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact
        self.stamp = _Stamp()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.stamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        line = orjson.dumps(entry, default=str).decode()
        # Masked after encoding: one pass over the line, and no mask spans a JSON quote or escape (see _SHAPES).
        return line if getattr(record, CLEAN, False) else self.redact(line)


class TextFormatter(logging.Formatter):
    """`ts LEVEL logger: message key=value ...` (ts in UTC), then the exception's traceback."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.converter = time.gmtime  # UTC, as the JSON lines and the ledger's times are
        self.redact = redact

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = getattr(record, FIELDS, None)
        if fields:
            line += "".join(f" {k}={_text_value(v)}" for k, v in fields.items() if v is not None)
        return line

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return line if getattr(record, CLEAN, False) else self.redact(line)


def _text_value(value: object) -> str:
    text = str(value)
    return text if text and " " not in text and '"' not in text else orjson.dumps(text).decode()


class _Handler(logging.StreamHandler[TextIO]):
    """Basalt's handler on the root logger; `configure` replaces it rather than adding a second one."""


def configure(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Sends every log record to `stream` (stderr) in the configured format, masked. Basalt's loggers log at the
    configured level; other libraries' at WARNING or above (their DEBUG and INFO chatter, SQLAlchemy's statements with
    their parameters or an HTTP/2 library's header dumps, is not the operator's and may hold secrets); the access
    logger at INFO whenever the access log is on."""
    options: LogSettings = settings.observability.logging
    redact = Redactor(secret_values(settings))
    handler = _Handler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if options.format == "json" else TextFormatter(redact))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    level = logging.getLevelNamesMapping()[options.level.upper()]
    root.setLevel(max(level, logging.WARNING))
    logging.getLogger("basalt").setLevel(level)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if options.access_log else max(level, logging.INFO))
    logging.captureWarnings(True)  # Python warnings become records, so they are formatted (JSON) like the rest
    return handler
