"""Accounts and moderation shared by two real ``twistd -n tcpchat --redis`` nodes.

The session's redis-server (tests/support/redis_server.py) and two nodes for
the module, both given its URL: node A with a ``--db`` file of its own, node
B with none, so whatever B knows of accounts and moderation comes from
Redis. Each test uses nicknames and rooms of its own. Users are raw sockets,
as nc is. Processes are stopped by their pid at the end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.checked import error
from tests.support.redis_server import RedisServer, redis_server
from tests.support.servers import LineConnection, RunningServer, all_running

__all__ = ["redis_server"]  # the fixture, for pytest to find

pytestmark = pytest.mark.e2e

PASSWORD = "correcthorse"


@pytest.fixture(scope="module")
def nodes(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[RunningServer]]:
    """Node A (its own --db) and node B (none), one chat through the session's Redis."""
    workdir = tmp_path_factory.mktemp("cluster-accounts")
    url = f"unix:{redis_server.path}"
    with all_running(workdir, [
        ["--db", db, "--history", "0", "--login-delay", "0.1", "--redis", url]
        for db in (str(workdir / "a.db"), "")
    ]) as started:
        yield started


@pytest.fixture
def users() -> Iterator[list[LineConnection]]:
    """Connections made by a test, closed after it."""
    made: list[LineConnection] = []
    yield made
    for user in made:
        user.close()


def _guest(node: RunningServer, nick: str, users: list[LineConnection]) -> LineConnection:
    user = node.connect(nick)
    users.append(user)
    return user


def _logged_in(
    node: RunningServer, nick: str, password: str, users: list[LineConnection]
) -> LineConnection:
    """``nick`` answers its password prompt on ``node`` and is welcomed."""
    user = node.connect()
    users.append(user)
    user.expect("choose a nickname")
    user.send_line(nick)
    user.expect(lambda line: line.startswith("*** ") and "password" in line)
    user.send_line(password)
    user.expect(f"Welcome, {nick}!")
    return user


def _registered(node: RunningServer, nick: str, users: list[LineConnection]) -> None:
    """``nick`` joins ``node`` as a guest, registers with /register, and quits."""
    user = _guest(node, nick, users)
    user.send_line(f"/register {PASSWORD}")
    user.expect("registered")
    user.close()
    users.remove(user)


def test_registered_on_one_node_logs_in_on_the_other(
    nodes: list[RunningServer], users: list[LineConnection]
) -> None:
    """An account made on A asks for its password on B, refuses a wrong one there and
    lets the right one in."""
    a, b = nodes
    _registered(a, "Regina", users)
    user = b.connect()
    users.append(user)
    user.expect("choose a nickname")
    user.send_line("regina")
    user.expect(lambda line: line.startswith("*** ") and "password" in line)
    user.send_line("wronghorse")
    user.expect(error("wrong password"))
    user.expect(lambda line: line.startswith("*** ") and "password" in line)
    user.send_line(PASSWORD)
    user.expect("Welcome, Regina!")


def _in_room(user: LineConnection, room: str) -> None:
    user.send_line(f"/join {room}")
    user.expect(f"you are now in {room}")


def test_a_room_owners_topic_and_ban_on_one_node_hold_on_the_other(
    nodes: list[RunningServer], users: list[LineConnection]
) -> None:
    """Olive, registered on A, makes a room, sets its topic and bans zed from it there; on B
    bob joining it is shown the topic, zed is refused it and joins another room."""
    a, b = nodes
    olive = _guest(a, "olive", users)
    olive.send_line(f"/register {PASSWORD}")
    olive.expect("registered")
    _in_room(olive, "attic")
    olive.send_line("/topic ladders and boxes")
    olive.expect("set the topic")
    olive.send_line("/ban zed")
    olive.expect("banned zed")
    bob = _guest(b, "bob", users)
    bob.send_line("/join attic")
    bob.expect("you are now in attic")
    bob.expect(lambda line: line.startswith("*** topic of attic: ladders and boxes (set by olive"))
    zed = _guest(b, "zed", users)
    zed.send_line("/join attic")
    zed.expect(error("banned from attic"))
    _in_room(zed, "cellar")


def test_a_ban_set_on_one_node_puts_out_a_member_of_the_other(
    nodes: list[RunningServer], users: list[LineConnection]
) -> None:
    """Oona, owner of a room on A, bans yann, who is in it on B: yann is put out on B at once,
    told by whom."""
    a, b = nodes
    oona = _guest(a, "oona", users)
    oona.send_line(f"/register {PASSWORD}")
    oona.expect("registered")
    _in_room(oona, "loft")
    yann = _guest(b, "yann", users)
    _in_room(yann, "loft")
    oona.expect("yann has joined")
    oona.send_line("/ban yann")
    oona.expect("banned yann")
    yann.expect(error("you are banned from loft by oona"))
    yann.expect("lobby")
