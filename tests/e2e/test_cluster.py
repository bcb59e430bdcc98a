"""Two real ``twistd -n tcpchat --redis`` processes on one real redis-server: one chat.

The session's redis-server (tests/support/redis_server.py, a unix socket in
a temporary directory) and two nodes for the module, both given its URL,
each on its own loopback port; every test uses rooms and nicknames of its
own, so they share the nodes without flushing Redis under them. Users are
raw sockets, as nc is. Processes are stopped by their pid at the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer, redis_server
from tests.support.servers import (
    EXIT_TIMEOUT,
    LineConnection,
    RunningServer,
    foreground,
    run_twistd,
)

__all__ = ["redis_server"]  # the fixture, for pytest to find

pytestmark = pytest.mark.e2e

MESSAGES = 15
"""Messages each of two talkers sends at once, on two nodes."""
ID_TAG = re.compile(r"@id=(\d+) (<.*)")


@pytest.fixture(scope="module")
def nodes(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[RunningServer]]:
    """Two server processes, one chat through the session's Redis."""
    workdir = tmp_path_factory.mktemp("cluster")
    url = f"unix:{redis_server.path}"
    started: list[RunningServer] = []
    try:
        for _ in range(2):
            started.append(
                RunningServer(workdir, ["--db", "", "--history", "5", "--redis", url]).start()
            )
        yield started
    finally:
        for node in started:
            try:
                node.stop()
            finally:
                node.kill()


@pytest.fixture
def users() -> Iterator[list[LineConnection]]:
    """Connections made by a test, closed after it."""
    made: list[LineConnection] = []
    yield made
    for user in made:
        user.close()


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
    one, two = nodes
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
    one, two = nodes
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
    one, two = nodes
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
