"""A Basalt server on a real port for the Bedrock clients (boto3, AnthropicBedrock, LangChain), which need a URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
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


def bedrock_client(url: str, **config: Any) -> Any:
    """boto3's bedrock-runtime client, unmodified, pointed at Basalt; no retries, so a test sees each answer."""
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
    )
