"""Start-up of the real ``twistd tcpchat``: failures to listen and MOTD checks, with and without -n.

A failure to listen ends twistd quickly with one line, whether it runs in
the foreground (``-n``) or would daemonise, and leaves no pidfile behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.servers import (
    HOST,
    START_TIMEOUT,
    LineConnection,
    RunningServer,
    daemonised,
    foreground,
    run_twistd,
)

pytestmark = pytest.mark.e2e

EXIT_TIMEOUT = 10.0


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port something else listens on."""
    with socket.create_server((HOST, 0)) as holder:
        yield int(holder.getsockname()[1])


def run_to_end(workdir: Path, arguments: list[str]) -> subprocess.CompletedProcess[str]:
    """Run twistd to its end (at most EXIT_TIMEOUT seconds), output captured."""
    return run_twistd(workdir, arguments, timeout=EXIT_TIMEOUT)


def lines(text: str) -> list[str]:
    return text.splitlines()


def test_port_in_use_in_the_foreground_is_one_line(tmp_path: Path, taken_port: int) -> None:
    """With -n, a port in use prints one line in all (stdout and stderr together), exit 1."""
    listen = f"tcp:{taken_port}:interface={HOST}"
    done = run_to_end(tmp_path, foreground("--db", "", "--listen", listen))
    assert done.returncode == 1
    assert lines(done.stdout + done.stderr) == [
        f"tcpchat: cannot listen on {listen}: Address already in use"
    ]


def test_port_in_use_as_a_daemon_exits_at_once(tmp_path: Path, taken_port: int) -> None:
    """Without -n, a port in use ends twistd within seconds, one line, and no pidfile."""
    pidfile = tmp_path / "twistd.pid"
    listen = f"tcp:{taken_port}:interface={HOST}"
    done = run_to_end(tmp_path, daemonised(pidfile, tmp_path / "twistd.log",
                                           "--db", "", "--listen", listen))
    assert done.returncode != 0
    assert lines(done.stderr) == [f"tcpchat: cannot listen on {listen}: Address already in use"]
    assert not pidfile.exists()


def test_unix_lock_held_as_a_daemon_exits_at_once(
    tmp_path: Path, start_server: Callable[..., RunningServer],
) -> None:
    """A unix socket whose lock another server holds ends a daemonising twistd too, no pidfile.

    A unix endpoint listens only once twistd has daemonised (its lock file
    names the listening process), so twistd itself reports the failure.
    """
    path = tmp_path / "chat.sock"
    start_server("--db", "", "--listen", f"unix:{path}")
    pidfile = tmp_path / "second.pid"
    done = run_to_end(tmp_path, daemonised(pidfile, tmp_path / "second.log",
                                           "--db", "", "--listen", f"unix:{path}"))
    assert done.returncode != 0
    assert "cannot listen on unix:" in done.stderr
    # The parent reports the child's failure as soon as it hears of it; the child
    # removes its pidfile on its way out, a moment later on a busy machine.
    deadline = time.monotonic() + 5
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pidfile.exists()


def wait_for_file(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} not written within {timeout}s"
        time.sleep(0.05)


def test_daemon_serves_on_the_port_it_listened_on_before_forking(tmp_path: Path) -> None:
    """Listening before twistd daemonises still leaves a daemon that greets and stops cleanly."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = int(probe.getsockname()[1])
    pidfile = tmp_path / "twistd.pid"
    done = run_to_end(tmp_path, daemonised(pidfile, tmp_path / "twistd.log",
                                           "--db", "", "--listen", f"tcp:{port}:interface={HOST}"))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    wait_for_file(pidfile, START_TIMEOUT)
    daemon = int(pidfile.read_text())
    try:
        connection = LineConnection(HOST, port)
        connection.join("alice")
        connection.close()
    finally:
        os.kill(daemon, signal.SIGTERM)
    deadline = time.monotonic() + EXIT_TIMEOUT
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pidfile.exists()  # twistd removes it once the reactor has stopped
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, port), timeout=1).close()


def motd_of(tmp_path: Path, sent_bytes: int) -> Path:
    """A MOTD file whose lines, as the server sends them, take ``sent_bytes`` bytes."""
    path = tmp_path / "motd.txt"
    line = "m" * 994  # "*** " + 994 letters + CRLF: 1000 bytes on the wire
    path.write_text("\n".join([line] * (sent_bytes // 1000)) + "\n")
    return path


def test_motd_too_large_for_the_send_queue_is_refused(tmp_path: Path) -> None:
    """A MOTD over half the send queue ends start-up with one line and exit 2."""
    motd = motd_of(tmp_path, 600_000)
    done = run_to_end(tmp_path, foreground("--db", "", "--motd", str(motd),
                                           "--listen", f"tcp:0:interface={HOST}"))
    assert done.returncode == 2
    [line] = lines(done.stdout + done.stderr)
    assert "600000 bytes as sent, more than half of --sendq (1048576 bytes)" in line


def test_large_motd_within_the_send_queue_reaches_every_client(
    tmp_path: Path, start_server: Callable[..., RunningServer],
) -> None:
    """A MOTD of just under half the send queue is sent whole, to a client that reads late."""
    server = start_server("--db", "", "--motd", str(motd_of(tmp_path, 520_000)))
    late, prompt = server.connect(), server.connect()
    prompt.join("bob")
    time.sleep(0.5)  # the late reader's greeting waits in the server's queue meanwhile
    seen = [late.read_line() for _ in range(522)]
    assert seen[0] == "*** Welcome to tcpchat." and seen[-1].startswith("*** Please choose")
    assert seen[1:-1] == ["*** " + "m" * 994] * 520
    late.close()
    prompt.close()
