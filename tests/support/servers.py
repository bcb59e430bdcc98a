"""The real server, really started: ``twistd tcpchat`` from this checkout, on a free loopback port.

How twistd is started is written once, here: :func:`twistd_command` runs
twistd with the Python running the tests, with the checkout's root first on
``PYTHONPATH`` (:func:`checkout_environment`), so the child imports ``chat``
and finds ``twisted/plugins/tcpchat_plugin.py`` from this checkout rather than
from an installed copy. :func:`start_twistd` starts one that runs on,
:func:`run_twistd` one that is expected to end by itself (a refusal, ``--help``,
a daemon's parent); :func:`foreground` and :func:`daemonised` build their
arguments. :class:`RunningServer` is one ``twistd -n tcpchat`` used by the
end-to-end tests through the fixtures in ``conftest.py``;
:class:`LineConnection` is a small blocking socket client with timeouts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"
START_TIMEOUT = 15.0
LINE_TIMEOUT = 5.0
EXIT_TIMEOUT = 20.0
ADMIN_TIMEOUT = 20.0
"""Seconds ``tcpchat-admin`` may take (a password hash included)."""
ROOT = Path(__file__).resolve().parents[2]
"""The checkout whose tests run: its ``chat`` and ``twisted/plugins`` are the ones started."""

# What the twistd script does, named "twistd" in its usage and errors. -P keeps
# the working directory (a test's tmp_path) off sys.path.
_TWISTD_MAIN = (
    "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; sys.exit(run())"
)


def checkout_environment(root: Path = ROOT) -> dict[str, str]:
    """A child program's environment: ``root`` first on PYTHONPATH, this Python's scripts on PATH.

    twistd looks for plugins in every ``twisted/plugins`` folder on sys.path,
    so ``root`` first also makes its plugin the one found first.
    """
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(root), environment.get("PYTHONPATH")])
    )
    environment["PATH"] = os.pathsep.join(
        filter(None, [str(Path(sys.executable).parent), environment.get("PATH")])
    )
    return environment


def add_account(db: Path, nick: str, password: str) -> None:
    """``tcpchat-admin --db DB add NICK``, the password in TCPCHAT_PASSWORD."""
    environment = {**checkout_environment(), "TCPCHAT_PASSWORD": password}
    done = subprocess.run(
        [sys.executable, "-m", "chat.admin", "--db", str(db), "add", nick],
        cwd=db.parent, env=environment, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=ADMIN_TIMEOUT, check=False,
    )
    assert (done.returncode, done.stderr) == (0, ""), done


def twistd_command(arguments: Sequence[str]) -> list[str]:
    """The command line that runs twistd with ``arguments`` under the Python running the tests."""
    return [sys.executable, "-P", "-c", _TWISTD_MAIN, *arguments]


def foreground(*tcpchat_arguments: str) -> list[str]:
    """twistd's arguments for ``twistd -n tcpchat ARGS``: in the foreground, no pidfile."""
    return ["-n", "--pidfile=", "tcpchat", *tcpchat_arguments]


def daemonised(pidfile: Path, logfile: Path, *tcpchat_arguments: str) -> list[str]:
    """twistd's arguments for a daemon writing ``pidfile`` and ``logfile``."""
    return [f"--pidfile={pidfile}", f"--logfile={logfile}", "tcpchat", *tcpchat_arguments]


def start_twistd(
    workdir: Path, arguments: Sequence[str], output: IO[bytes], root: Path = ROOT
) -> subprocess.Popen[bytes]:
    """Start twistd in ``workdir``, its stdout and stderr both to ``output``; it runs on."""
    return subprocess.Popen(
        twistd_command(arguments), cwd=workdir, env=checkout_environment(root),
        stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )


def run_twistd(
    workdir: Path, arguments: Sequence[str], *, timeout: float = EXIT_TIMEOUT,
    merge_output: bool = False, root: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """Run twistd in ``workdir`` until it ends by itself (killed after ``timeout`` seconds).

    For a start expected to fail, ``--help``, or a daemon's parent. Its output
    is captured, stderr into stdout when ``merge_output``.
    """
    return subprocess.run(
        twistd_command(arguments), cwd=workdir, env=checkout_environment(root),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge_output else subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True, timeout=timeout, check=False,
    )


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

    def arguments(self) -> list[str]:
        """twistd's arguments: in the foreground, on this server's port, with its options."""
        return foreground("--listen", f"tcp:{self.port}:interface={self.host}", *self.args)

    def start(self) -> RunningServer:
        """Start the server and wait until it says it is listening."""
        with self.log_path.open("ab") as log:
            already = log.tell()
            self.process = start_twistd(self.workdir, self.arguments(), log)
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
    with all_running(workdir, [list(args)]) as (server,):
        yield server


@contextlib.contextmanager
def all_running(
    workdir: Path, each_arguments: Sequence[Sequence[str]]
) -> Iterator[list[RunningServer]]:
    """One server per list of tcpchat arguments, started in turn (the nodes of a cluster);
    at the end every one started is stopped, or killed if it does not stop."""
    started: list[RunningServer] = []
    try:
        for arguments in each_arguments:
            started.append(RunningServer(workdir, list(arguments)).start())
        yield started
    finally:
        for server in started:
            try:
                server.stop()
            finally:
                server.kill()

