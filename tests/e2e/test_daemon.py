"""Daemon mode end to end: ``twistd --pidfile=… --logfile=… tcpchat``, without ``-n``.

twistd forks before the server starts: history must still be written by the
process that runs, and kept across a stop (by the pid in the pidfile) and a
start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.checked import Client
from tests.support.servers import HOST, START_TIMEOUT, daemonised, free_port, run_twistd

pytestmark = pytest.mark.e2e

STOP_TIMEOUT = 15.0
REFUSED_WITHIN = 5.0
"""Seconds a refused daemon may take to exit: well under START_TIMEOUT, after which
``launch`` would give up anyway."""


class Daemon:
    """A tcpchat server started by twistd in daemon mode, in a folder of its own."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.pidfile = workdir / "twistd.pid"
        self.logfile = workdir / "twistd.log"

    def launch(self) -> subprocess.CompletedProcess[str]:
        """Run twistd until its first process returns (the daemon runs on)."""
        arguments = daemonised(
            self.pidfile, self.logfile, "--listen", f"tcp:{self.port}:interface={HOST}"
        )
        return run_twistd(self.workdir, arguments, timeout=START_TIMEOUT)

    def start(self) -> None:
        """Start the daemon and wait until its log says it listens."""
        already = len(self.log())
        launched = self.launch()
        assert launched.returncode == 0, launched.stderr
        deadline = time.monotonic() + START_TIMEOUT
        while "tcpchat listening on" not in self.log()[already:]:
            assert time.monotonic() < deadline, f"not listening:\n{self.log()}"
            time.sleep(0.05)

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the pid in the pidfile and wait until that process has ended."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT
        while alive(pid):
            assert time.monotonic() < deadline, f"{pid} still running:\n{self.log()}"
            time.sleep(0.05)

    def client(self, nick: str) -> Client:
        client = Client(HOST, self.port)
        client.join(nick)
        return client


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended but not yet reaped by init, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    started = Daemon(tmp_path)
    yield started
    started.stop(signal.SIGKILL)


def test_history_and_ids_survive_a_daemon_restart(daemon: Daemon) -> None:
    """Said to a daemon, stopped by its pidfile, started again: history and ids are there."""
    daemon.start()
    alice = daemon.client("alice")
    alice.send_line("/ids")
    alice.expect("message ids on")
    alice.send_line("said before the restart")
    first_id = int(alice.expect(lambda line: line.startswith("@id="))[4:])
    alice.leave()
    daemon.stop()

    daemon.start()
    bob = daemon.client("bob")
    bob.expect("history of lobby")
    assert bob.read_line().endswith("<alice> said before the restart")
    bob.send_line("/ids")
    bob.expect("message ids on")
    bob.send_line("said after the restart")
    assert int(bob.expect(lambda line: line.startswith("@id="))[4:]) > first_id
    bob.leave()


def test_a_second_daemon_on_the_same_database_exits_with_one_line(
    daemon: Daemon, tmp_path: Path
) -> None:
    """A daemon started on a --db another server holds exits non-zero at once, saying why."""
    daemon.start()
    second = Daemon(tmp_path)
    second.pidfile = tmp_path / "second.pid"
    started = time.monotonic()
    launched = second.launch()
    assert launched.returncode != 0
    assert time.monotonic() - started < REFUSED_WITHIN
    printed = [line for line in launched.stderr.splitlines() if line.strip()]
    assert len(printed) == 1, printed
    assert "tcpchat.db" in printed[0] and "another tcpchat server" in printed[0]
