"""Real ``twistd -n tcpchat --redis`` processes on one real redis-server: one chat.

The session's redis-server (tests/support/redis_server.py, a unix socket in
a temporary directory) and three nodes for the module, all given its URL,
each on its own loopback port; every test uses rooms and nicknames of its
own, so they share the nodes without flushing Redis under them. The test
that kills a node with SIGKILL starts that node itself. Users are raw
sockets, as nc is. Processes are stopped by their pid at the end.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat.redis.presence import DEFAULT_LEASE
from tests.support.redis_server import RedisServer, redis_server
from tests.support.servers import (
    EXIT_TIMEOUT,
    LineConnection,
    RunningServer,
    all_running,
    foreground,
    run_twistd,
)

__all__ = ["redis_server"]  # the fixture, for pytest to find

pytestmark = pytest.mark.e2e

MESSAGES = 15
"""Messages each of two talkers sends at once, on two nodes."""
ID_TAG = re.compile(r"@id=(\d+) (<.*)")
PAST = re.compile(r"@id=\d+ \[[^]]*\] (<.*)")
"""A message shown from history, with its id."""
WHO = re.compile(r"\*\*\* \d+ users? in (\S+): (.*)")
LEAVE_BOUND = DEFAULT_LEASE * 4 / 3
"""Seconds after a node dies by which its members' leaves are told (docs/scaling.md)."""


@pytest.fixture(scope="module")
def nodes(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[RunningServer]]:
    """Three server processes, one chat through the session's Redis."""
    workdir = tmp_path_factory.mktemp("cluster")
    with all_running(workdir, [_node_arguments(redis_server)] * 3) as started:
        yield started


def _node_arguments(redis_server: RedisServer) -> list[str]:
    return ["--db", "", "--history", "5", "--redis", f"unix:{redis_server.path}"]


def _node(workdir: Path, redis_server: RedisServer) -> RunningServer:
    return RunningServer(workdir, _node_arguments(redis_server))


@pytest.fixture
def users() -> Iterator[list[LineConnection]]:
    """Connections made by a test, closed after it."""
    made: list[LineConnection] = []
    yield made
    for user in made:
        user.close()


def _two_in_a_room_elsewhere(
    nodes: list[RunningServer], name: str, users: list[LineConnection]
) -> RunningServer:
    """``name``1 on the first node and ``name``2 on the second, both in the room ``name``;
    the third node, where neither is."""
    one, two, three = nodes
    _user(one, f"{name}1", name, users)
    _user(two, f"{name}2", name, users)
    return three


def _user(
    node: RunningServer, nick: str, room: str, users: list[LineConnection], ids: bool = False
) -> LineConnection:
    user = node.connect(nick)
    users.append(user)
    if ids:
        user.send_line("/ids")
        user.expect("*** message ids on")
    user.send_line(f"/join {room}")
    user.expect(f"you are now in {room}")
    return user


def _tagged(line: str) -> bool:
    return ID_TAG.fullmatch(line) is not None


def test_users_on_two_nodes_see_one_order(
    nodes: list[RunningServer], users: list[LineConnection]
) -> None:
    """Two talkers, one per node, send at once; a listener on each node hears every
    message of both, and both listeners hear them in the same order, numbered alike and
    rising."""
    one, two, _ = nodes
    listeners = [_user(one, "ear1", "order", users, ids=True),
                 _user(two, "ear2", "order", users, ids=True)]
    talkers = [_user(one, "ann", "order", users), _user(two, "ben", "order", users)]
    for listener in listeners:
        listener.expect("ben has joined")
    for number in range(MESSAGES):
        for talker in talkers:
            talker.send_line(f"m{number}")
    heard = [
        [listener.expect(_tagged) for _ in range(2 * MESSAGES)] for listener in listeners
    ]
    assert heard[0] == heard[1]
    tagged = [ID_TAG.fullmatch(line) for line in heard[0]]
    ids = [int(match.group(1)) for match in tagged if match]
    assert ids == sorted(ids) and len(set(ids)) == 2 * MESSAGES
    said = [match.group(2) for match in tagged if match]
    for nick in ("ann", "ben"):
        assert [line for line in said if line.startswith(f"<{nick}>")] == [
            f"<{nick}> m{number}" for number in range(MESSAGES)
        ]


def test_a_nickname_taken_on_one_node_is_refused_on_the_other(
    nodes: list[RunningServer], users: list[LineConnection]
) -> None:
    """Ignoring case, as on one server."""
    one, two, _ = nodes
    users.append(one.connect("Taken"))
    other = two.connect()
    users.append(other)
    other.expect("choose a nickname")
    other.send_line("TAKEN")
    assert other.expect("is taken") == '!!! nickname "TAKEN" is taken'


def test_history_on_joining_on_one_node_shows_what_was_said_on_the_other(
    nodes: list[RunningServer], users: list[LineConnection]
) -> None:
    """What was said on the first node is the room's history on the second."""
    one, two, _ = nodes
    speaker = _user(one, "said", "past", users)
    witness = _user(one, "seen", "past", users)
    speaker.send_line("kept for later")
    witness.expect("<said> kept for later")
    late = _user(two, "late", "past", users)
    late.expect("*** history of past")
    assert late.expect(lambda line: "<said>" in line).endswith("<said> kept for later")
    late.expect("*** end of history")


def test_a_redis_that_does_not_answer_ends_start_up_with_one_line(tmp_path: Path) -> None:
    """No Redis at the URL given: one line, exit 2, as any other refused start."""
    missing = tmp_path / "nothing.sock"
    done = run_twistd(tmp_path, foreground("--db", "", "--redis", f"unix:{missing}"),
                      timeout=EXIT_TIMEOUT)
    assert done.returncode == 2
    [line] = (done.stdout + done.stderr).splitlines()
    assert f"--redis: Redis at {missing}:" in line


def _who(user: LineConnection, room: str, count: int) -> set[str]:
    """The members /who lists, asked until it lists ``count`` (for at most 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        user.send_line("/who")
        match = WHO.fullmatch(user.expect(lambda line: WHO.fullmatch(line) is not None))
        assert match is not None and match.group(1) == room
        nicks = set(match.group(2).split(", "))
        if len(nicks) == count or time.monotonic() > deadline:
            return nicks
        time.sleep(0.1)


def test_every_node_shows_the_same_members(
    nodes: list[RunningServer], users: list[LineConnection]
) -> None:
    """Users of one room on three nodes: /who on each lists all three, and after one
    leaves, the other two."""
    joined = [_user(node, f"who{number}", "whoroom", users) for number, node in
              enumerate(nodes)]
    everyone = {"who0", "who1", "who2"}
    assert [_who(user, "whoroom", 3) for user in joined] == [everyone] * 3
    joined[1].send_line("/quit")
    for user in (joined[0], joined[2]):
        user.expect("who1 has left")
        assert _who(user, "whoroom", 2) == {"who0", "who2"}


def test_rooms_counts_every_nodes_members(
    nodes: list[RunningServer], users: list[LineConnection]
) -> None:
    """/rooms on a node lists a room whose members are all on other nodes, with their count."""
    three = _two_in_a_room_elsewhere(nodes, "census", users)
    asker = three.connect("census3")
    users.append(asker)
    asker.send_line("/rooms")
    listed = asker.expect(lambda line: line.startswith("*** ") and " room" in line
                          and ": " in line and "(" in line)
    assert "census (2)" in listed, listed


def test_the_welcome_counts_who_is_online_on_every_node(
    nodes: list[RunningServer], users: list[LineConnection]
) -> None:
    """A user welcomed on the third node is told of those online on the other two too."""
    three = _two_in_a_room_elsewhere(nodes, "count", users)
    third = LineConnection(three.host, three.port)
    users.append(third)
    third.expect(lambda line: "nickname" in line)
    third.send_line("count3")
    welcome = third.expect(lambda line: line.startswith("*** Welcome, count3!"))
    online = int(re.search(r"; (\d+) online", welcome).group(1))  # type: ignore[union-attr]
    assert online >= 3, welcome


def test_a_private_message_reaches_a_user_on_another_node(
    nodes: list[RunningServer], users: list[LineConnection]
) -> None:
    """/msg from a user on one node to a user on another, in any case; to a nickname
    nobody has, the usual error."""
    one, two, _ = nodes
    sender = _user(one, "Pia", "private", users)
    recipient = _user(two, "Quinn", "elsewhere", users)
    sender.send_line("/msg quinn psst, over here")
    assert sender.expect("-> *") == "-> *Quinn* psst, over here"
    assert recipient.expect("*Pia*") == "*Pia* psst, over here"
    sender.send_line("/msg nobody-here hello?")
    assert sender.expect("!!!") == '!!! no user is called "nobody-here"'


def test_a_killed_nodes_users_leave_once_and_the_living_lose_nothing(
    nodes: list[RunningServer], users: list[LineConnection],
    redis_server: RedisServer, tmp_path: Path,
) -> None:
    """kill -9 a node while users on two others talk: within the lease's bound both are
    told once that each of its users left (connection lost), the nicknames can be taken
    again, every message of the living arrives, and a user of the dead node who resumes on
    another node from the last id it saw is shown each message it missed exactly once."""
    one, two, _ = nodes
    victim = _node(tmp_path, redis_server).start()
    try:
        doomed = [_user(victim, nick, "wake", users, ids=nick == "doomed1")
                  for nick in ("doomed1", "doomed2")]
        talkers = [_user(one, "ann", "wake", users), _user(two, "ben", "wake", users)]
        talkers[0].expect("ben has joined")
        talkers[0].send_line("before")
        talkers[1].expect("<ann> before")
        seen_last = doomed[0].expect(lambda line: line.endswith("<ann> before"))
        last_id = int(seen_last.removeprefix("@id=").split(" ")[0])
        killed = time.monotonic()
        victim.kill()
        for number in range(10):
            talkers[0].send_line(f"a{number}")
            talkers[1].send_line(f"b{number}")
        for talker in talkers:
            for nick in ("doomed1", "doomed2"):
                if not any(f"{nick} has left" in line for line in talker.seen):
                    talker.expect(f"{nick} has left", timeout=LEAVE_BOUND + 2)
        took = time.monotonic() - killed
        assert took <= LEAVE_BOUND + 1, f"leaves told {took:.1f}s after the kill"
        for talker, other in zip(talkers, ("ben", "ann"), strict=True):
            talker.send_line("/msg nobody-now sync")
            talker.expect("!!!")
            said = [line for line in talker.seen if line.startswith(f"<{other}> ")]
            assert said[-10:] == [f"<{other}> {other[0]}{number}" for number in range(10)], (
                talker.seen
            )
            for nick in ("doomed1", "doomed2"):
                lost = f"*** {nick} has left (connection lost)"
                assert talker.seen.count(lost) == 1, talker.seen
        again = two.connect()
        users.append(again)
        again.expect("choose a nickname")
        again.send_line(f"/resume wake {last_id}")
        again.send_line("doomed1")
        again.expect("*** end of history")
        missed = [PAST.fullmatch(line) for line in again.seen]
        shown = [match.group(1) for match in missed if match]
        assert sorted(shown) == sorted(
            [f"<ann> a{number}" for number in range(10)]
            + [f"<ben> b{number}" for number in range(10)]
        ), again.seen
        assert _who(talkers[1], "wake", 3) == {"ann", "ben", "doomed1"}
    finally:
        victim.kill()


def test_a_node_stopped_cleanly_frees_its_users_at_once(
    nodes: list[RunningServer], users: list[LineConnection],
    redis_server: RedisServer, tmp_path: Path,
) -> None:
    """SIGTERM: the others are told its users left well before a lease could run out, and
    the nicknames are free as soon as it has exited."""
    one, _, _ = nodes
    leaving = _node(tmp_path, redis_server).start()
    try:
        _user(leaving, "parting", "bye", users)
        stayer = _user(one, "staying", "bye", users)
        assert _who(stayer, "bye", 2) == {"parting", "staying"}
        stopped = time.monotonic()
        leaving.stop()
        stayer.expect("parting has left", timeout=DEFAULT_LEASE / 2)
        users.append(one.connect("parting"))
        assert time.monotonic() - stopped < DEFAULT_LEASE / 2
    finally:
        leaving.kill()
