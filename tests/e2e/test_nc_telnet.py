"""The real server with the real ``nc`` (netcat-openbsd) and ``telnet`` programs as clients.

Programs run with pipes, or, for telnet's Ctrl-C, in a pseudo-terminal as a
person would use them. The tests share one server that replays no history
and end every connection they open, so each finds the room empty. nc and
telnet come from ``apt-get install -y telnet netcat-openbsd``; the tests
that need one are skipped, saying so, when it is missing.
"""

from __future__ import annotations

import os
import pty
import queue
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.checked import Client, notice
from tests.support.servers import LINE_TIMEOUT, RunningServer

pytestmark = pytest.mark.e2e

TIMEOUT = 10.0
# Sent with the reply to a peer's first telnet command: the server asks for 8-bit input.
IAC_DO_BINARY = b"\xff\xfd\x00"


def installed(name: str, apt_package: str) -> str:
    """The path of program ``name``, or skip the test saying how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed: apt-get install -y {apt_package}")
    return path


@pytest.fixture
def nc() -> str:
    """The path of netcat-openbsd's ``nc`` (the one with ``-N``, ``-q`` and ``-C``)."""
    path = installed("nc", "netcat-openbsd")
    usage = subprocess.run(
        [path, "-h"], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if "OpenBSD" not in usage.stdout + usage.stderr:
        pytest.skip(f"{path} is not netcat-openbsd: apt-get install -y netcat-openbsd")
    return path


@pytest.fixture
def telnet() -> str:
    """The path of the ``telnet`` program."""
    return installed("telnet", "telnet")


@pytest.fixture(scope="module")
def server(quiet_server: RunningServer) -> RunningServer:
    return quiet_server


class Program:
    """A client program run with pipes; its output is read line by line in a thread."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.output: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.put(line)
        self.output.put(b"")

    def type(self, text: str) -> None:
        """Write ``text`` to the program's standard input."""
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def expect(self, *words: str) -> bytes:
        """The first line of output from now on that holds every one of ``words``."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            line = self.output.get(timeout=max(0.01, deadline - time.monotonic()))
            assert line, f"output ended while waiting for {words}"
            if all(word.encode() in line for word in words):
                return line

    def end_input(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def wait(self) -> int:
        return self.process.wait(TIMEOUT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)


@pytest.fixture
def programs() -> Iterator[Callable[..., Program]]:
    """Start client programs; any still running at the end of the test is killed."""
    started: list[Program] = []

    def start(*args: str) -> Program:
        started.append(Program(*args))
        return started[-1]

    yield start
    for program in started:
        program.stop()


def address(server: RunningServer) -> list[str]:
    return [server.host, str(server.port)]


# nc


def test_two_nc_users_chat(
    server: RunningServer, nc: str, programs: Callable[..., Program]
):
    """Two people on ``nc`` join, talk to each other and leave; lines arrive ending in CRLF."""
    alice = programs(nc, "-N", *address(server))
    alice.type("alice\n")
    alice.expect("alice", "Welcome")
    bob = programs(nc, "-N", *address(server))
    bob.type("bob\n")
    bob.expect("bob", "Welcome")
    alice.expect("*** ", "bob", "joined")
    alice.type("hello bob, é\n")
    assert bob.expect("<alice>") == "<alice> hello bob, é\r\n".encode()
    bob.type("hi alice\n")
    assert alice.expect("<bob>") == b"<bob> hi alice\r\n"
    bob.end_input()
    alice.expect("*** ", "bob", "left", "connection lost")
    assert bob.wait() == 0
    alice.type("/quit bye\n")
    alice.expect("Bye")
    alice.end_input()
    assert alice.wait() == 0


def test_nc_with_crlf_line_ends_chats_normally(
    server: RunningServer, nc: str, programs: Callable[..., Program],
    peers: Callable[[str], Client],
):
    """A person on ``nc -C`` (CRLF line ends) gets the nickname and messages without stray CRs."""
    dave = peers("dave")
    carol = programs(nc, "-C", "-N", *address(server))
    carol.type("carol\n")
    carol.expect("carol", "Welcome")
    dave.expect(notice("carol", "joined"))
    carol.type("hi dave\n")
    assert dave.read_line() == "<carol> hi dave"
    dave.send_line("hi carol")
    assert carol.expect("<dave>") == b"<dave> hi carol\r\n"
    dave.send_line("/msg carol psst")
    assert carol.expect("*dave*") == b"*dave* psst\r\n"
    carol.end_input()
    dave.expect(notice("carol", "left"))
    assert carol.wait() == 0


def test_piped_nc_session_is_relayed_and_ends(
    server: RunningServer, nc: str, peers: Callable[[str], Client]
):
    """A session piped into ``nc -q 1`` joins, speaks and leaves, and nc exits 0."""
    watcher = peers("watcher")
    finished = subprocess.run(
        [nc, "-q", "1", *address(server)], input=b"erin\nfirst\nsecond\n/quit done\n",
        capture_output=True, timeout=TIMEOUT, check=False,
    )
    assert finished.returncode == 0
    assert b"Welcome, erin" in finished.stdout
    watcher.expect(notice("erin", "joined"))
    assert watcher.read_line() == "<erin> first"
    assert watcher.read_line() == "<erin> second"
    assert notice("erin", "left", "done")(watcher.read_line())


# telnet


def test_telnet_user_chats_with_another_user(
    server: RunningServer, telnet: str, programs: Callable[..., Program],
    peers: Callable[[str], Client],
):
    """A person on ``telnet`` joins, talks with a member, and ``/quit`` ends telnet."""
    grace = peers("grace")
    frank = programs(telnet, *address(server))
    frank.expect("choose a nickname")
    frank.type("frank\n")
    frank.expect("frank", "Welcome")
    grace.expect(notice("frank", "joined"))
    frank.type("hello from telnet\n")
    assert grace.read_line() == "<frank> hello from telnet"
    grace.send_line("hi frank")
    assert frank.expect("<grace>").rstrip(b"\r\n") == b"<grace> hi frank"
    frank.type("/quit see you\n")
    assert notice("frank", "left", "see you")(grace.read_line())
    assert frank.wait() == 0


def read_raw_until(peer: Client, wanted: bytes) -> bytes:
    """Raw bytes from ``peer``'s connection up to and including ``wanted``; the rest is kept."""
    deadline = time.monotonic() + LINE_TIMEOUT
    while wanted not in peer.buffer:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {wanted!r} within {LINE_TIMEOUT}s; got {peer.buffer!r}"
        peer.sock.settimeout(remaining)
        chunk = peer.sock.recv(65536)
        assert chunk, f"connection closed while waiting for {wanted!r}"
        peer.buffer += chunk
    before, _, peer.buffer = peer.buffer.partition(wanted)
    return before + wanted


def test_telnet_are_you_there_is_answered(
    server: RunningServer, peers: Callable[[str], Client]
):
    """Telnet's Are-You-There (IAC AYT) gets a notice back; nothing is relayed."""
    alice = peers("alice")
    bob = peers("bob")
    alice.expect(notice("bob", "joined"))
    alice.send(b"\xff\xf6")
    assert read_raw_until(alice, b"\r\n").startswith(IAC_DO_BINARY + b"*** ")
    alice.send_line("after ayt")
    assert bob.read_line() == "<alice> after ayt"


def read_terminal_until(terminal: int, wanted: bytes, seen: bytearray) -> None:
    """Read what a program shows in its terminal into ``seen`` until ``wanted`` appears."""
    deadline = time.monotonic() + LINE_TIMEOUT
    while wanted not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{wanted!r} not shown within {LINE_TIMEOUT}s: {bytes(seen)!r}"
        ready, _, _ = select.select([terminal], [], [], remaining)
        if ready:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:
                chunk = b""
            assert chunk, f"terminal closed while waiting for {wanted!r}: {bytes(seen)!r}"
            seen += chunk
    del seen[: seen.index(wanted) + len(wanted)]


def test_ctrl_c_in_a_real_telnet_keeps_the_session_working(
    server: RunningServer, telnet: str, peers: Callable[[str], Client]
):
    """Pressing Ctrl-C in telnet does not hang it: messages still go out and come in."""
    bob = peers("bob")
    pid, terminal = pty.fork()
    if pid == 0:
        try:
            os.execv(telnet, [telnet, *address(server)])
        finally:
            os._exit(127)
    try:
        seen = bytearray()
        read_terminal_until(terminal, b"choose a nickname", seen)
        os.write(terminal, b"alice\r")
        read_terminal_until(terminal, b"Welcome, alice", seen)
        bob.expect(notice("alice", "joined"))
        os.write(terminal, b"half typed\x03")
        read_terminal_until(terminal, b"^C", seen)
        os.write(terminal, b"after ctrl-c\r")
        assert bob.read_line() == "<alice> after ctrl-c"
        bob.send_line("can you still read me?")
        read_terminal_until(terminal, b"<bob> can you still read me?", seen)
        os.write(terminal, b"/quit\r")
        assert notice("alice", "left")(bob.read_line())
        deadline = time.monotonic() + LINE_TIMEOUT
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            assert time.monotonic() < deadline, "telnet did not exit after /quit"
            time.sleep(0.02)
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(terminal)
