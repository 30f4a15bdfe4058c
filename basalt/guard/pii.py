"""Sensitive-information detectors: one pattern per entity type, each confirmed by a validator (check digits,
value ranges, the shape of the number, a keyword nearby) so that look-alikes (order numbers, versions, dates,
hashes) are left alone.

Plain `re` with cheap gates was chosen over presidio's pattern recognizers after measuring both on a 4 KB message:
presidio took about 77 ms, this module well under a millisecond (docs/guardrails.md).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .checksums import card_prefix_ok, iban_ok, luhn_ok, ssn_ok

# A validator gets the match and returns the span to mask (often a group, not the whole match), or None.
Validator = Callable[[re.Match[str]], tuple[int, int] | None]


@dataclass(frozen=True, slots=True)
class _Detector:
    kind: str
    pattern: re.Pattern[str]
    validate: Validator
    priority: int  # which wins when two detections overlap
    gate: Callable[[str], bool] | None = None  # a cheap test that skips the pattern on most texts
    numeric: bool = False  # looked for only inside the runs of digits that _NUMERIC_RUN finds
    min_digits: int = 0  # numeric: runs with fewer digits are skipped
    anchor: tuple[str, int, int] | None = None  # (character, reach back, reach forward): search only around it


def _whole(m: re.Match[str]) -> tuple[int, int]:
    return m.span()


def _last_group(m: re.Match[str]) -> tuple[int, int] | None:
    i = m.lastindex or 0
    return m.span(i) if i else m.span()


# --- email, URL -------------------------------------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b"
)
_URL = re.compile(r"(?<![\w@])(?:(?:https?|ftp)://|www\.)[^\s<>\"'`{}|\\^]+", re.IGNORECASE)
_URL_TRAIL = ".,;:!?)]}'\"*"


def _url(m: re.Match[str]) -> tuple[int, int] | None:
    start, end = m.span()
    text = m.group()
    # Trailing punctuation belongs to the sentence; a closing bracket stays when the URL opened one.
    while text and text[-1] in _URL_TRAIL:
        if text[-1] == ")" and text.count("(") >= text.count(")"):
            break
        text = text[:-1]
        end -= 1
    host = text.split("//", 1)[-1]
    return (start, end) if "." in host and len(host) > 4 else None


# --- card, IBAN, SSN --------------------------------------------------------------------------------------------
_CARD = re.compile(r"(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d-]|[.,]\d)")


def _card(m: re.Match[str]) -> tuple[int, int] | None:
    text = m.group()
    digits = text.replace(" ", "").replace("-", "")
    seps = {c for c in text if c in " -"}
    if len(seps) > 1 or not (13 <= len(digits) <= 19):
        return None
    if seps and not _card_groups(text, seps.pop()):
        return None
    return m.span() if card_prefix_ok(digits) and luhn_ok(digits) else None


def _card_groups(text: str, sep: str) -> bool:
    """Cards are written 4-4-4-4(-3), 4-6-5 (Amex) or 4-6-4 (Diners); other groupings are other numbers."""
    sizes = [len(g) for g in text.split(sep)]
    return sizes in ([4, 6, 5], [4, 6, 4]) or (all(s == 4 for s in sizes[:-1]) and 1 <= sizes[-1] <= 4)


_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")


def _iban(m: re.Match[str]) -> tuple[int, int] | None:
    return m.span() if iban_ok(m.group().replace(" ", "")) else None


_SSN = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])")
_SSN_KEYED = re.compile(r"(?i:\b(?:ssn|social security(?: number| no\.?)?)\W{0,5}(?:is\s+)?)(\d{3})(\d{2})(\d{4})\b")


def _ssn(m: re.Match[str]) -> tuple[int, int] | None:
    return m.span() if ssn_ok(m.group(1), m.group(3), m.group(4)) else None


def _ssn_keyed(m: re.Match[str]) -> tuple[int, int] | None:
    return (m.start(1), m.end(3)) if ssn_ok(m.group(1), m.group(2), m.group(3)) else None


def _has_ssn_word(text: str) -> bool:
    low = text.lower()
    return "ssn" in low or "social security" in low


# --- network ----------------------------------------------------------------------------------------------------
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_VERSIONISH = re.compile(r"(?i)(?:\bv|version|ver\.?|build|release|firmware|sdk|python|node)\s*$")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])")


def _ipv4(m: re.Match[str]) -> tuple[int, int] | None:
    parts = m.group().split(".")
    if any(int(p) > 255 or (len(p) > 1 and p[0] == "0") for p in parts):
        return None
    before = m.string[max(0, m.start() - 12) : m.start()]
    return None if _VERSIONISH.search(before) else m.span()


def _ipv6(m: re.Match[str]) -> tuple[int, int] | None:
    text = m.group().split("%", 1)[0]
    if sum(c not in ":" for c in text) < 4:
        return None  # "::", "a::b": too little to be an address rather than code
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return None
    return m.span()


_MAC = re.compile(
    r"(?<![\w:.-])(?:[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![\w:-]|\.\w)"
)

# --- phone ------------------------------------------------------------------------------------------------------
# Four shapes: international (+ or 00), an area code in brackets, separated groups, a bare run of digits. The
# validator judges each by its own rule; an extension may follow any of them.
_PHONE = re.compile(
    r"(?<![\w+/.,:-])(?:"
    r"(?P<intl>(?:\+|00(?=[1-9]))\s?\d{1,3}(?:[ .-]?\(\d{1,5}\))?(?:[ .-]?\d{1,5}){1,6})"
    r"|(?P<paren>(?:1[ .-]?)?\(\d{2,5}\)[ .-]?\d{2,8}(?:[ .-]\d{2,8}){0,3})"
    r"|(?P<grouped>\d{2,5}(?:[ .-]\d{2,8}){1,4})"
    r"|(?P<bare>\d{9,13})"
    r")(?P<ext> ?(?:x|ext\.?|extension) ?\d{1,6})?(?![\w/]|[.,:-]\d)",
    re.IGNORECASE,
)
_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:phone|tel|telephone|mobile|cell|fax|call|text|sms|whatsapp|dial|reach|ring|contact|number)\b"
    r"(?:\W+\w+){0,4}?\W+$"
)
_SSN_SHAPE = re.compile(r"\d{3}([- ])\d{2}\1\d{4}")  # an SSN, valid or not, is not a phone number
_DATE_START = re.compile(r"(?:19|20)\d\d[ .-](?:0?[1-9]|1[0-2])\b")


def _phone(m: re.Match[str]) -> tuple[int, int] | None:
    if m.group("intl"):
        return m.span() if 8 <= _digits(m.group("intl")) <= 15 else None
    if m.group("paren"):
        return m.span() if 9 <= _digits(m.group("paren")) <= 13 else None
    grouped = m.group("grouped")
    if grouped:
        if not 9 <= _digits(grouped) <= 12 or _DATE_START.match(grouped) or _SSN_SHAPE.fullmatch(grouped):
            return None
        if len({c for c in grouped if c in " .-"}) > 1 and not m.group("ext"):
            return None  # mixed separators: a date-time or a reference, rarely a phone number
        if grouped.count(".") == 1:
            return None  # a decimal number
        return m.span()
    # A bare run of digits is a phone number only when the text says so just before it.
    if 10 <= len(m.group("bare")) <= 11 and _PHONE_CONTEXT.search(m.string, max(0, m.start() - 40), m.start()):
        return m.span()
    return None


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


# --- credentials ------------------------------------------------------------------------------------------------
_AWS_ACCESS = re.compile(
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}(?![A-Za-z0-9])"
)
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")


def _aws_secret(m: re.Match[str]) -> tuple[int, int] | None:
    text = m.group()
    # Random base64: upper, lower and digits all present. Hex digests (git SHA-1) lack one of them.
    if any(c.islower() for c in text) and any(c.isupper() for c in text) and any(c.isdigit() for c in text):
        return m.span()
    return None


_API_KEY = re.compile(
    r"(?<![\w-])(?:"
    r"sk-ant-[a-z0-9]{2,10}-[A-Za-z0-9_-]{20,}"  # Anthropic
    r"|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"  # OpenAI
    r"|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255}"  # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|AIza[0-9A-Za-z_-]{35}"  # Google
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|npm_[A-Za-z0-9]{36}"  # npm
    r"|SG\.[\w-]{22}\.[\w-]{43}"  # SendGrid
    r"|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"  # a JWT
    r")(?![\w-])"
    r"|(?i:\b(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|secret[_-]?key|client[_-]?secret|bearer)\b)"
    r"[\"']?\s*[:=]?\s*[\"']?([A-Za-z0-9_\-.~+/]{16,}=*)"
)
_PASSWORD = re.compile(
    r"(?i:(?<![a-z])(?:password|passwd|pwd|passphrase|passcode)(?![a-z]))[\"']?"
    r"(?:(\s*[:=]\s*|\s+(?:is|was)\s+(?:set to\s+)?)|(\s+))"
    r"(?:\"([^\"\n]{1,128})\"|'([^'\n]{1,128})'|([^\s\"',;]{1,128}))"
)


def _password(m: re.Match[str]) -> tuple[int, int] | None:
    i = m.lastindex or 0
    value = m.group(i)
    if i != 5:
        return m.span(i)  # quoted
    value = value.rstrip(".,")
    if m.group(2):
        # "password 12ab!x": with no ':' or 'is' it must look like a password: a digit and a symbol or capital.
        if len(value) < 6 or not any(c.isdigit() for c in value) or value.isdigit() or value.islower():
            return None
    # Prose ("the password: choose one") has plain words; a password has digits, symbols or mixed case.
    elif len(value) < 4 or (value.isalpha() and (value.islower() or value.istitle())):
        return None
    return m.start(5), m.start(5) + len(value)


_API_PREFIXES = ("sk-", "sk_", "pk_", "rk_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xox",
                 "aiza", "hf_", "npm_", "sg.", "eyj", "api", "token", "secret", "bearer")  # fmt: skip
_AWS_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "AROA", "APKA")


def _any_in(needles: tuple[str, ...], lower: bool = False) -> Callable[[str], bool]:
    def gate(text: str) -> bool:
        hay = text.lower() if lower else text
        return any(n in hay for n in needles)

    return gate


_DETECTORS: tuple[_Detector, ...] = (
    _Detector("API_KEY", _API_KEY, _last_group, 9, _any_in(_API_PREFIXES, lower=True)),
    _Detector("AWS_ACCESS_KEY", _AWS_ACCESS, _whole, 9, _any_in(_AWS_PREFIXES)),
    _Detector("AWS_SECRET_KEY", _AWS_SECRET, _aws_secret, 8),
    _Detector(
        "PASSWORD", _PASSWORD, _password, 8, _any_in(("password", "passwd", "pwd", "passphrase", "passcode"), True)
    ),
    _Detector("URL", _URL, _url, 7, lambda t: "://" in t or "www." in t.lower()),
    _Detector("EMAIL", _EMAIL, _whole, 6, anchor=("@", 64, 256)),
    _Detector("IBAN", _IBAN, _iban, 6),
    _Detector("CREDIT_CARD", _CARD, _card, 6, numeric=True, min_digits=13),
    _Detector("US_SSN", _SSN, _ssn, 5, numeric=True, min_digits=9),
    _Detector("US_SSN", _SSN_KEYED, _ssn_keyed, 5, _has_ssn_word),
    _Detector("MAC_ADDRESS", _MAC, _whole, 5),
    _Detector("IP_ADDRESS", _IPV4, _ipv4, 4, numeric=True, min_digits=99),
    _Detector("IP_ADDRESS", _IPV6, _ipv6, 4, anchor=(":", 46, 46)),
    _Detector("PHONE", _PHONE, _phone, 3, numeric=True, min_digits=8),
)
_SCANNED = tuple(d for d in _DETECTORS if not d.numeric)
_NUMERIC = tuple(d for d in _DETECTORS if d.numeric)
# Runs of digits with the separators numbers are written with. Cards, SSNs, IPv4 and phone numbers all lie inside
# one, so their patterns run on these few short runs instead of scanning the whole text four times.
_NUMERIC_RUN = re.compile(r"[+(]?\d[\d().\- ]*\d(?: ?(?:x|ext\.?|extension) ?\d+)?", re.IGNORECASE)
ENTITY_KINDS = tuple(dict.fromkeys(d.kind for d in _DETECTORS))


@dataclass(frozen=True, slots=True)
class Entity:
    start: int
    end: int
    kind: str


def find_entities(text: str, kinds: Iterable[str] | None = None) -> list[Entity]:
    """Entities of the given kinds (all when None), non-overlapping, in text order.

    Every detector runs whatever `kinds` says, so that a number that is an SSN is never reported as a phone
    number merely because only PHONE was asked for; the overlap is settled first, the kinds filtered after."""
    found: list[tuple[int, int, int, str]] = []
    n = len(text)
    for det in _SCANNED:
        if det.anchor is not None:
            _around(det, text, found)
        elif det.gate is None or det.gate(text):
            _collect(det, det.pattern.finditer(text), found)
    for run in _NUMERIC_RUN.finditer(text):
        # One character past the run, so that lookaheads see what follows it; lookbehinds see before `pos`.
        start, end = run.start(), min(n, run.end() + 1)
        value = run.group()
        digits = len(value) - sum(value.count(c) for c in " ().-+")
        dots = value.count(".")
        for det in _NUMERIC:
            if digits >= det.min_digits or (det.kind == "IP_ADDRESS" and dots >= 3):
                _collect(det, det.pattern.finditer(text, start, end), found)
    if not found:
        return []
    found.sort(key=lambda f: (-f[2], f[0] - f[1], f[0]))
    taken: list[tuple[int, int, int, str]] = []
    for f in found:
        if all(f[1] <= t[0] or f[0] >= t[1] for t in taken):
            taken.append(f)
    wanted = None if kinds is None else set(kinds)
    return [Entity(s, e, k) for s, e, _, k in sorted(taken) if wanted is None or k in wanted]


def _collect(det: _Detector, matches: Iterable[re.Match[str]], found: list[tuple[int, int, int, str]]) -> None:
    for m in matches:
        span = det.validate(m)
        if span is not None and span[1] > span[0]:
            found.append((span[0], span[1], det.priority, det.kind))


def _around(det: _Detector, text: str, found: list[tuple[int, int, int, str]]) -> None:
    """Search only near each occurrence of the anchor character (an email's @, an IPv6 address's colons): a few
    short searches instead of a scan of the whole text. Overlapping windows merge, and each window reaches past
    its anchors by more than an entity can, so no entity is cut at a window's edge."""
    assert det.anchor is not None
    char, back, forward = det.anchor
    n = len(text)
    i = text.find(char)
    start = end = -1
    while i != -1:
        if i - back > end:
            if end > start:
                _collect(det, det.pattern.finditer(text, start, end), found)
            start = max(0, i - back)
        end = min(n, i + forward)
        i = text.find(char, i + 1)
    if end > start:
        _collect(det, det.pattern.finditer(text, start, end), found)
