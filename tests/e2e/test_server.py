"""The real ``twistd -n tcpchat`` over loopback sockets: what a user of the wire contract sees.

Tests talk to the server with :class:`Client`, a line client that also fails
the test on any line a terminal could misread (invalid UTF-8, control
characters, bidi overrides). Tests that need no option share one server
(the ``server`` fixture of this module) that replays no history: each test
quits all its connections, so the next one finds the room empty and hears
nothing of the tests before. Tests that need options or a stop of
the server start their own with ``start_server``.

What the protocol does with a line is tested in memory (``tests/unit``);
the chat tests here are those no unit test makes yet, beside what only a
real socket or process shows: resets, half-closes, concurrent senders,
signals and command-line options. Rooms and history are in
``test_rooms_history.py``, load and limits in ``test_reliability.py``.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chat.options import Options
from tests.support.checked import Client, error, notice, received_lines, room
from tests.support.servers import LINE_TIMEOUT, RunningServer, foreground, run_twistd

pytestmark = pytest.mark.e2e

Start = Callable[..., RunningServer]
Open = Callable[..., "Client"]

EXIT_TIMEOUT = 5.0
TERMINATED = (0, -signal.SIGTERM)
# 16 MB of 2000-byte lines: far more than the kernel buffers of one loopback connection.
BULK = b"".join(b"%05d" % number + b"z" * 1995 + b"\n" for number in range(8000))


@pytest.fixture(scope="module")
def server(quiet_server: RunningServer) -> RunningServer:
    return quiet_server


@contextlib.contextmanager
def member_who_never_reads(server: RunningServer, nick: str) -> Iterator[socket.socket]:
    """A member with a tiny receive buffer who reads nothing the server sends."""
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.settimeout(LINE_TIMEOUT)
    try:
        stuck.connect((server.host, server.port))
        stuck.sendall(nick.encode() + b"\n")
        yield stuck
    finally:
        stuck.close()


# Chatting and commands


def test_text_in_any_script_is_relayed_unchanged(server: RunningServer, open_client: Open):
    """Accents, CJK, Greek and emoji (with joiners) come through as typed."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send_line("café 日本語 🎉 👩\u200d💻 Ωμέγα")
    assert bob.read_line() == "<alice> café 日本語 🎉 👩\u200d💻 Ωμέγα"


def test_nick_change_is_announced_and_takes_effect(server: RunningServer, open_client: Open):
    """After ``/nick alicia`` everyone sees the change, messages carry the new name."""
    alice, bob, carol = room(server, open_client, "alice", "bob", "carol")
    alice.send_line("/nick alicia")
    for member in (bob, carol):
        assert notice("alice", "alicia")(member.read_line())
    alice.send_line("new name")
    assert bob.read_line() == "<alicia> new name"
    bob.send_line("/msg alice are you there")
    assert error("alice")(bob.read_line())
    bob.send_line("/msg alicia yes you")
    assert alice.expect("*bob*") == "*bob* yes you"
    open_client(server, "alice")


def test_unknown_command_is_an_error_pointing_to_help(server: RunningServer, open_client: Open):
    """``/dance`` answers with an error that mentions ``/help``; nothing is sent."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send_line("/dance wildly")
    assert error("/help")(alice.read_line())
    alice.send_line("/")
    assert error("/help")(alice.read_line())
    alice.send_line("after")
    assert bob.read_line() == "<alice> after"


@pytest.mark.parametrize(
    ("asked", "usage"),
    [("msg", "/msg NICK TEXT"), ("/nick", "/nick NEW"), ("QUIT", "/quit [REASON]")],
)
def test_help_with_a_name_explains_that_command(
    server: RunningServer, open_client: Open, asked: str, usage: str
):
    """``/help msg`` answers with the usage line of /msg."""
    (alice,) = room(server, open_client, "alice")
    alice.send_line(f"/help {asked}")
    assert notice(usage)(alice.read_line())


def test_help_for_an_unknown_command_is_an_error(server: RunningServer, open_client: Open):
    """``/help dance`` says there is no such command."""
    (alice,) = room(server, open_client, "alice")
    alice.send_line("/help dance")
    assert error("dance")(alice.read_line())


@pytest.mark.parametrize(
    ("wrong", "usage"),
    [
        ("/nick", "/nick NEW"),
        ("/me", "/me ACTION"),
        ("/me    ", "/me ACTION"),
        ("/msg", "/msg NICK TEXT"),
        ("/msg bob", "/msg NICK TEXT"),
        ("/msg bob    ", "/msg NICK TEXT"),
        ("/who is here", "/who"),
    ],
)
def test_wrong_use_of_a_command_gets_its_usage(
    server: RunningServer, open_client: Open, wrong: str, usage: str
):
    """A command used the wrong way answers with its usage line as an error; nothing is sent."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send_line(wrong)
    assert error(usage)(alice.read_line())
    alice.send_line("after")
    assert bob.read_line() == "<alice> after"


# The handshake


def test_whitespace_around_the_nickname_is_stripped(server: RunningServer, open_client: Open):
    """`` \\t bob  `` joins as ``bob``: the welcome and the join notice say ``bob``."""
    (alice,) = room(server, open_client, "alice")
    newcomer = open_client(server)
    newcomer.greeting()
    newcomer.send(b"\n  \t bob  \r\n")
    assert notice("bob")(newcomer.read_line())
    assert notice("bob", "joined")(alice.read_line())
    alice.send_line("/msg bob found you")
    assert newcomer.read_line() == "*alice* found you"
    newcomer.send_line("hello")
    assert alice.expect("<") == "<bob> hello"


# Order


def test_every_member_sees_the_same_order_when_several_send_at_once(
    start_server: Start, open_client: Open
):
    """Four senders each pasting 100 lines: every receiver sees one and the same sequence."""
    server = start_server("--flood", "0")
    members = room(server, open_client, "w0", "w1", "s0", "s1", "s2", "s3")
    watchers, senders = members[:2], members[2:]
    count = 100
    barrier = threading.Barrier(len(senders))

    def paste(index: int) -> None:
        text = "".join(f"s{index} line {number:03}\n" for number in range(count))
        barrier.wait(LINE_TIMEOUT)
        senders[index].send(text)

    threads = [threading.Thread(target=paste, args=(index,)) for index in range(len(senders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LINE_TIMEOUT)

    def messages(client: Client, total: int) -> list[str]:
        return [client.expect(lambda line: line.startswith("<s")) for _ in range(total)]

    everything = messages(watchers[0], count * len(senders))
    assert messages(watchers[1], count * len(senders)) == everything
    for index, sender in enumerate(senders):
        own = f"<s{index}> "
        assert [line for line in everything if line.startswith(own)] == [
            f"{own}s{index} line {number:03}" for number in range(count)
        ]
        others = [line for line in everything if not line.startswith(own)]
        assert messages(sender, len(others)) == others


# Text hygiene


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        (b"\x1b[31mred\x1b[0m plain", "red plain"),
        (b"\x1b[2J\x1b[Hcleared?", "cleared?"),
        (b"\x1b]0;pwned\x07title", "title"),
        (b"\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),
        (b"\x1bPdcs string\x1b\\after dcs", "after dcs"),
        ("\u009b31mc1 csi".encode(), "31mc1 csi"),
        (b"raw \x9b byte", "raw \ufffd byte"),
        ("abc\u202edef\u2066ghi".encode(), "abcdefghi"),
        (b"bell\x07\x07", "bell"),
        (b"back\x08\x08space", "backspace"),
        (b"del\x7fete", "delete"),
        (b"car\rriage", "carriage"),
        (b"nul\x00byte", "nulbyte"),
        (b"tab\there", "tab here"),
        ("line\u2028sep\u0085nel".encode(), "linesepnel"),
        (b"\x1b", None),
        (b"\x07\x08\x1b[0m", None),
    ],
)
def test_control_sequences_are_removed_from_what_others_see(
    server: RunningServer, open_client: Open, sent: bytes, shown: str | None
):
    """Escape sequences, C0/C1 controls, DEL and bidi overrides never reach another terminal."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send(sent + b"\n")
    alice.send(b"/me waves " + sent + b"\n")
    alice.send_line("sentinel")
    expected = [] if shown is None else [f"<alice> {shown}"]
    expected += [f"* alice waves {shown}" if shown else "* alice waves", "<alice> sentinel"]
    assert [bob.read_line() for _ in expected] == expected


# Disconnections


def test_reset_connection_gives_a_leave_notice_and_frees_the_nickname(
    server: RunningServer, open_client: Open
):
    """A connection reset (RST) is a leave, "connection lost"; the nickname is free again."""
    alice, bob = room(server, open_client, "alice", "bob")
    bob.reset()
    assert notice("bob", "left", "connection lost")(alice.read_line())
    open_client(server, "bob")
    assert notice("bob", "joined")(alice.read_line())


def test_half_closed_connection_still_gets_the_replies(server: RunningServer, open_client: Open):
    """A client that half-closes after its last line (``nc -N``) still gets the answers to it."""
    (alice,) = room(server, open_client, "alice")
    erin = open_client(server)
    erin.greeting()
    # Blank lines use up the flood burst, so /who is answered after the EOF has
    # arrived: that makes the outcome certain instead of a race with the close.
    erin.send("erin\n" + "\n" * 30 + "/who\n")
    erin.sock.shutdown(socket.SHUT_WR)
    lines = received_lines(erin.read_until_closed())
    assert notice("erin")(lines[0]) and notice("alice", "erin")(lines[-1]), lines
    alice.expect(notice("erin", "left"))


# Shutdown


def test_sigterm_says_goodbye_to_everyone_and_exits(start_server: Start, open_client: Open):
    """On SIGTERM members and half-joined connections get a shutdown notice, then are closed."""
    server = start_server()
    clients = room(server, open_client, "alice", "bob")
    newcomer = open_client(server)
    newcomer.greeting()
    clients.append(newcomer)
    started = time.monotonic()
    status = server.stop(timeout=EXIT_TIMEOUT)
    # Members who read hold nothing up: the exit does not wait out the grace (3 s by default).
    assert time.monotonic() - started < 1.5
    assert status in TERMINATED
    for client in clients:
        lines = received_lines(client.read_until_closed())
        assert notice("shutting down")(lines[-1]), lines
        assert not any("left" in line for line in lines), lines


def test_sigterm_with_a_client_that_never_reads_exits_after_the_grace(
    start_server: Start, open_client: Open
):
    """A client that reads nothing delays the exit by at most ``--shutdown-grace``."""
    grace = 1.0
    server = start_server(
        "--flood", "0", "--sendq", "200000000", "--shutdown-grace", str(grace)
    )
    with member_who_never_reads(server, "stuck"):
        loud = open_client(server, "loud")
        loud.send(BULK)
        assert notice("loud", "stuck")(loud.ask("/who", "loud")[-1])
        started = time.monotonic()
        status = server.stop(timeout=grace + EXIT_TIMEOUT)
        elapsed = time.monotonic() - started
    assert status in TERMINATED
    assert grace * 0.8 < elapsed < grace + 3, elapsed
    assert notice("shutting down")(received_lines(loud.read_until_closed())[-1])


# Command-line options


def assert_failed_with_one_line(finished: subprocess.CompletedProcess[str], named: str) -> None:
    """twistd failed, saying why in one line on stderr that names ``named``, without a traceback."""
    assert finished.returncode != 0
    assert len(finished.stderr.strip().splitlines()) == 1, finished.stderr
    assert named in finished.stderr
    assert "Traceback" not in finished.stderr + finished.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--max-line", "-5"], "--max-line"),
        (["--listen", "nosuchtype:1234"], "nosuchtype"),
        (["--motd", "missing-motd.txt"], "missing-motd.txt"),
        (["--db", "no-such-folder/chat.db"], "no-such-folder"),
    ],
)
def test_bad_option_is_one_line_on_stderr_and_a_failure(
    tmp_path: Path, args: list[str], named: str
):
    """A wrong option ends twistd non-zero with one line on stderr naming it, no traceback."""
    assert_failed_with_one_line(run_twistd(tmp_path, foreground(*args)), named)


def test_help_lists_every_option(tmp_path: Path):
    """``twistd tcpchat --help`` names every option of the server."""
    finished = run_twistd(tmp_path, ["tcpchat", "--help"])
    assert finished.returncode == 0, finished.stderr
    names = Options().longOpt
    assert "listen=" in names and "motd=" in names
    for name in names:
        assert f"--{name}" in finished.stdout, name
