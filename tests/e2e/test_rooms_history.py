"""Rooms, history and catching up, end to end: the real ``twistd -n tcpchat`` over loopback.

Room tests share one quiet server of this module (no history, nothing on
disk; every test quits its connections, so the next finds only the lobby).
History tests that need no restart share one history server
(``--history 3 --history-keep 6``), each in rooms of its own, and nobody
speaks in its lobby; the others start their own server in ``tmp_path``,
where ``tcpchat.db`` outlives a restart. Catching up is checked twice: with a program that
speaks ``/ids`` and ``/resume`` over a raw socket, and with
``tcpchat-client`` in pipe mode, once across a restart of the server and
once across a dropped connection (a relay in the test cuts it) while
another member keeps talking.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.checked import Client, error, history_stamp, notice, room
from tests.support.client_process import BackgroundClient
from tests.support.servers import HOST, LINE_TIMEOUT, RunningServer, running

pytestmark = pytest.mark.e2e

Start = Callable[..., RunningServer]
Open = Callable[..., Client]
Piped = Callable[[list[str]], BackgroundClient]

STAMP = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d)Z\] ")
WHO = re.compile(r"\*\*\* \d+ users? in \S+: .*")
ID_TAG = re.compile(r"@id=(\d+) (.*)")
TALK_EVERY = 0.02
"""Seconds between the numbered messages of the talker."""
TALK_FOR = 3.0
"""Seconds the talker keeps talking after an outage starts: longer than a first retry."""
CATCH_UP_TIMEOUT = 15.0


# Helpers

@pytest.fixture(scope="module")
def server(quiet_server: RunningServer) -> RunningServer:
    return quiet_server


REPLAY = 3
KEEP = 6


@pytest.fixture(scope="module")
def history_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the history tests: ``--history 3 --history-keep 6``, silent lobby."""
    workdir = tmp_path_factory.mktemp("history-server")
    with running(workdir, "--history", str(REPLAY), "--history-keep", str(KEEP)) as shared:
        yield shared


def move(member: Client, room_name: str) -> str:
    """``/join ROOM``; returns the server's confirmation."""
    member.send_line(f"/join {room_name}")
    return member.expect(notice("you are now in"))


def settled(member: Client) -> list[str]:
    """Every line ``member`` received before the answer to a ``/who`` sent now.

    The server handles one connection's lines in order, so once ``/who`` is
    answered everything ``member`` sent before has been handled too.
    """
    member.send_line("/who")
    lines = [member.read_line()]
    while not WHO.fullmatch(lines[-1]):
        lines.append(member.read_line())
    return lines[:-1]


def who(member: Client) -> str:
    """The answer to ``/who`` (what came before it is skipped)."""
    settled(member)
    return member.seen[-1]


def stamped_now(line: str) -> str:
    """``line`` without its history time, which must be the current UTC minute (give or take)."""
    match = STAMP.match(line)
    assert match is not None, f"not a history line: {line!r}"
    stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=2), line
    return history_stamp(line)


def tagged(line: str) -> tuple[int, str]:
    """The id and the rest of an ``@id=N ...`` line."""
    match = ID_TAG.fullmatch(line)
    assert match is not None, f"no id tag: {line!r}"
    return int(match.group(1)), match.group(2)


def resume(
    open_client: Open, server: RunningServer, nick: str, room_name: str, after: int
) -> tuple[Client, str]:
    """A program reconnecting with ``/resume ROOM ID`` before its nickname; and its welcome."""
    program = open_client(server)
    program.greeting()
    program.send_line(f"/resume {room_name} {after}")
    assert program.read_line() == f"*** you will join {room_name} after message {after}"
    program.send_line(nick)
    return program, program.read_line()


def program_in(open_client: Open, server: RunningServer, nick: str, room_name: str) -> Client:
    """A program with ids on (``/ids``), joined as ``nick`` and moved to ``room_name``."""
    program = open_client(server)
    program.greeting()
    program.send_line("/ids")
    assert program.read_line().startswith("*** message ids on; resume token ")
    program.send_line(nick)
    assert program.read_line().startswith(f"*** Welcome, {nick}!")
    move(program, room_name)
    return program


def talk(
    talker: Client, numbers: range, during: Callable[[int], None] = lambda number: None
) -> None:
    """Send ``n0001``, ``n0002``... one every TALK_EVERY seconds; ``during(n)`` before each."""
    for number in numbers:
        during(number)
        talker.send_line(f"n{number:04d}")
        time.sleep(TALK_EVERY)


NUMBERED = re.compile(r"(?:\[\d{4}-\d\d-\d\d \d\d:\d\dZ\] )?<talker> n(\d{4})")


def numbers_shown(printed: list[str]) -> tuple[list[int], int]:
    """The talker's numbers a piped client printed, in order; and how many were replayed."""
    numbers, replayed = [], 0
    for line in printed:
        match = NUMBERED.fullmatch(line.rstrip("\n"))
        if match is not None:
            numbers.append(int(match.group(1)))
            replayed += line.startswith("[")
    return numbers, replayed


def wait_printed(client: BackgroundClient, number: int) -> None:
    """Wait until the piped client has printed the talker's message ``number``."""
    wanted = f"<talker> n{number:04d}"
    deadline = time.monotonic() + CATCH_UP_TIMEOUT
    while not any(line.rstrip("\n").endswith(wanted) for line in list(client.printed)):
        assert client.process.poll() is None, f"the client exited: {client.printed[-5:]}"
        assert time.monotonic() < deadline, (
            f"{wanted!r} not printed within {CATCH_UP_TIMEOUT}s; last: {client.printed[-5:]}"
        )
        time.sleep(0.02)


def assert_each_once_in_order(client: BackgroundClient, last: int) -> int:
    """Every number 1..last printed exactly once and in order; returns how many were replayed."""
    numbers, replayed = numbers_shown(client.printed)
    duplicates = sorted({number for number in numbers if numbers.count(number) > 1})
    missing = sorted(set(range(1, last + 1)) - set(numbers))
    assert not duplicates, f"shown twice: {duplicates}"
    assert not missing, f"never shown: {missing}"
    assert numbers == list(range(1, last + 1)), "shown out of order"
    return replayed


class Relay:
    """A loopback TCP relay to a server whose connections the test drops, as a network would.

    ``cut()`` closes both halves of every connection relayed so far, so the
    client and the server both see it end. ``cut(server_notices=False)``
    closes only the client's half: the server keeps an open, silent
    connection, as after a network drop it has not noticed yet. New
    connections are relayed as before.
    """

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self._links: list[tuple[socket.socket, socket.socket]] = []
        self._lingering: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                near, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                far = socket.create_connection((HOST, self.target), timeout=LINE_TIMEOUT)
            except OSError:
                near.close()
                continue
            near.settimeout(None)
            far.settimeout(None)
            with self._lock:
                self._links.append((near, far))
            for source, sink in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
            if sink not in self._lingering:
                sink.shutdown(socket.SHUT_WR)

    def cut(self, server_notices: bool = True) -> None:
        """Drop every connection relayed so far; the server's half too, if it is to notice."""
        with self._lock:
            links, self._links = self._links, []
            if not server_notices:
                self._lingering += [far for _, far in links]
        for near, far in links:
            for sock in (near, far) if server_notices else (near,):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(LINE_TIMEOUT)
        self.listener.close()
        self.cut()
        for sock in self._lingering:
            sock.close()


@pytest.fixture
def relay() -> Iterator[Callable[[int], Relay]]:
    """Start a :class:`Relay` to a port; every one is closed after the test."""
    started: list[Relay] = []

    def start(port: int) -> Relay:
        started.append(Relay(port))
        return started[-1]

    yield start
    for each in started:
        each.close()


# Rooms


def test_join_moves_you_and_tells_the_old_room_and_the_new(
    server: RunningServer, open_client: Open
):
    """``/join dev`` says where you are; the lobby hears you went to dev, dev hears you joined."""
    alice, bob, carol = room(server, open_client, "alice", "bob", "carol")
    assert move(alice, "dev") == "*** you are now in dev with 0 others"
    assert bob.read_line() == carol.read_line() == "*** alice has left (went to dev)"
    assert move(bob, "dev") == "*** you are now in dev with 1 other"
    assert alice.read_line() == "*** bob has joined"
    assert carol.read_line() == "*** bob has left (went to dev)"
    assert move(alice, "lobby") == "*** you are now in lobby with 1 other"
    assert bob.read_line() == "*** alice has left (went to lobby)"
    assert carol.read_line() == "*** alice has joined"


def test_messages_and_actions_stay_in_their_room(server: RunningServer, open_client: Open):
    """What is said or done (``/me``) in one room reaches that room's other members only."""
    alice, bob, carol, dave = room(server, open_client, "alice", "bob", "carol", "dave")
    for member in (bob, carol):
        move(member, "dev")
    alice.send_line("lobby talk")
    alice.send_line("/me waves in the lobby")
    assert [dave.read_line() for _ in range(4)] == [
        "*** bob has left (went to dev)",
        "*** carol has left (went to dev)",
        "<alice> lobby talk",
        "* alice waves in the lobby",
    ]
    bob.send_line("dev talk")
    bob.send_line("/me waves in dev")
    assert [carol.read_line() for _ in range(2)] == ["<bob> dev talk", "* bob waves in dev"]
    assert settled(dave) == []
    assert settled(bob) == ["*** carol has joined"]
    assert settled(alice) == ["*** bob has left (went to dev)", "*** carol has left (went to dev)"]


def test_join_and_leave_notices_stay_in_their_room(server: RunningServer, open_client: Open):
    """Arrivals and departures in the lobby are not heard in dev, nor those of dev in the lobby."""
    alice, bob, carol = room(server, open_client, "alice", "bob", "carol")
    move(bob, "dev")
    move(carol, "dev")
    assert settled(alice) == ["*** bob has left (went to dev)", "*** carol has left (went to dev)"]
    assert settled(bob) == ["*** carol has joined"]
    erin = open_client(server, "erin")
    erin.leave()
    frank = open_client(server, "frank")
    move(frank, "dev")
    frank.leave()
    move(carol, "lobby")
    assert settled(bob) == [
        "*** frank has joined",
        "*** frank has left (quit)",
        "*** carol has left (went to lobby)",
    ]
    assert settled(alice) == [
        "*** erin has joined",
        "*** erin has left (quit)",
        "*** frank has joined",
        "*** frank has left (went to dev)",
        "*** carol has joined",
    ]


def test_who_lists_the_members_of_your_room_only(server: RunningServer, open_client: Open):
    """``/who`` names the members of your own room, whoever is elsewhere."""
    alice, bob, carol = room(server, open_client, "alice", "bob", "carol")
    move(bob, "dev")
    move(carol, "dev")
    assert who(alice) == "*** 1 user in lobby: alice"
    assert who(bob) == "*** 2 users in dev: bob, carol"


def test_rooms_lists_every_room_with_its_member_count(server: RunningServer, open_client: Open):
    """``/rooms`` counts the members of each room, lobby first; an emptied room disappears."""
    alice, bob, carol = room(server, open_client, "alice", "bob", "carol")
    move(bob, "dev")
    move(carol, "dev")
    assert alice.ask("/rooms", "rooms")[-1] == "*** 2 rooms: lobby (1), dev (2)"
    move(bob, "ops")
    assert alice.ask("/rooms", "rooms")[-1] == "*** 3 rooms: lobby (1), dev (1), ops (1)"
    move(bob, "lobby")
    carol.leave()
    assert alice.ask("/rooms", "room")[-1] == "*** 1 room: lobby (2)"


def test_msg_reaches_a_user_in_any_room(server: RunningServer, open_client: Open):
    """``/msg`` goes from the lobby to dev and back, and nobody else hears it."""
    alice, bob, carol = room(server, open_client, "alice", "bob", "carol")
    move(bob, "dev")
    alice.send_line("/msg bob psst")
    assert bob.read_line() == "*alice* psst"
    assert alice.expect("-> *bob*") == "-> *bob* psst"
    bob.send_line("/msg ALICE hi back")
    assert alice.read_line() == "*bob* hi back"
    assert settled(carol) == ["*** bob has left (went to dev)"]


@pytest.mark.parametrize("bad", ["bad!room", "x" * 33, "#", "##dev", "été", "a.b"])
def test_invalid_room_name_is_an_error(server: RunningServer, open_client: Open, bad: str):
    """A room name that breaks the rules is refused with why, and you stay where you were."""
    alice = open_client(server, "alice")
    answer = alice.ask(f"/join {bad}", "!!!")[-1]
    assert error(f'room name "{bad}" is invalid', "1 to 32 letters, digits, _ or -")(answer)
    assert who(alice) == "*** 1 user in lobby: alice"


def test_join_without_one_room_name_gets_its_usage(server: RunningServer, open_client: Open):
    """``/join`` with no room, or with more than a room and its key, is answered with its
    usage."""
    alice = open_client(server, "alice")
    for wrong in ("/join", "/join dev key extra"):
        assert alice.ask(wrong, "!!!")[-1] == "!!! usage: /join ROOM [KEY]", wrong
    assert who(alice) == "*** 1 user in lobby: alice"


def test_longest_room_name_is_accepted(server: RunningServer, open_client: Open):
    """A room name of exactly 32 characters is allowed."""
    alice = open_client(server, "alice")
    assert move(alice, "r" * 32) == f"*** you are now in {'r' * 32} with 0 others"


def test_join_ignores_case_and_a_leading_hash(server: RunningServer, open_client: Open):
    """``/join #Dev`` and ``/join DEV`` are the room ``dev``."""
    alice, bob = room(server, open_client, "alice", "bob")
    move(alice, "dev")
    assert move(bob, "#Dev") == "*** you are now in dev with 1 other"
    assert alice.read_line() == "*** bob has joined"
    assert bob.ask("/join DEV", "!!!")[-1] == "!!! you are already in dev"
    assert bob.ask("/rooms", "rooms")[-1] == "*** 2 rooms: lobby (0), dev (2)"


# History


def test_joining_a_room_replays_its_messages_and_actions_with_their_time(
    history_server: RunningServer, open_client: Open
):
    """A newcomer to a room first sees its past lines, time-stamped between notices, then live."""
    alice, bob = room(history_server, open_client, "alice", "bob")
    move(alice, "replay")
    alice.send_line("first")
    alice.send_line("/me nods")
    move(bob, "replay-other")
    bob.send_line("only in the other room")
    settled(alice)
    settled(bob)
    carol = open_client(history_server, "carol")
    assert settled(carol) == []
    carol.send_line("/join replay")
    lines = [carol.read_line() for _ in range(5)]
    assert lines[:2] == [
        "*** you are now in replay with 1 other",
        "*** history of replay, last 2 messages:",
    ]
    assert [stamped_now(line) for line in lines[2:4]] == ["<alice> first", "* alice nods"]
    assert lines[4] == "*** end of history"
    alice.send_line("live")
    assert carol.read_line() == "<alice> live"


def test_history_option_bounds_the_replay(history_server: RunningServer, open_client: Open):
    """With ``--history 3`` a newcomer sees only the last three of five messages."""
    alice = open_client(history_server, "alice")
    move(alice, "bounded")
    for number in range(1, 6):
        alice.send_line(f"m{number}")
    settled(alice)
    bob = open_client(history_server, "bob")
    move(bob, "bounded")
    lines = settled(bob)
    assert lines[0] == "*** history of bounded, last 3 messages:"
    assert [stamped_now(line) for line in lines[1:4]] == ["<alice> m3", "<alice> m4", "<alice> m5"]
    assert lines[4:] == ["*** end of history"]


def test_history_command_shows_the_last_n_messages(
    history_server: RunningServer, open_client: Open
):
    """``/history 5`` shows five; ``/history`` shows all that is kept (``--history-keep 6``)."""
    alice, bob = room(history_server, open_client, "alice", "bob")
    move(alice, "asked")
    move(bob, "asked")
    for number in range(1, 9):
        alice.send_line(f"m{number}")
    assert bob.expect("m8") == "<alice> m8"
    lines = bob.ask("/history 5", "end of history")
    assert lines[0] == "*** history of asked, last 5 messages:"
    assert [stamped_now(line) for line in lines[1:-1]] == [f"<alice> m{n}" for n in range(4, 9)]
    lines = bob.ask("/history", "end of history")
    assert lines[0] == "*** history of asked, last 6 messages:"
    assert [stamped_now(line) for line in lines[1:-1]] == [f"<alice> m{n}" for n in range(3, 9)]
    move(bob, "asked-empty")
    assert bob.ask("/history 1", "history")[-1] == "*** asked-empty has no history yet"


def test_history_count_out_of_bounds_is_a_usage_error(
    history_server: RunningServer, open_client: Open
):
    """``/history 0``, more than ``--history-keep``, or not a number: the usage, with the bound."""
    alice = open_client(history_server, "alice")
    move(alice, "counted")
    alice.send_line("something to show")
    for bad in ("0", "7", "-1", "five", "1 2"):
        assert alice.ask(f"/history {bad}", "!!!")[-1] == (
            "!!! usage: /history [N], with N from 1 to 6"
        ), bad


def test_history_survives_a_restart_in_the_same_directory(start_server: Start, open_client: Open):
    """Messages and actions said in dev before a restart are replayed, with their time, after it."""
    server = start_server()
    alice = open_client(server, "alice")
    move(alice, "dev")
    alice.send_line("said before the restart")
    alice.send_line("/me restarts the server")
    settled(alice)
    server.restart()
    assert (server.workdir / "tcpchat.db").exists()
    bob = open_client(server, "bob")
    assert settled(bob) == []
    lines = bob.ask("/join dev", "end of history")
    assert lines[:2] == [
        "*** you are now in dev with 0 others",
        "*** history of dev, last 2 messages:",
    ]
    assert [stamped_now(line) for line in lines[2:-1]] == [
        "<alice> said before the restart",
        "* alice restarts the server",
    ]


def test_db_option_chooses_the_history_file(start_server: Start, open_client: Open):
    """``--db PATH`` keeps history in PATH, and a server started on it again replays it."""
    server = start_server("--db", "elsewhere.sqlite")
    alice = open_client(server, "alice")
    alice.send_line("kept elsewhere")
    settled(alice)
    server.stop()
    assert (server.workdir / "elsewhere.sqlite").exists()
    assert not (server.workdir / "tcpchat.db").exists()
    server.start()
    lines = settled(open_client(server, "carol"))
    assert [stamped_now(line) for line in lines[1:-1]] == ["<alice> kept elsewhere"]


# Catching up with /ids and /resume


def test_resume_shows_exactly_the_missed_messages(
    history_server: RunningServer, open_client: Open
):
    """Back with ``/resume dev ID``, a program gets dev's messages after ID, then live ones."""
    server = history_server
    talker = open_client(server, "talker")
    move(talker, "dev")
    elsewhere = open_client(server, "loud")
    move(elsewhere, "dev-other")
    program = program_in(open_client, server, "prog", "dev")
    talker.send_line("seen")
    seen, line = tagged(program.expect("<talker>"))
    assert line == "<talker> seen"
    program.reset()
    talker.expect(notice("prog has left (connection lost)"))
    talker.send_line("missed")
    elsewhere.send_line("in another room")
    talker.send_line("/me missed too")
    settled(talker)
    settled(elsewhere)
    program, welcome = resume(open_client, server, "prog", "dev", seen)
    assert welcome.startswith("*** Welcome, prog! You are in dev with 1 other;")
    lines = [program.read_line() for _ in range(4)]
    assert lines[0] == "*** history of dev, last 2 messages:"
    replayed = [tagged(line) for line in lines[1:3]]
    assert [stamped_now(text) for _, text in replayed] == ["<talker> missed", "* talker missed too"]
    assert lines[3] == "*** end of history"
    talker.send_line("live again")
    live, line = tagged(program.read_line())
    assert line == "<talker> live again"
    assert seen < replayed[0][0] < replayed[1][0] < live


def test_resume_across_a_restart_shows_what_was_missed_with_growing_ids(
    start_server: Start, open_client: Open
):
    """Ids keep growing across a restart, and ``/resume`` replays both sides of it."""
    server = start_server()
    program = program_in(open_client, server, "prog", "dev")
    talker = open_client(server, "talker")
    move(talker, "dev")
    talker.send_line("seen")
    seen, _ = tagged(program.expect("<talker>"))
    program.reset()
    talker.expect(notice("prog has left"))
    talker.send_line("before the restart")
    settled(talker)
    server.restart()
    talker = open_client(server, "talker")
    move(talker, "dev")
    talker.send_line("after the restart")
    settled(talker)
    program, _ = resume(open_client, server, "prog", "dev", seen)
    lines = settled(program)
    assert lines[0] == "*** history of dev, last 2 messages:"
    replayed = [tagged(line) for line in lines[1:3]]
    assert [stamped_now(text) for _, text in replayed] == [
        "<talker> before the restart",
        "<talker> after the restart",
    ]
    assert seen < replayed[0][0] < replayed[1][0]
    assert lines[3:] == ["*** end of history"]


def test_resume_says_when_older_messages_are_no_longer_kept(
    history_server: RunningServer, open_client: Open
):
    """With ``--history-keep 6``, missing seven messages gives a notice, then the six kept."""
    server = history_server
    talker = open_client(server, "talker")
    program = program_in(open_client, server, "prog", "forgetful")
    move(talker, "forgetful")
    talker.send_line("seen")
    seen, _ = tagged(program.expect("<talker>"))
    program.reset()
    kept = [f"kept {number}" for number in range(1, KEEP + 1)]
    for text in ("lost", *kept):
        talker.send_line(text)
    settled(talker)
    program, _ = resume(open_client, server, "prog", "forgetful", seen)
    lines = settled(program)
    assert lines[:2] == [
        "*** older messages of forgetful are no longer kept",
        f"*** history of forgetful, last {KEEP} messages:",
    ]
    assert [stamped_now(tagged(line)[1]) for line in lines[2:-1]] == [
        f"<talker> {text}" for text in kept
    ]
    assert lines[-1] == "*** end of history"


def test_resume_gives_no_loss_notice_when_nothing_was_lost(
    history_server: RunningServer, open_client: Open
):
    """Messages of other rooms in between do not make ``/resume`` claim that some were lost."""
    server = history_server
    talker = open_client(server, "talker")
    elsewhere = open_client(server, "loud")
    move(elsewhere, "complete-other")
    program = program_in(open_client, server, "prog", "complete")
    move(talker, "complete")
    talker.send_line("seen")
    seen, _ = tagged(program.expect("<talker>"))
    program.reset()
    elsewhere.send_line("said in another room")
    settled(elsewhere)
    missed = [f"missed {number}" for number in range(1, KEEP + 1)]
    for text in missed:
        talker.send_line(text)
    settled(talker)
    program, _ = resume(open_client, server, "prog", "complete", seen)
    lines = settled(program)
    assert lines[0] == f"*** history of complete, last {KEEP} messages:"
    assert [stamped_now(tagged(line)[1]) for line in lines[1:-1]] == [
        f"<talker> {text}" for text in missed
    ]
    assert lines[-1] == "*** end of history"


# The piped client catching up


def bot_in_dev(start: Piped, host: str, port: int, talker: Client) -> BackgroundClient:
    """``tcpchat-client --nick bot`` in pipe mode, input kept open, moved to dev by its input."""
    bot = start(["--nick", "bot", host, str(port)])
    bot.wait_for(bot.stdout, "*** Welcome, bot!")
    bot.send("/join dev")
    talker.expect(notice("bot has joined"))
    return bot


def test_piped_client_shows_each_message_once_in_order_across_a_server_restart(
    start_server: Start, open_client: Open, background_clients: Piped
):
    """While the server restarts and another keeps talking, the bot misses and repeats nothing."""
    server = start_server("--flood", "0", "--shutdown-grace", "1")
    talker = open_client(server, "talker")
    move(talker, "dev")
    bot = bot_in_dev(background_clients, server.host, server.port, talker)
    before = range(1, 21)
    talk(talker, before)
    wait_printed(bot, before[-1])
    server.restart()
    bot.wait_for(bot.stderr, "connection lost")
    talker = open_client(server, "talker")
    move(talker, "dev")
    after = range(before[-1] + 1, before[-1] + 1 + int(TALK_FOR / TALK_EVERY))
    talk(talker, after)
    settled(talker)
    wait_printed(bot, after[-1])
    assert_caught_up(bot, after[-1])


def assert_caught_up(bot: BackgroundClient, last: int) -> None:
    """The bot leaves cleanly, having reconnected and shown 1..last once each, some replayed."""
    bot.end_input()
    assert bot.exit_status() == 0
    assert bot.wait_for(bot.stderr, "reconnected") == "*** reconnected: back in the room as bot\n"
    replayed = assert_each_once_in_order(bot, last)
    assert replayed > 0, "nothing was said while the client was away: the test proved nothing"


def bot_behind_a_relay(
    start_server: Start, open_client: Open, background_clients: Piped, relay: Callable[[int], Relay]
) -> tuple[Client, Relay, BackgroundClient]:
    """A talker in dev, and the piped bot in dev reaching the server through a relay."""
    server = start_server("--flood", "0")
    talker = open_client(server, "talker")
    move(talker, "dev")
    network = relay(server.port)
    return talker, network, bot_in_dev(background_clients, HOST, network.port, talker)


def test_piped_client_shows_each_message_once_in_order_after_a_dropped_connection(
    start_server: Start,
    open_client: Open,
    background_clients: Piped,
    relay: Callable[[int], Relay],
):
    """When the bot's connection drops while another talks, it misses and repeats nothing."""
    talker, network, bot = bot_behind_a_relay(start_server, open_client, background_clients, relay)
    numbers = range(1, 1 + int(TALK_FOR / TALK_EVERY))
    cut_at = 30
    talk(talker, numbers, lambda number: network.cut() if number == cut_at else None)
    settled(talker)
    wait_printed(bot, numbers[-1])
    assert_caught_up(bot, numbers[-1])


def test_piped_client_catches_up_after_a_drop_the_server_has_not_noticed(
    start_server: Start,
    open_client: Open,
    background_clients: Piped,
    relay: Callable[[int], Relay],
):
    """A drop that leaves the server holding the bot's old connection does not end the bot."""
    talker, network, bot = bot_behind_a_relay(start_server, open_client, background_clients, relay)
    talk(talker, range(1, 2))
    wait_printed(bot, 1)
    network.cut(server_notices=False)
    talk(talker, range(2, 3))
    wait_printed(bot, 2)
    bot.end_input()
    assert bot.exit_status() == 0
    assert_each_once_in_order(bot, 2)


def test_piped_client_is_not_shown_its_own_line_after_reconnecting(
    start_server: Start,
    open_client: Open,
    background_clients: Piped,
    relay: Callable[[int], Relay],
):
    """What the bot said itself just before a drop is not printed back to it once reconnected."""
    talker, network, bot = bot_behind_a_relay(start_server, open_client, background_clients, relay)
    talk(talker, range(1, 2))
    wait_printed(bot, 1)
    bot.send("said by the bot")
    talker.expect("<bot> said by the bot")
    network.cut()
    talker.expect(notice("bot has left (connection lost)"))
    talk(talker, range(2, 3))
    wait_printed(bot, 2)
    bot.end_input()
    assert bot.exit_status() == 0
    assert_each_once_in_order(bot, 2)
    assert not [line for line in bot.printed if "said by the bot" in line]
