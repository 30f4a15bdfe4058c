"""A Ray cluster of separate nodes on this machine, started the way docs/scale-out.md says: `ray start --head` and
`ray start --address` (one CPU each), in a temp dir and on ports of its own, so it never meets another Ray (or the
Redis on 6379). Every node runs under `--block`, so its processes are the `ray start` process's descendants: a node is
killed by killing that tree, and stopped by SIGTERM to `ray start`, which takes its node's processes down with it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ray

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


class RayCluster:
    def __init__(self, cpus: int = 1) -> None:
        self.cpus = cpus
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Short: Ray puts Unix sockets under it, whose paths must stay under 108 bytes.
        self.temp = Path(tempfile.mkdtemp(prefix="bray", dir="/tmp"))
        # A node that stops answering is declared dead after 3 missed checks 0.5 s apart, not Ray's default 5 x 3 s:
        # the calls it held fail over sooner (docs/scale-out.md, failure).
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_health_check_period_ms": "500",
            "RAY_health_check_failure_threshold": "3",
        }
        self.nodes: list[subprocess.Popen[bytes]] = []

    def _start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.temp / f"node-{len(self.nodes)}.log").open("ab")
        cmd = [RAY, "start", *args, f"--num-cpus={self.cpus}", "--disable-usage-stats", "--block"]
        node = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.nodes.append(node)
        return node

    def start(self, workers: int = 1, timeout: float = 120) -> RayCluster:
        self._start("--head", f"--port={self.port}", f"--temp-dir={self.temp}", "--include-dashboard=false")
        deadline = time.monotonic() + timeout
        while True:  # the GCS listens once the head is up
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and self.nodes[0].poll() is None, self.log()
                time.sleep(0.2)
        for _ in range(workers):
            self.add_node()
        ray.init(address=self.address, namespace="basalt", log_to_driver=False)
        self.wait_nodes(1 + workers, deadline - time.monotonic())
        return self

    def add_node(self) -> subprocess.Popen[bytes]:
        return self._start(f"--address={self.address}")

    def wait_nodes(self, alive: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while sum(n["Alive"] for n in ray.nodes()) != alive:
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.2)

    def kill_node(self, node: subprocess.Popen[bytes]) -> None:
        """SIGKILL to every process of the node: its raylet, workers (the replica) and agents, as a machine lost."""
        for pid in process_tree(node.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        node.wait()

    def stop(self) -> None:
        """Every node's processes killed at once: a test cluster has nothing to save, and a graceful stop of each
        node costs seconds."""
        if ray.is_initialized():
            ray.shutdown()
        for node in self.nodes:
            if node.poll() is None:
                self.kill_node(node)
        shutil.rmtree(self.temp, ignore_errors=True)

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(self.temp.glob("node-*.log")))
