"""A Bedrock Runtime stand-in: checks each request's SigV4 signature with botocore's own signer, and answers
ConverseStream with binary event-stream frames in the documented shapes."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ACCESS_KEY, SECRET_KEY, REGION = "AKIDEXAMPLETESTONLY0", "test-secret-key-not-real", "us-west-2"


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    packed = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v.encode())) + v.encode()
        for k, v in headers.items()
    )
    prelude = struct.pack(">II", 12 + len(packed) + len(payload) + 4, len(packed))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + packed + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(kind: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(payload).encode())


def exception(kind: str, message: str) -> bytes:
    return frame(
        {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
        json.dumps({"message": message}).encode(),
    )


class BedrockScript:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.frames: list[bytes] = []
        self.status = 200
        self.signature_ok: list[bool] = []


def expected_signature(request: Request, body: bytes) -> tuple[str, str]:
    auth_header = request.headers["authorization"]
    signed = auth_header.split("SignedHeaders=")[1].split(",")[0].split(";")
    raw_path = request.scope["raw_path"].decode()
    aws = AWSRequest(
        method="POST",
        url=f"http://{request.headers['host']}{raw_path}",
        data=body,
        headers={h: request.headers[h] for h in signed},
    )
    aws.context["timestamp"] = request.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "bedrock", REGION)
    wanted = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
    return wanted, auth_header.split("Signature=")[1]


def build_bedrock_app(script: BedrockScript) -> Starlette:
    async def converse_stream(request: Request) -> Response:
        body = await request.body()
        wanted, got = expected_signature(request, body)
        script.signature_ok.append(wanted == got)
        script.requests.append((request.scope["raw_path"].decode(), json.loads(body)))
        if wanted != got:
            return JSONResponse(
                {"message": "The request signature we calculated does not match"},
                403,
                headers={"x-amzn-ErrorType": "InvalidSignatureException"},
            )
        if script.status != 200:
            return JSONResponse(
                {"message": "Too many requests"}, script.status, headers={"x-amzn-ErrorType": "ThrottlingException"}
            )
        return Response(b"".join(script.frames), media_type="application/vnd.amazon.eventstream")

    return Starlette(routes=[Route("/model/{model:path}/converse-stream", converse_stream, methods=["POST"])])
