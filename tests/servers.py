"""The real server, really started: ``twistd -n tcpchat`` on a free loopback port.

Used by the end-to-end tests through the fixtures in ``conftest.py``;
:class:`LineConnection` is a small blocking socket client with timeouts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT = 15.0
LINE_TIMEOUT = 5.0


def twistd() -> str:
    """The twistd script of the Python running the tests."""
    beside = Path(sys.executable).with_name("twistd")
    if beside.exists():
        return str(beside)
    found = shutil.which("twistd")
    if found is None:
        raise RuntimeError("twistd is not installed: pip install -e '.[test]'")
    return found


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class RunningServer:
    """One ``twistd -n tcpchat`` process and the files it works in."""

    def __init__(self, workdir: Path, args: list[str], port: int | None = None) -> None:
        self.workdir = workdir
        self.args = args
        self.host = HOST
        self.port = port if port is not None else free_port()
        self.log_path = workdir / f"twistd-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"tcp:{self.host}:{self.port}"

    def command(self) -> list[str]:
        listen = f"tcp:{self.port}:interface={self.host}"
        return [twistd(), "-n", "--pidfile=", "tcpchat", "--listen", listen, *self.args]

    def start(self) -> RunningServer:
        """Start the server and wait until it says it is listening."""
        log = self.log_path.open("ab")
        already = log.tell()
        self.process = subprocess.Popen(
            self.command(), cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if "tcpchat listening on" in self.log()[already:]:
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"twistd exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"twistd did not listen within {START_TIMEOUT}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` and wait for the exit; returns the exit status."""
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        self.process = None
        return process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def restart(self) -> RunningServer:
        """Stop with SIGTERM and start again on the same port."""
        self.stop()
        return self.start()

    def connect(self, nick: str | None = None) -> LineConnection:
        """A socket connected to the server, joined as ``nick`` if given."""
        connection = LineConnection(self.host, self.port)
        if nick is not None:
            connection.join(nick)
        return connection


class LineConnection:
    """A blocking line client for tests: send bytes, wait for lines."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=LINE_TIMEOUT)
        self.buffer = b""
        self.seen: list[str] = []

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def send_line(self, text: str) -> None:
        self.send(text + "\n")

    def read_line(self, timeout: float = LINE_TIMEOUT) -> str:
        """The next line, decoded, without its CRLF; raises on timeout or EOF."""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no complete line within {timeout}s; seen: {self.seen[-5:]}")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; seen: {self.seen[-5:]}")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\r\n", 1)
        line = raw.decode("utf-8")
        self.seen.append(line)
        return line

    def expect(self, wanted: str | Callable[[str], bool], timeout: float = LINE_TIMEOUT) -> str:
        """Read lines until one contains ``wanted`` (or satisfies it); return it."""
        matches = wanted if callable(wanted) else (lambda line: wanted in line)
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(max(0.0, deadline - time.monotonic()))
            if matches(line):
                return line

    def join(self, nick: str) -> str:
        self.expect("choose a nickname")
        self.send_line(nick)
        return self.expect(f"Welcome, {nick}!")

    def read_until_closed(self, timeout: float = LINE_TIMEOUT) -> bytes:
        """Everything the server sends until it closes the connection."""
        deadline = time.monotonic() + timeout
        data = self.buffer
        self.buffer = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"still open after {timeout}s")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@contextlib.contextmanager
def running(workdir: Path, *args: str) -> Iterator[RunningServer]:
    server = RunningServer(workdir, list(args)).start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            server.kill()


def environment_with_project() -> dict[str, str]:
    """The environment for child programs, with this Python's scripts first on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


