"""AWS Signature Version 4, both ways: signing what Basalt sends to AWS (the Bedrock provider) and verifying what
clients sign for Basalt (the Bedrock dialect, through the control plane). Both build the canonical request with the
same functions, so the two directions cannot drift apart.

The canonical request is botocore's (`botocore.auth.SigV4Auth`, the oracle in tests/control/test_sigv4.py): the path
as sent, with empty and dot segments removed and percent-encoded once more (every service but S3 double-encodes, so
`/model/arn%3Aaws%3A...` is signed as `/model/arn%253Aaws%253A...`); the query's names and values each encoded with
only the unreserved characters bare, sorted; the signed headers lowercased, their values trimmed and inner runs of
spaces folded, repeats joined with commas; the payload's SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote, unquote_plus, urlsplit

from ..errors import SignatureRefused

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "bedrock"  # the signing name of bedrock-runtime, whatever the region
MAX_SKEW_SECONDS = 300.0  # how far x-amz-date may be from the server's clock, either way (AWS: 5 minutes)
MAX_AUTHORIZATION_CHARS = 4096  # botocore's are about 200 + 20 per signed header
MAX_SIGNED_HEADERS = 64
UNRECOGNIZED = "The security token included in the request is invalid."
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key "
    "and signing method. Consult the service documentation for details."
)
_DATE = re.compile(r"\d{8}T\d{6}Z")
_ACCESS_KEY = re.compile(r"[A-Za-z0-9]{1,128}")
_REGION = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]{1,128}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
# Headers botocore never signs (hop-by-hop, tracing, user agent): a proxy may change them, so they may go unsigned.
_UNSIGNABLE = frozenset({"x-amzn-trace-id"})


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None


@dataclass(frozen=True)
class SignedRequest:
    """A request as it arrived: the path and query exactly as sent (still percent-encoded, as the ASGI scope's
    `raw_path` and `query_string` hold them), every header with repeats kept (Starlette's `headers.items()`)."""

    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Claim:
    """What the Authorization header says, checked for everything that needs no secret."""

    access_key: str
    amz_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    payload_hash: str  # of the body as it arrived, never what the client says it is

    @property
    def scope(self) -> str:
        return f"{self.amz_date[:8]}/{self.region}/{self.service}/aws4_request"


# The canonical request, shared by both directions ------------------------------------------------------------------


def canonical_uri(path: str) -> str:
    """The path as sent, normalised as botocore does (`remove_dot_segments`, which also drops empty segments), then
    percent-encoded again."""
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    normal = ("/" if path.startswith("/") else "") + "/".join(kept) + ("/" if path.endswith("/") and kept else "")
    return quote(normal, safe="/~")


def canonical_query(query: str, plus_is_space: bool = False) -> str:
    """Each name and value decoded and encoded again with only unreserved characters left bare, sorted by name then
    value: the same string however the client chose to encode its query, and botocore's for what it sends."""
    if not query:
        return ""
    decode = unquote_plus if plus_is_space else unquote
    pairs = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        pairs.append((quote(decode(name), safe="-_.~"), quote(decode(value), safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def canonical_queries(query: str) -> list[str]:
    """The forms a signer may have given the query it sent: re-encoded as the spec says (botocore signing its
    parameters, boto3's own requests), with `+` as a form-encoded space (a URL its HTTP library form-encoded), or
    as sent, only sorted (botocore signing a URL it was handed). Each is a function of what arrived, so accepting any
    lets no one change a query's meaning without the secret."""
    if not query:
        return [""]
    pairs = sorted(part.partition("=")[::2] for part in query.split("&"))
    forms = [canonical_query(query), canonical_query(query, plus_is_space=True), "&".join(f"{k}={v}" for k, v in pairs)]
    return list(dict.fromkeys(forms))


def canonical_headers(headers: Iterable[tuple[str, str]], signed: Sequence[str]) -> str:
    values: dict[str, list[str]] = {name: [] for name in signed}
    for name, value in headers:
        found = values.get(name.lower())
        if found is not None:
            found.append(" ".join(value.split()))
    return "".join(f"{name}:{','.join(values[name])}\n" for name in signed)


def canonical_request(
    method: str, path: str, query: str, headers: Iterable[tuple[str, str]], signed: Sequence[str], payload_hash: str
) -> str:
    """`query` here is in canonical form already (canonical_query or one of canonical_queries)."""
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            query,
            canonical_headers(headers, signed),
            ";".join(signed),
            payload_hash,
        ]
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])


def signature(secret_key: str, day: str, region: str, service: str, to_sign: str) -> str:
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


# Signing (the client side) ----------------------------------------------------------------------------------------


def sign(
    method: str,
    url: str,
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str = SERVICE,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers that sign a request (host, x-amz-date, authorization, and the session token if any)."""
    amz_date = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    parts = urlsplit(url)
    headers = {"host": parts.netloc, "x-amz-date": amz_date}
    if credentials.session_token:
        headers["x-amz-security-token"] = credentials.session_token
    signed = sorted(headers)
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical = canonical_request(
        method, parts.path, canonical_query(parts.query), headers.items(), signed, payload_hash
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = string_to_sign(amz_date, scope, canonical)
    signed_by = signature(credentials.secret_key, amz_date[:8], region, service, to_sign)
    headers["authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signed_by}"
    )
    return headers


# Verifying (the server side) --------------------------------------------------------------------------------------


def is_signed(headers: Iterable[tuple[str, str]]) -> bool:
    """Whether a request carries a SigV4 Authorization header (rather than a bearer key, or nothing)."""
    return any(n.lower() == "authorization" and v.lstrip().startswith(ALGORITHM) for n, v in headers)


def read(request: SignedRequest, now: float, service: str = SERVICE) -> Claim:
    """The request's claim, refused for anything wrong that needs no secret to see: a malformed header, another
    service, a timestamp out of the allowed skew, a payload hash that is not the body's, unsigned AWS headers."""
    given = _single(request.headers, "authorization")
    if given is None:
        raise SignatureRefused("Missing Authentication Token", "MissingAuthenticationTokenException")
    fields = _fields(given)
    access_key, day, region, scoped_service, terminator = _credential(fields["Credential"])
    signed = _signed_headers(fields["SignedHeaders"])
    if not _SIGNATURE.fullmatch(fields["Signature"]):
        raise SignatureRefused("Signature must be 64 lowercase hexadecimal characters.", "IncompleteSignatureException")
    if scoped_service != service:
        raise SignatureRefused(f"Credential should be scoped to correct service: '{service}'.")
    if terminator != "aws4_request":
        raise SignatureRefused(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not {terminator[:40]!r}."
        )
    amz_date = _timestamp(request.headers, now)
    if amz_date[:8] != day:
        raise SignatureRefused(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{day}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    for needed in ("host", "x-amz-date"):
        if needed not in signed:
            raise SignatureRefused(f"'{needed}' must be a 'SignedHeader' in the AWS Authorization.")
    _all_aws_headers_signed(request.headers, signed)
    payload_hash = hashlib.sha256(request.body).hexdigest()
    _payload_hash_matches(request.headers, payload_hash)
    return Claim(access_key, amz_date, region, scoped_service, signed, fields["Signature"], payload_hash)


def verify(request: SignedRequest, claim: Claim, secret_key: str) -> None:
    """Refuses a request whose signature is not the one `secret_key` makes of it (compared in constant time)."""
    matched = False
    for query in canonical_queries(request.query):
        canonical = canonical_request(
            request.method, request.path, query, request.headers, claim.signed_headers, claim.payload_hash
        )
        to_sign = string_to_sign(claim.amz_date, claim.scope, canonical)
        wanted = signature(secret_key, claim.amz_date[:8], claim.region, claim.service, to_sign)
        matched |= hmac.compare_digest(wanted, claim.signature)
    if not matched:
        raise SignatureRefused(MISMATCH)


def _single(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    found = [v for n, v in headers if n.lower() == name]
    if len(found) > 1:
        raise _incomplete(f"The request carries {len(found)} {name} headers; send one.")
    return found[0] if found else None


def _incomplete(message: str) -> SignatureRefused:
    return SignatureRefused(message, "IncompleteSignatureException")


def _fields(given: str) -> dict[str, str]:
    if len(given) > MAX_AUTHORIZATION_CHARS:
        raise _incomplete(f"The Authorization header is longer than {MAX_AUTHORIZATION_CHARS} characters.")
    algorithm, _, rest = given.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported Authorization type {algorithm[:40]!r}: sign with {ALGORITHM}.")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if not eq or name in fields:
            raise _incomplete(f"Authorization header is malformed near {part.strip()[:60]!r}.")
        fields[name] = value.strip()
    missing = [f for f in ("Credential", "SignedHeaders", "Signature") if f not in fields]
    if missing:
        raise _incomplete(" ".join(f"Authorization header requires '{f}' parameter." for f in missing))
    if len(fields) != 3:
        raise _incomplete("Authorization header takes only Credential, SignedHeaders and Signature.")
    return fields


def _credential(value: str) -> tuple[str, str, str, str, str]:
    parts = value.split("/")
    if len(parts) != 5:
        raise _incomplete(
            f"Credential should have 5 '/'-separated parts (access key id/YYYYMMDD/region/service/aws4_request), "
            f"not {len(parts)}."
        )
    access_key, day, region, service, terminator = parts
    if not _ACCESS_KEY.fullmatch(access_key):
        raise SignatureRefused(UNRECOGNIZED, "UnrecognizedClientException")
    if not re.fullmatch(r"\d{8}", day):
        raise SignatureRefused(f"Credential should be scoped to a valid date (YYYYMMDD), not {day[:20]!r}.")
    if not _REGION.fullmatch(region):
        raise SignatureRefused("Credential should be scoped to a valid region.")
    return access_key, day, region, service, terminator


def _signed_headers(value: str) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if len(names) > MAX_SIGNED_HEADERS:
        raise _incomplete(f"SignedHeaders names more than {MAX_SIGNED_HEADERS} headers.")
    if len(set(names)) != len(names) or not all(_HEADER_NAME.fullmatch(n) for n in names):
        raise _incomplete("SignedHeaders must be distinct lowercase header names separated by ';'.")
    return names


def _timestamp(headers: Sequence[tuple[str, str]], now: float) -> str:
    amz_date = _single(headers, "x-amz-date")
    if amz_date is None:
        raise _incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
    amz_date = amz_date.strip()
    try:
        if not _DATE.fullmatch(amz_date):
            raise ValueError(amz_date)
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        wrong = f"X-Amz-Date must be an ISO 8601 basic time like 20260101T120000Z, not {amz_date[:40]!r}."
        raise _incomplete(wrong) from None
    if signed_at < now - MAX_SKEW_SECONDS:
        earliest = _format(now - MAX_SKEW_SECONDS)
        raise SignatureRefused(
            f"Signature expired: {amz_date} is now earlier than {earliest} ({_format(now)} - 5 min.)"
        )
    if signed_at > now + MAX_SKEW_SECONDS:
        latest = _format(now + MAX_SKEW_SECONDS)
        raise SignatureRefused(
            f"Signature not yet current: {amz_date} is still later than {latest} ({_format(now)} + 5 min.)"
        )
    return amz_date


def _format(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y%m%dT%H%M%SZ")


def _all_aws_headers_signed(headers: Iterable[tuple[str, str]], signed: Sequence[str]) -> None:
    # An AWS header left out of the signature could be added to a captured request and change what it does
    # (a guardrail, a trace flag) while the signature still holds; botocore signs every one it sends.
    for name, _ in headers:
        lowered = name.lower()
        if lowered.startswith(("x-amz-", "x-amzn-")) and lowered not in _UNSIGNABLE and lowered not in signed:
            raise SignatureRefused(f"Header {lowered[:128]!r} is not signed; sign every x-amz-* and x-amzn-* header.")


def _payload_hash_matches(headers: Sequence[tuple[str, str]], payload_hash: str) -> None:
    claimed = _single(headers, "x-amz-content-sha256")
    if claimed is None:
        return
    claimed = claimed.strip().lower()
    if claimed == "unsigned-payload" or claimed.startswith("streaming-"):
        raise SignatureRefused("Basalt verifies the payload: sign the body's SHA-256, not an unsigned payload.")
    if not hmac.compare_digest(claimed.encode(), payload_hash.encode()):
        raise SignatureRefused("The provided 'x-amz-content-sha256' header does not match what was computed.")
