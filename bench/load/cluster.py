"""Several tcpchat processes as one chat through Redis, as ``--redis`` runs them.

A :class:`Cluster` starts its own ``redis-server`` (nothing saved, on a unix
socket in a fresh temporary directory, as ``tests/support/redis_server.py``
does) and then ``nodes`` real ``twistd -n tcpchat --redis unix:PATH``
processes, each on its own free loopback port and in its own directory.
It answers what the workloads ask of a :class:`~bench.load.server.Server`
(host, port, CPU seconds, RLIMIT_NOFILE, stop), plus every node's port, so
the generator can deal the clients round-robin over the nodes, and the
CPU seconds of redis-server on their own. Everything is stopped by its pid:
the nodes first (a node frees its keys on SIGTERM), then redis-server.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.load.pool import Pool
from bench.load.server import Server

REDIS_SERVER = "/usr/bin/redis-server"
START_TIMEOUT = 10.0


def redis_command(path: str, *words: str) -> bytes:
    """One command over a short blocking connection to the unix socket; the raw reply."""
    request = f"*{len(words)}\r\n".encode() + b"".join(
        f"${len(word.encode())}\r\n{word}\r\n".encode() for word in words
    )
    with socket.socket(socket.AF_UNIX) as connection:
        connection.settimeout(START_TIMEOUT)
        connection.connect(path)
        connection.sendall(request)
        return connection.recv(65536)


def redis_version() -> str:
    if not Path(REDIS_SERVER).exists():
        return "redis-server not installed"
    out = subprocess.run([REDIS_SERVER, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.split(" sha=")[0].strip()


def process_cpu_seconds(pid: int | None) -> float:
    """User plus system CPU time so far of process ``pid`` (all its threads)."""
    if pid is None:
        return math.nan
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return math.nan
    parts = stat[stat.rindex(")") + 2 :].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


class RedisProcess:
    """A redis-server of our own: unix socket in a temporary directory, nothing saved."""

    def __init__(self) -> None:
        if not Path(REDIS_SERVER).exists():
            raise SystemExit(f"{REDIS_SERVER} is not installed (Debian package redis-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="tcpchat-bench-redis-"))
        self.path = str(self.dir / "redis.sock")
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port", "0",
                "--unixsocket", self.path,
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.dir),
                "--logfile", str(self.dir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.pid = self.proc.pid
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"redis-server exited: see {self.dir}/redis.log")
            with contextlib.suppress(OSError):
                if redis_command(self.path, "PING") == b"+PONG\r\n":
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"redis-server did not answer within {START_TIMEOUT:g} s")
            time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"unix:{self.path}"

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"  redis-server {self.pid} ignored SIGTERM; killing it", file=sys.stderr)
            self.proc.kill()
            self.proc.wait(START_TIMEOUT)
        shutil.rmtree(self.dir, ignore_errors=True)


class Cluster:
    """``nodes`` tcpchat processes over one redis-server of our own, for one run."""

    def __init__(self, opts: argparse.Namespace, label: str, nodes: int) -> None:
        self.redis = RedisProcess()
        self.nodes: list[Server] = []
        try:
            for n in range(nodes):
                self.nodes.append(
                    Server(
                        opts,
                        f"{label}-{nodes}nodes-node{n}",
                        ["--redis", self.redis.url],
                        profiled=n == 0,
                    )
                )
        except BaseException:
            self._stop_nodes(None)
            self.redis.stop()
            raise
        first = self.nodes[0]
        self.host, self.port, self.pid = first.host, first.port, first.pid
        self.ports = [node.port for node in self.nodes]
        self.log = first.log

    def cpu_seconds(self) -> float:
        """The tcpchat processes' CPU seconds so far, all nodes together."""
        return sum(node.cpu_seconds() for node in self.nodes)

    def redis_cpu_seconds(self) -> float:
        return self.redis.cpu_seconds()

    def memory_mb(self) -> dict[str, float]:
        parts = [node.memory_mb() for node in self.nodes]
        return {key: sum(p[key] for p in parts) for key in ("VmRSS", "VmHWM")}

    def nofile(self) -> str:
        return self.nodes[0].nofile()

    def logs(self) -> list[Path]:
        return [node.log for node in self.nodes if node.log is not None]

    def _stop_nodes(self, pool: Pool | None) -> None:
        if pool is not None:
            pool.send("drain")
        for node in self.nodes:
            node.terminate()
        if pool is not None:
            pool.recv()
        for node in self.nodes:
            node.reap()

    def stop(self, pool: Pool | None) -> None:
        """SIGTERM every node while the clients drain, then stop redis-server."""
        try:
            self._stop_nodes(pool)
        finally:
            self.redis.stop()

    def remove_logs(self) -> None:
        for log in self.logs():
            shutil.rmtree(log.parent, ignore_errors=True)
