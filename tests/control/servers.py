"""`basalt serve` processes for the multi-replica and crash tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`prefix` runs the server under another command, e.g. `unshare --pid --fork` to make it pid 1 of a new pid
    namespace; `kill` then kills that pid 1 (the prefix's child), as `docker kill` would."""

    def __init__(
        self, home: Path, config: dict[str, Any], port: int | None = None, prefix: tuple[str, ...] = ()
    ) -> None:
        self.home = home
        self.prefix = prefix
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = home / f"basalt-{self.port}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Server:
        log = (self.home / f"server-{self.port}.log").open("ab")
        env = {**os.environ, "BASALT_HOME": str(self.home)}
        cmd = [sys.executable, "-m", "basalt.cli", "serve", "--port", str(self.port), "--config", str(self.config_path)]
        self.process = subprocess.Popen([*self.prefix, *cmd], env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"basalt serve did not start; see {log.name}")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            for pid in self.served_by():
                os.kill(pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait()

    def served_by(self) -> list[int]:
        """The server's own pid: the prefix's child when there is a prefix."""
        assert self.process is not None
        if not self.prefix:
            return [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            for pid in self.served_by():
                os.kill(pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
