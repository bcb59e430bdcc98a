"""The real ``twistd -n tcpchat`` over loopback sockets: what a user of the wire contract sees.

Tests talk to the server with :class:`Client`, a line client that also fails
the test on any line a terminal could misread (invalid UTF-8, control
characters, bidi overrides). Tests that need no option share one server
(the ``server`` fixture of this module) that replays no history: each test
quits all its connections, so the next one finds the room empty and hears
nothing of the tests before. Tests that need options, history or a stop of
the server start their own with ``start_server``.
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
from tests.support.checked import Client, error, history_stamp, notice, received_lines, room
from tests.support.servers import HOST, LINE_TIMEOUT, RunningServer, foreground, run_twistd

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


# Chatting


def test_join_is_announced_to_everyone_already_there(server: RunningServer, open_client: Open):
    """Members already in the room see a notice naming whoever joins."""
    alice = open_client(server, "alice")
    bob = open_client(server, "bob")
    alice.expect(notice("bob", "joined"))
    open_client(server, "carol")
    alice.expect(notice("carol", "joined"))
    bob.expect(notice("carol", "joined"))


def test_message_reaches_every_other_member_but_not_its_sender(
    server: RunningServer, open_client: Open
):
    """A message appears as ``<nick> text`` for all the others and is not echoed back."""
    alice, bob, carol = room(server, open_client, "alice", "bob", "carol")
    alice.send_line("hello, everyone")
    assert bob.read_line() == "<alice> hello, everyone"
    assert carol.read_line() == "<alice> hello, everyone"
    carol.send_line("hi alice")
    assert alice.read_line() == "<carol> hi alice"
    assert bob.read_line() == "<carol> hi alice"


def test_text_in_any_script_is_relayed_unchanged(server: RunningServer, open_client: Open):
    """Accents, CJK, Greek and emoji (with joiners) come through as typed."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send_line("café 日本語 🎉 👩\u200d💻 Ωμέγα")
    assert bob.read_line() == "<alice> café 日本語 🎉 👩\u200d💻 Ωμέγα"


def test_empty_lines_are_ignored(server: RunningServer, open_client: Open):
    """Blank lines send nothing to anyone."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send(b"\n\r\n   \n\t\nafter blanks\n")
    assert bob.read_line() == "<alice> after blanks"


def test_closing_the_connection_announces_the_leave(server: RunningServer, open_client: Open):
    """When someone closes their connection the others see them leave, "connection lost"."""
    alice, bob, carol = room(server, open_client, "alice", "bob", "carol")
    carol.close()
    for member in (alice, bob):
        member.expect(notice("carol", "left", "connection lost"))


def test_who_lists_the_members_of_the_room(server: RunningServer, open_client: Open):
    """``/who`` answers with every member's nickname and no one who left."""
    alice, _bob, _carol, dave = room(server, open_client, "alice", "bob", "carol", "dave")
    dave.close()
    alice.expect(notice("dave", "left"))
    reply = alice.ask("/who", "alice")[-1]
    assert reply.startswith("*** ")
    assert all(nick in reply for nick in ("alice", "bob", "carol"))
    assert "dave" not in reply


def test_commands_ignore_case(server: RunningServer, open_client: Open):
    """``/WHO`` and ``/Me`` work like ``/who`` and ``/me``."""
    alice, bob = room(server, open_client, "alice", "bob")
    assert notice("alice", "bob")(alice.ask("/WHO", "bob")[-1])
    alice.send_line("/Me shouts")
    assert bob.read_line() == "* alice shouts"


def test_me_sends_an_action_to_the_others(server: RunningServer, open_client: Open):
    """``/me waves`` shows ``* alice waves`` to the others, not to alice."""
    alice, bob, carol = room(server, open_client, "alice", "bob", "carol")
    alice.send_line("/me waves")
    assert bob.read_line() == "* alice waves"
    assert carol.read_line() == "* alice waves"
    bob.send_line("hi")
    assert alice.read_line() == "<bob> hi"


def test_msg_reaches_only_its_addressee(server: RunningServer, open_client: Open):
    """``/msg bob psst``: bob sees ``*alice* psst``, alice a confirmation, carol nothing."""
    alice, bob, carol = room(server, open_client, "alice", "bob", "carol")
    alice.send_line("/msg BOB psst, carol cannot see this")
    assert bob.read_line() == "*alice* psst, carol cannot see this"
    assert alice.read_line() == "-> *bob* psst, carol cannot see this"
    bob.send_line("back to everyone")
    assert carol.read_line() == "<bob> back to everyone"


def test_msg_to_an_unknown_nickname_is_an_error(server: RunningServer, open_client: Open):
    """``/msg nobody hi`` answers with an error naming the missing user; nothing is sent."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send_line("/msg nobody hi")
    assert error("nobody")(alice.read_line())
    alice.send_line("after the error")
    assert bob.read_line() == "<alice> after the error"


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


def test_nick_change_to_a_taken_nickname_is_refused(server: RunningServer, open_client: Open):
    """``/nick ALICE`` when alice is online is an error, whatever the case; bob stays bob."""
    alice, bob = room(server, open_client, "alice", "bob")
    bob.send_line("/nick ALICE")
    assert error("ALICE", "taken")(bob.read_line())
    bob.send_line("still bob")
    assert alice.read_line() == "<bob> still bob"


def test_nick_change_of_case_only_is_allowed(server: RunningServer, open_client: Open):
    """A member may change the case of their own nickname."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send_line("/nick Alice")
    assert notice("alice", "Alice")(bob.read_line())


@pytest.mark.parametrize("bad", ["bad!nick", "x" * 21, "été", "a.b"])
def test_nick_change_to_an_invalid_nickname_is_refused(
    server: RunningServer, open_client: Open, bad: str
):
    """``/nick`` with a nickname outside 1-20 of ``A-Z a-z 0-9 _ -`` is an error."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send_line(f"/nick {bad}")
    assert alice.read_line().startswith("!!! ")
    alice.send_line("still alice")
    assert bob.read_line() == "<alice> still alice"


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (b"two words", b'"two words" is invalid: nicknames cannot contain spaces'),
        (b"\x1b[31mred", b'"\\x1b[31mred" is invalid: nicknames cannot contain control'),
        (b"al\x00ice", b'"al\\x00ice" is invalid: nicknames cannot contain control'),
    ],
)
def test_invalid_nickname_is_refused_as_typed_with_the_reason(
    server: RunningServer, open_client: Open, bad: bytes, why: bytes
):
    """A nickname is checked as typed, in the handshake and by ``/nick``: ``\\x1b[31mred`` is
    not ``red``; the error says what is wrong."""
    (alice,) = room(server, open_client, "alice")
    alice.send(b"/nick " + bad + b"\n")
    assert error(why.decode())(alice.read_line())
    newcomer = open_client(server)
    newcomer.greeting()
    newcomer.send(bad + b"\n")
    assert error(why.decode())(newcomer.read_line())
    assert "choose a nickname" in newcomer.read_line()
    alice.send_line("/who")
    assert alice.read_line() == "*** 1 user in lobby: alice"


def test_double_slash_sends_a_line_starting_with_slash(server: RunningServer, open_client: Open):
    """``//shrug`` is sent to the room as the message ``/shrug``."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send_line("//shrug and /more")
    assert bob.read_line() == "<alice> /shrug and /more"


def test_unknown_command_is_an_error_pointing_to_help(server: RunningServer, open_client: Open):
    """``/dance`` answers with an error that mentions ``/help``; nothing is sent."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send_line("/dance wildly")
    assert error("/help")(alice.read_line())
    alice.send_line("/")
    assert error("/help")(alice.read_line())
    alice.send_line("after")
    assert bob.read_line() == "<alice> after"


def test_help_lists_every_command(server: RunningServer, open_client: Open):
    """``/help`` lists the usage of help, me, msg, nick, quit and who."""
    (alice,) = room(server, open_client, "alice")
    alice.send_line("/help")
    lines = alice.ask("/who", "alice")
    for command in ("/help", "/me ACTION", "/msg NICK TEXT", "/nick NEW", "/quit", "/who"):
        assert any(line.startswith("*** ") and command in line for line in lines), command


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


def test_quit_with_a_reason_tells_the_others_and_closes(
    server: RunningServer, open_client: Open
):
    """``/quit gone fishing``: the others see carol leave with that reason; she is disconnected."""
    alice, bob, carol = room(server, open_client, "alice", "bob", "carol")
    carol.send_line("/quit gone fishing")
    for member in (alice, bob):
        assert notice("carol", "left", "gone fishing")(member.read_line())
    received_lines(carol.read_until_closed())


def test_quit_without_a_reason_tells_the_others(server: RunningServer, open_client: Open):
    """``/quit`` alone is a leave notice too, and the nickname is free again."""
    alice, bob = room(server, open_client, "alice", "bob")
    bob.send_line("/quit")
    assert notice("bob", "left")(alice.read_line())
    bob.read_until_closed()
    open_client(server, "bob")


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


# Rooms and history


def test_rooms_keep_messages_apart(server: RunningServer, open_client: Open):
    """After ``/join dev`` messages stay in dev, the lobby sees the move, ``/msg`` still crosses."""
    alice, bob, carol = room(server, open_client, "alice", "bob", "carol")
    carol.send_line("/join #dev")
    assert notice("dev")(carol.read_line())
    for member in (alice, bob):
        assert notice("carol", "left", "dev")(member.read_line())
    alice.send_line("/join DEV")
    assert notice("dev")(alice.read_line())
    assert notice("alice", "left", "dev")(bob.read_line())
    assert notice("alice", "joined")(carol.read_line())
    alice.send_line("only for dev")
    assert carol.read_line() == "<alice> only for dev"
    carol.send_line("/msg bob across rooms")
    assert bob.read_line() == "*carol* across rooms"
    who = alice.ask("/who", "alice")[-1]
    assert "carol" in who and "bob" not in who
    assert notice("lobby (1)", "dev (2)")(bob.ask("/rooms", "dev")[-1])


def test_joining_shows_recent_history_between_notices(start_server: Start, open_client: Open):
    """With ``--history 2`` a newcomer sees the last two messages, time-stamped, then live ones."""
    server = start_server("--history", "2")
    alice, early = room(server, open_client, "alice", "early")
    alice.send_line("one")
    alice.send_line("two")
    alice.send_line("/me three")
    early.expect("* alice three")
    late = open_client(server, "late")
    assert notice("history")(late.read_line())
    assert [history_stamp(late.read_line()) for _ in range(2)] == ["<alice> two", "* alice three"]
    assert notice("end")(late.read_line())
    alice.send_line("live")
    assert late.read_line() == "<alice> live"


def test_history_command_shows_the_last_messages(start_server: Start, open_client: Open):
    """``/history 2`` shows the last two messages of the room, marked as past."""
    server = start_server("--history", "0")
    alice, bob = room(server, open_client, "alice", "bob")
    for text in ("first", "second", "third"):
        alice.send_line(text)
        assert bob.read_line() == f"<alice> {text}"
    lines = bob.ask("/history 2", "end")
    assert [history_stamp(line) for line in lines[1:-1]] == ["<alice> second", "<alice> third"]


def test_history_survives_a_restart(start_server: Start, open_client: Open):
    """What was said before the server restarted is shown to whoever joins after."""
    server = start_server()
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send_line("said before the restart")
    assert bob.read_line() == "<alice> said before the restart"
    server.restart()
    newcomer = open_client(server, "carol")
    lines = [newcomer.read_line() for _ in range(3)]
    assert history_stamp(lines[1]) == "<alice> said before the restart", lines


# The handshake


def test_greeting_ends_with_the_nickname_prompt(server: RunningServer, open_client: Open):
    """On connect the server greets and its last greeting line asks for a nickname."""
    newcomer = open_client(server)
    greeting = newcomer.greeting()
    assert all(line.startswith("*** ") for line in greeting)
    assert "nickname" in greeting[-1]


@pytest.mark.parametrize(
    "bad", ["bad nick", "x" * 21, "José", "ali!ce", "/dance", "<alice>", "tab\there"]
)
def test_invalid_nickname_gets_one_error_and_the_prompt_again(
    server: RunningServer, open_client: Open, bad: str
):
    """An invalid nickname gets one ``!!!`` line and the prompt again; the connection stays."""
    newcomer = open_client(server)
    prompt = newcomer.greeting()[-1]
    newcomer.send_line(bad)
    assert newcomer.read_line().startswith("!!! ")
    assert newcomer.read_line() == prompt
    newcomer.send_line("good_nick-1")
    assert notice("good_nick-1")(newcomer.read_line())


def test_taken_nickname_in_any_case_gets_one_error_and_the_prompt_again(
    server: RunningServer, open_client: Open
):
    """``ALICE`` while alice is online is refused with one ``!!!`` line; another name works."""
    open_client(server, "alice")
    newcomer = open_client(server)
    prompt = newcomer.greeting()[-1]
    newcomer.send_line("ALICE")
    assert error("ALICE", "taken")(newcomer.read_line())
    assert newcomer.read_line() == prompt
    newcomer.send_line("alice2")
    assert notice("alice2")(newcomer.read_line())


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


def test_welcome_contains_the_nickname_as_accepted(server: RunningServer, open_client: Open):
    """The welcome line holds the nickname exactly, case and punctuation included."""
    newcomer = open_client(server)
    newcomer.greeting()
    newcomer.send_line("MiXeD_Case-20chars_x")
    assert notice("MiXeD_Case-20chars_x")(newcomer.read_line())


def test_connection_without_a_nickname_is_closed_after_the_handshake_timeout(
    start_server: Start, open_client: Open
):
    """With ``--handshake-timeout 1`` a silent connection is told and closed; members stay."""
    server = start_server("--handshake-timeout", "1")
    member = open_client(server, "alice")
    started = time.monotonic()
    silent = open_client(server)
    lines = received_lines(silent.read_until_closed(timeout=5))
    elapsed = time.monotonic() - started
    assert 0.8 < elapsed < 4, elapsed
    assert lines[-1].startswith("!!! ")
    assert "nickname" in lines[-1]
    assert notice("alice")(member.ask("/who", "alice")[-1])


# Order and pacing


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


def test_pasted_lines_are_paced_but_all_arrive_in_order(start_server: Start, open_client: Open):
    """With flood pacing (50 lines/s after a burst of 10), 100 pasted lines all arrive, in order."""
    server = start_server("--flood", "50", "--flood-burst", "10")
    alice, bob = room(server, open_client, "alice", "bob")
    started = time.monotonic()
    alice.send("".join(f"pasted {number:03}\n" for number in range(100)))
    got = [bob.read_line() for _ in range(100)]
    elapsed = time.monotonic() - started
    assert got == [f"<alice> pasted {number:03}" for number in range(100)]
    assert elapsed > 1.2, f"90 lines over the burst took only {elapsed:.2f}s at 50 lines/s"
    alice.send_line("/who")
    assert notice("alice", "bob")(alice.read_line())


# Text hygiene


def test_invalid_utf8_arrives_as_replacement_characters(server: RunningServer, open_client: Open):
    """Bytes that are not UTF-8 show as U+FFFD and the sender can go on chatting."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send(b"bad \xc3\x28 \x80 \xed\xa0\x80 \xc0\xaf end\n")
    line = bob.read_line()
    assert line.startswith("<alice> bad \ufffd( \ufffd ")
    assert line.endswith(" end")
    alice.send_line("still fine")
    assert bob.read_line() == "<alice> still fine"


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


def test_non_ascii_digits_get_the_usage_and_log_no_traceback(
    server: RunningServer, open_client: Open
):
    """``/resume lobby ²`` before the nickname and ``/history ²`` after it are wrong uses:
    answered with the usage, the connection kept, nothing in the log."""
    newcomer = open_client(server)
    newcomer.greeting()
    newcomer.send_line("/resume lobby ²")
    assert error("usage: /resume")(newcomer.read_line())
    newcomer.send_line("bob")
    newcomer.expect("Welcome, bob!")
    newcomer.send_line("/history ²")
    assert error("usage: /history")(newcomer.read_line())
    assert newcomer.ask("/who", "lobby")[-1] == "*** 1 user in lobby: bob"
    assert "Traceback" not in server.log() and "internal error" not in server.log()


def test_nothing_received_is_ever_unsafe_to_print(server: RunningServer, open_client: Open):
    """Whatever bytes users send, every line anyone receives is UTF-8 with no controls but CRLF."""
    nasty = (
        bytes(range(0x01, 0x0A)) + bytes(range(0x0B, 0x20)) + b"\x7f"
        + bytes(range(0x80, 0xFF)) + b"\xff\xff"
        + "".join(map(chr, range(0x80, 0xA0))).encode()
        + "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069".encode()
        + b"\x1b[31m\x1b]0;x\x07\x1bPq\x1b\\\x1b(0\x1bc\x1b"
    )
    bob = open_client(server, "bob")
    mallory = open_client(server)
    mallory.greeting()
    script = [
        nasty, b"mal" + nasty, b"mallory", nasty, b"/me " + nasty, b"/msg bob " + nasty,
        b"/msg " + nasty + b" x", b"/nick " + nasty, b"/help " + nasty, b"/" + nasty,
        b"/quit " + nasty,
    ]
    mallory.send(b"\n".join(script) + b"\n")
    received_lines(mallory.read_until_closed())
    bob.expect(notice("mallory", "left"))
    bob.send_line("/quit")
    received_lines(bob.read_until_closed())


# Long lines


def test_overlong_line_is_refused_and_the_next_one_delivered(
    server: RunningServer, open_client: Open
):
    """A 100 KB line gets the sender an error, reaches no one, and the next line goes through."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send(b"x" * 100_000 + b"\n")
    assert error("too long")(alice.read_line())
    alice.send_line("normal line")
    assert bob.read_line() == "<alice> normal line"
    assert alice.ask("/who", "alice")[-1].startswith("*** ")


def test_overlong_line_in_small_pieces_is_refused_once(server: RunningServer, open_client: Open):
    """A 100 KB line trickling in 1 KB pieces gets one error; the line after it goes through."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for piece in range(100):
        alice.send(b"y" * 1000)
        if piece % 10 == 0:
            time.sleep(0.01)
    alice.send(b"\nright after\n")
    assert bob.read_line() == "<alice> right after"
    answers = alice.ask("/who", "alice")
    assert len([line for line in answers if line.startswith("!!! ")]) == 1, answers
    assert error("too long")(answers[0])


@pytest.mark.parametrize(
    "ending",
    [
        pytest.param(b"\r\n", id="crlf"),
        pytest.param(b"\n", id="lf"),
    ],
)
def test_line_limit_is_exact(server: RunningServer, open_client: Open, ending: bytes):
    """A line of the default limit, 2048 bytes, is delivered and one of 2049 bytes refused."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send(b"a" * 2048 + ending)
    assert bob.read_line() == "<alice> " + "a" * 2048
    alice.send(b"b" * 2049 + ending)
    alice.send_line("after")
    assert bob.read_line() == "<alice> after"
    assert error("too long")(alice.read_line())


# Framing


def test_lf_and_crlf_lines_both_work(server: RunningServer, open_client: Open):
    """An ``nc`` user (LF) and an ``nc -C`` or telnet user (CRLF) understand each other."""
    alice, bob = room(server, open_client, "alice", "bob")
    alice.send(b"from lf\n")
    bob.send(b"from crlf\r\n")
    assert bob.read_line() == "<alice> from lf"
    assert alice.read_line() == "<bob> from crlf"


def test_server_ends_every_line_with_crlf(server: RunningServer, open_client: Open):
    """Every line the server sends, greeting to goodbye, ends with CRLF; no bare CR or LF."""
    (alice,) = room(server, open_client, "alice")
    bob = open_client(server)
    bob.send("bob\n/who\n/help\n")
    alice.expect(notice("bob", "joined"))
    alice.send_line("hi bob")
    alice.send_line("/msg bob psst")
    alice.expect("-> *bob*")
    bob.send("/nosuch\n/quit\n")
    lines = received_lines(bob.read_until_closed())
    assert "nickname" in lines[0] or lines[0].startswith("*** ")
    assert "<alice> hi bob" in lines and "*alice* psst" in lines
    assert any(line.startswith("!!! ") for line in lines)
    assert lines[-1].startswith("*** ")


# Disconnections and limits


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


def test_member_who_stops_reading_is_cut_off_past_the_send_queue(
    start_server: Start, open_client: Open
):
    """Someone who reads nothing is disconnected once ``--sendq`` bytes wait; others see why."""
    server = start_server("--flood", "0", "--sendq", "100000")
    with member_who_never_reads(server, "stuck"):
        loud = open_client(server, "loud")
        loud.send(BULK)
        assert notice("stuck", "left", "100000")(loud.expect("stuck"))
        open_client(server, "stuck")


def test_max_clients_refuses_one_more_with_one_error_line(start_server: Start, open_client: Open):
    """With ``--max-clients 2`` a third connection gets one ``!!!`` line and is closed."""
    server = start_server("--max-clients", "2")
    first = open_client(server, "alice")
    open_client(server).greeting()
    refused = open_client(server)
    lines = received_lines(refused.read_until_closed())
    assert len(lines) == 1 and lines[0].startswith("!!! "), lines
    first.close()
    deadline = time.monotonic() + LINE_TIMEOUT
    while True:
        if not open_client(server).read_line().startswith("!!! "):
            break
        assert time.monotonic() < deadline, "a place did not free up when alice left"
        time.sleep(0.05)


def test_max_per_ip_refuses_one_more_from_the_same_address(
    start_server: Start, open_client: Open
):
    """With ``--max-per-ip 2`` a third connection from 127.0.0.1 gets one ``!!!`` line."""
    server = start_server("--max-per-ip", "2")
    open_client(server, "alice")
    open_client(server).greeting()
    lines = received_lines(open_client(server).read_until_closed())
    assert len(lines) == 1 and lines[0].startswith("!!! "), lines


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
    assert time.monotonic() - started < EXIT_TIMEOUT
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


def test_port_in_use_is_one_line_on_stderr_and_a_failure(tmp_path: Path):
    """Listening on a port that is taken ends twistd non-zero with one line, no traceback."""
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        finished = run_twistd(tmp_path, foreground("--listen", f"tcp:{port}:interface={HOST}"))
    assert_failed_with_one_line(finished, str(port))


def test_motd_lines_appear_in_the_greeting(
    tmp_path: Path, start_server: Start, open_client: Open
):
    """``--motd FILE``: each line of the file greets a new connection, before the prompt."""
    motd = tmp_path / "motd.txt"
    motd.write_bytes("Rules: be nice.\n\x1b[31mNo\x1b[0m spam ‽\n".encode())
    server = start_server("--motd", str(motd))
    greeting = open_client(server).greeting()
    texts = [line.removeprefix("*** ") for line in greeting]
    assert texts.index("Rules: be nice.") < texts.index("No spam ‽") < len(texts) - 1


def test_help_lists_every_option(tmp_path: Path):
    """``twistd tcpchat --help`` names every option of the server."""
    finished = run_twistd(tmp_path, ["tcpchat", "--help"])
    assert finished.returncode == 0, finished.stderr
    names = Options().longOpt
    assert "listen=" in names and "motd=" in names
    for name in names:
        assert f"--{name}" in finished.stdout, name
