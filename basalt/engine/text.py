"""Turns a sequence's tokens into text deltas, and stops at stop sequences without ever releasing part of one."""

from __future__ import annotations

import codecs
from collections.abc import Callable


class TextStream:
    def __init__(self, piece: Callable[[int], bytes], stop: tuple[str, ...] = ()) -> None:
        self._piece = piece
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = tuple(s for s in stop if s)
        self._held = ""  # text that may be the start of a stop sequence
        self.stopped_by: str | None = None

    def push(self, token: int) -> str:
        """Add one token; return the text that is now safe to release ('' while a stop sequence may be forming)."""
        text = self._held + self._utf8.decode(self._piece(token))
        if not self._stop:
            self._held = ""
            return text
        first: tuple[int, str] | None = None
        for s in self._stop:
            at = text.find(s)
            if at >= 0 and (first is None or at < first[0]):
                first = (at, s)
        if first is not None:
            self.stopped_by = first[1]
            self._held = ""
            return text[: first[0]]
        keep = self._longest_stop_prefix_suffix(text)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """The rest of the text, at the end of generation."""
        text = self._held + self._utf8.decode(b"", final=True)
        self._held = ""
        return text

    def _longest_stop_prefix_suffix(self, text: str) -> int:
        best = 0
        for s in self._stop:
            for n in range(min(len(s) - 1, len(text)), best, -1):
                if text.endswith(s[:n]):
                    best = n
                    break
        return best
