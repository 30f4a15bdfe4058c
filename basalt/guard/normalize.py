"""The views of a text that the prompt-attack rules read: the text as written, folded, and the forms an attacker
hides an instruction in (look-alike letters, spaced-out letters, leetspeak, base64 / hex / percent / rot13 payloads).

Every input is hostile: each view is one linear pass (no regex here can backtrack more than a fixed distance), a
view is built only when the text shows its sign (a non-ASCII letter, a run of single letters, a digit inside a
word, a long base64 or hex run), decoded payloads are capped in number, size and depth, and all views together are
at most a few times the input.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import unquote

MAX_PAYLOADS = 8  # decoded runs per text
MAX_PAYLOAD_CHARS = 4096  # an encoded run longer than this is decoded up to this length only
MAX_DEPTH = 2  # a payload inside a payload is decoded; one inside that is not

# Letters of other scripts that look like Latin ones (Cyrillic, Greek, a few IPA and Latin-extended), after
# case folding; NFKC has already turned fullwidth and mathematical letters into plain ones.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",  # noqa: RUF001
        "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w",  # noqa: RUF001
        "ɡ": "g", "ɑ": "a", "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t",  # noqa: RUF001
        "υ": "u", "χ": "x", "γ": "y", "η": "n", "ϲ": "c", "ս": "u", "օ": "o", "ı": "i", "ß": "ss",  # noqa: RUF001
    }
)  # fmt: skip
# Whether a text holds one of them: str.translate with a table is slow outside ASCII (60 us per KB), a search is not.
_CONFUSABLE = re.compile("[" + "".join(map(chr, _CONFUSABLES)) + "]")
# Zero-width and other invisible format characters (Unicode category Cf), and soft hyphens, are dropped.
_INVISIBLE = re.compile(
    r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]"
)
_COMBINING = re.compile(r"[\u0300-\u036f]")
_BLANKS = re.compile(r"[^\S\n]{2,}|[^\S\n ]")  # the rules' spaces are single spaces
_ASCII_BLANKS = "\t\r\x0b\x0c\x1c\x1d\x1e\x1f"  # the ASCII characters _BLANKS replaces, besides double spaces
_ODD_BLANK = re.compile(r"[^\S\n ]")  # the same outside ASCII (no-break and em spaces...): one search, not a sub

# "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e": three or more single letters, each followed by one separator.
_SPACED = re.compile(r"(?<![a-z0-9])(?:[a-z][ ._*-]){2,}[a-z](?![a-z0-9])")
# Whether _SPACED matches anywhere (its first three letters always do, and they alone are a match), written to
# open on the separator: the regex engine skips to separators at C speed instead of trying every letter (2x).
_SPACED_SIGN = re.compile(r"[ ._*-](?<=(?<![a-z0-9])[a-z].)[a-z][ ._*-][a-z](?![a-z0-9])")
_LEET_WORD = re.compile(r"[a-z0-9@$|!+]+")
# A stand-in between two letters ("n0r" in "1gn0r3") or a letter between two stand-ins ("5y5"): not "v2", "mp3".
# Written to open on the stand-in, so the engine skips letters at C speed (5x faster than trying each position).
_LEET_SIGN = re.compile(r"[0-9@$|!+](?:(?<=[a-z][0-9$|!+])(?=[a-z])|[a-z][0-9@$|!+])")  # "@" between letters: email
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a",
                       "$": "s", "|": "l", "!": "i", "+": "t"})  # fmt: skip
_ROT13 = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM"
)
_ROT13_BYTES = bytes.maketrans(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", b"nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM"
)
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
# Printable ASCII is 0x20-0x7e, so each byte of an encoded sentence opens with a digit 2-7: prose letters a-f
# then start no attempt (5x faster over prose than any hex digit would).
_HEX = re.compile(r"(?:[2-7][0-9a-fA-F][ :]?){8,}")
_HEX_SIGN = re.compile(r"[2-7][0-9a-fA-F][ :]?[2-7][0-9a-fA-F][ :]?[2-7][0-9a-fA-F][ :]?[2-7][0-9a-fA-F]")  # opens it
_PERCENT = re.compile(r"(?:%[0-9a-fA-F]{2}){4,}")
_BASE32 = re.compile(r"[A-Z2-7]{16,}={0,6}")
_BINARY = re.compile(r"[01]{8}(?: ?[01]{8}){3,}")
_ESCAPES = re.compile(r"(?:\\x[0-9a-fA-F]{2}){4,}|(?:\\u[0-9a-fA-F]{4}){4,}")
_TAGS = re.compile("[\U000e0020-\U000e007e]{4,}")  # Unicode tag characters: invisible ASCII
_MORSE = re.compile(r"(?:[.-]{1,6}(?: / | {1,3}|/)){5,}[.-]{1,6}")
_MORSE_CODE = {
    ".-": "a", "-...": "b", "-.-.": "c", "-..": "d", ".": "e", "..-.": "f", "--.": "g", "....": "h", "..": "i",
    ".---": "j", "-.-": "k", ".-..": "l", "--": "m", "-.": "n", "---": "o", ".--.": "p", "--.-": "q", ".-.": "r",
    "...": "s", "-": "t", "..-": "u", "...-": "v", ".--": "w", "-..-": "x", "-.--": "y", "--..": "z",
}  # fmt: skip
_REVERSED_CUES = ("revers", "backward", "right to left", "right-to-left", "mirror")


def fold(text: str) -> str:
    """Case-folded, NFKC, invisible characters dropped, look-alike letters mapped to Latin, accents removed."""
    if text.isascii():
        return text.lower()
    t = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()
    t = t.translate(_CONFUSABLES) if _CONFUSABLE.search(t) else t
    return _COMBINING.sub("", unicodedata.normalize("NFD", t))


def single_spaced(text: str) -> str:
    """Runs of blanks (not newlines) as one space; ASCII text without them is returned as it is, unscanned."""
    if "  " not in text:
        if text.isascii() and not any(c in text for c in _ASCII_BLANKS):
            return text
        if not text.isascii() and _ODD_BLANK.search(text) is None:
            return text
    return _BLANKS.sub(" ", text)


def despace(folded: str) -> str | None:
    """Runs of single letters joined into words ("i g n o r e   a l l" -> "ignore all")."""
    if _SPACED_SIGN.search(folded) is None:
        return None
    return _BLANKS.sub(" ", _SPACED.sub(lambda m: m.group()[::2], folded))


def unleet(folded: str) -> str | None:
    """Digits and symbols inside words read as the letters they stand for ("1gn0r3" -> "ignore")."""
    if _LEET_SIGN.search(folded) is None:
        return None
    return _LEET_WORD.sub(lambda m: m.group().translate(_LEET) if _LEET_SIGN.search(m.group()) else m.group(), folded)


def rot13(folded: str) -> str:
    """Outside ASCII through UTF-8 bytes, where every byte of a non-ASCII character is 0x80 or more and so left as
    it is: a byte table is 3x faster than str.translate there."""
    if folded.isascii():
        return folded.translate(_ROT13)
    return folded.encode("utf-8", "surrogatepass").translate(_ROT13_BYTES).decode("utf-8", "surrogatepass")


def _readable(data: bytes) -> str | None:
    """The bytes as text if they read like text (letters and spaces, few controls), or if they are themselves an
    encoded run (a payload encoded twice): keys, hashes and images decode to noise and are dropped."""
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _BASE64.fullmatch(s) or _HEX.fullmatch(s):
        return s
    if len(s) < 6 or " " not in s:
        return None
    printable = sum(1 for c in s if c.isprintable() or c in "\n\t")
    letters = sum(1 for c in s if c.isalpha())
    return s if printable >= 0.95 * len(s) and letters >= 0.5 * len(s) else None


def _b64(run: str) -> str | None:
    run = run[:MAX_PAYLOAD_CHARS]
    body = run.rstrip("=").replace("-", "+").replace("_", "/")
    body = body[: len(body) - len(body) % 4] if len(body) % 4 == 1 else body
    try:
        return _readable(base64.b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        return None


def _hex(run: str) -> str | None:
    digits = re.sub(r"[ :]", "", run[:MAX_PAYLOAD_CHARS])
    try:
        return _readable(bytes.fromhex(digits[: len(digits) - len(digits) % 2]))
    except ValueError:
        return None


def _b32(run: str) -> str | None:
    body = run[:MAX_PAYLOAD_CHARS].rstrip("=")
    try:
        return _readable(base64.b32decode(body + "=" * (-len(body) % 8)))
    except (binascii.Error, ValueError):
        return None


def _binary(run: str) -> str | None:
    bits = run[:MAX_PAYLOAD_CHARS].replace(" ", "")
    return _readable(bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits) - 7, 8)))


def _escapes(run: str) -> str | None:
    run = run[:MAX_PAYLOAD_CHARS]
    if run.startswith("\\x"):
        return _readable(bytes.fromhex(run.replace("\\x", "")))
    return _readable(
        "".join(chr(int(run[i + 2 : i + 6], 16)) for i in range(0, len(run), 6)).encode("utf-8", "replace")
    )


def _tags(run: str) -> str | None:
    return _readable("".join(chr(ord(c) - 0xE0000) for c in run[:MAX_PAYLOAD_CHARS]).encode())


def _morse(run: str) -> str | None:
    words = re.split(r" / |/| {3}", run[:MAX_PAYLOAD_CHARS])
    return _readable(" ".join("".join(_MORSE_CODE.get(c, "") for c in w.split()) for w in words).encode())


_FINDERS = (
    (_HEX, _hex),
    (_BASE64, _b64),
    (_BASE32, _b32),
    (_PERCENT, lambda r: _readable(unquote(r).encode())),
    (_BINARY, _binary),
    (_ESCAPES, _escapes),
    (_TAGS, _tags),
    (_MORSE, _morse),
)


def _worth_trying(pattern: re.Pattern[str], text: str) -> bool:
    """Substring tests (C speed) and scans for the opening of a run that rule out the slower scans on prose."""
    if pattern is _HEX:
        return _HEX_SIGN.search(text) is not None
    if pattern is _PERCENT:
        return "%" in text
    if pattern is _TAGS:
        return not text.isascii()
    if pattern is _ESCAPES:
        return "\\" in text and ("\\x" in text or "\\u" in text)  # the backslash alone first: one test
    if pattern is _MORSE:
        return text.count(" .") + text.count(" -") + text.count("/.") + text.count("/-") >= 4
    if pattern is _BINARY:
        return "0000" in text or "0110" in text or "0111" in text
    return True


def _long_pieces(text: str) -> list[str]:
    return [w for w in text.split() if len(w) >= 16]


def _runs(pattern: re.Pattern[str], text: str, long_pieces: list[str]) -> Iterator[re.Match[str]]:
    """pattern.finditer(text). A base64 or base32 run holds no blank, so it lies inside one blank-free piece of
    16+ characters: those pieces, scanned in order, give the same runs as the whole text (the patterns read
    nothing around a run), and prose has few of them."""
    if pattern is _BASE64 or pattern is _BASE32:
        for piece in long_pieces:
            yield from pattern.finditer(piece)
    else:
        yield from pattern.finditer(text)


def payloads(text: str, depth: int = 0) -> list[str]:
    """Texts decoded from the encoded runs of `text` (base64, base32, hex, percent, binary, \\x and \\u escapes,
    Unicode tag characters, Morse), and, once, from runs inside them."""
    out: list[str] = []
    pieces = _long_pieces(text)
    for pattern, decode in _FINDERS:
        if not _worth_trying(pattern, text):
            continue
        for m in _runs(pattern, text, pieces):
            if len(out) >= MAX_PAYLOADS:
                return out
            decoded = decode(m.group())
            if decoded is not None and decoded not in out:
                out.append(decoded)
    if depth + 1 < MAX_DEPTH:
        out += [p for d in list(out) for p in payloads(d, depth + 1)][: MAX_PAYLOADS - len(out)]
    return out


def views(text: str) -> list[str]:
    """The views the rules are tried on, the text as written first; each later view exists only when it differs."""
    return views_and_folded(text)[0]


def views_and_folded(text: str) -> tuple[list[str], str]:
    """views(text), and the folded text whose rot13 encoding is its rot13 view."""
    unspaced = fold(text)
    out = [single_spaced(text)]
    # Case folding leaves blanks where they are, so an ASCII text's folded view is its first view lower-cased.
    folded = out[0].lower() if text.isascii() else single_spaced(unspaced)
    # The rules ignore case, so an ASCII text's folded view would only repeat the text with single spaces.
    backwards = folded[::-1] if any(c in folded for c in _REVERSED_CUES) else None  # "read this backwards: ..."
    for view in (None if text.isascii() else folded, despace(unspaced), unleet(folded), rot13(folded), backwards):
        if view is not None and view not in out:
            out.append(view)
    for p in payloads(text):
        out += [v for v in (fold(p), despace(fold(p))) if v is not None and v not in out]
    return out, folded
