"""A Basalt server on a real port for the Bedrock clients (boto3, AnthropicBedrock, LangChain), which need a URL."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import trustme
import uvicorn
from botocore.config import Config

from basalt import Settings
from basalt.app import create_app

from ..fakes.upstream import serving

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
ACCESS, SECRET = "AKIDBASALTTESTONLY00", "not-a-real-secret"  # boto3 signs with whatever it has; auth off: unchecked


@contextmanager
def basalt_server(settings: Settings) -> Iterator[str]:
    with serving(create_app(settings)) as url:
        yield url


@contextmanager
def tls_basalt_server(settings: Settings, folder: Path) -> Iterator[tuple[str, str]]:
    """Basalt over https with a certificate from a CA made here: botocore sends a Bedrock API key (Bearer) only to
    an https endpoint. Yields the URL and the CA bundle's path, for the clients' `verify`."""
    ca = trustme.CA()
    chain, bundle = folder / "server.pem", folder / "ca.pem"
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(chain))
    ca.cert_pem.write_to_path(str(bundle))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="error", ssl_certfile=str(chain)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"https://127.0.0.1:{port}", str(bundle)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def bedrock_client(url: str, verify: str | None = None, **config: Any) -> Any:
    """boto3's bedrock-runtime client, unmodified, pointed at Basalt; no retries, so a test sees each answer."""
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        verify=verify,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
    )
