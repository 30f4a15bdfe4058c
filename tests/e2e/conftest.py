"""A real `basalt serve` process on the real bundled model, driven by the official SDKs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx2 as httpx
import openai
import pytest

CONFIG = """
aliases:
  claude-3-5-haiku-latest: smollm2
  gpt-4o-mini: smollm2
  claude-sonnet-4-5: smollm2-135m-instruct
engine:
  context_window: 2048
  max_seqs: 16
"""


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def anthropic(self, **kwargs: object) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key="test-key", max_retries=0, **kwargs)  # type: ignore[arg-type]

    def async_anthropic(self) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(base_url=self.url, api_key="test-key", max_retries=0)

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key="test-key", max_retries=0)

    def async_openai(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.url + "/v1", api_key="test-key", max_retries=0)

    def metrics(self) -> dict[str, float]:
        text = httpx.get(self.url + "/metrics").text
        return {
            line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and not line.startswith("#")
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(basalt_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    config = tmp_path_factory.mktemp("config") / "basalt.yaml"
    config.write_text(CONFIG)
    port = free_port()
    log = (tmp_path_factory.mktemp("logs") / "server.log").open("wb")
    env = {**os.environ, "BASALT_HOME": str(basalt_home)}
    cmd = [sys.executable, "-m", "basalt.cli", "serve", "--port", str(port), "--config", str(config)]
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"basalt serve did not start; see {log.name}")
        time.sleep(0.2)
    yield Server(url, process)
    process.terminate()
    process.wait(timeout=30)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal so the exit status reports it.
    assert process.returncode in (0, -15), "the server did not shut down cleanly"
