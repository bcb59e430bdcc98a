"""Two real ``twistd -n tcpchat --redis`` nodes while their Redis stops and starts again.

The module's own redis-server (:class:`~tests.unit.test_redis_health.OwnRedis`:
a unix socket in a temporary directory, the append-only file on, so ids,
history and streams outlive its restart) is stopped with SIGTERM by its pid
and started again on the same socket while users on both nodes talk. The
nodes reconnect every 0.5 s at most (``?backoff=0.5`` in the URL). Users are
raw sockets, as nc is; every process is stopped by its pid. Last, a node
talking to a redis-server over TLS (``rediss://``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chat.redis.address import RedisAddress
from tests.support.servers import LineConnection, RunningServer, all_running
from tests.unit.test_redis_connection import tls_redis
from tests.unit.test_redis_health import OwnRedis

__all__ = ["tls_redis"]  # the fixture, for pytest to find

pytestmark = pytest.mark.e2e

ID_TAG = re.compile(r"@id=(\d+)(?: (<.*))?")
LOST = "*** this server has lost touch with the chat's other servers"
BACK = "*** this server is back in touch with the chat's other servers after"
NOT_SENT = "!!! not sent: this server cannot reach the chat's other servers"


@pytest.fixture
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[OwnRedis, list[RunningServer]]]:
    """A redis-server of this test's own and two nodes on it."""
    redis = OwnRedis()
    try:
        redis.start()
        workdir = tmp_path_factory.mktemp("faults")
        arguments = ["--db", "", "--history", "0", "--redis", f"{redis.url}?backoff=0.5"]
        with all_running(workdir, [arguments] * 2) as started:
            try:
                yield redis, started
            finally:
                if redis.process is None:
                    redis.start()  # so that the nodes stop without waiting out their lease
    finally:
        redis.close()


def _user(node: RunningServer, nick: str, made: list[LineConnection]) -> LineConnection:
    user = node.connect(nick)
    made.append(user)
    user.send_line("/ids")
    user.expect("*** message ids on")
    user.send_line("/join faults")
    user.expect("you are now in faults")
    return user


def _read_until(user: LineConnection, done: Callable[[LineConnection], bool]) -> None:
    """Read lines until ``done(user)`` holds (each read is bounded)."""
    while not done(user):
        user.read_line()


def _acks(user: LineConnection) -> list[int]:
    """The ids ``user`` was given for what it said (``@id=N`` alone), as read so far."""
    return [int(match.group(1)) for line in user.seen
            if (match := ID_TAG.fullmatch(line)) is not None and match.group(2) is None]


def _heard(user: LineConnection) -> list[tuple[int, str]]:
    """The numbered messages of others ``user`` has read so far, with their ids."""
    return [(int(match.group(1)), match.group(2)) for line in user.seen
            if (match := ID_TAG.fullmatch(line)) is not None and match.group(2) is not None]


def test_users_are_told_refused_and_resume_exactly_once_across_a_redis_restart(
    cluster: tuple[OwnRedis, list[RunningServer]],
) -> None:
    """Talk, Redis stops (everyone told, what is said refused, everyone still connected),
    Redis starts (everyone told), talk again: every message a speaker was given an id
    for is seen once by everyone else, in one order on both nodes, and nothing else is."""
    redis, (one, two) = cluster
    users: list[LineConnection] = []
    try:
        ear1, ann = _user(one, "ear1", users), _user(one, "ann", users)
        ear2, ben = _user(two, "ear2", users), _user(two, "ben", users)
        for user in (ear1, ann, ear2):
            user.expect("ben has joined")

        ann.send_line("before 1")
        ben.send_line("before 2")
        for ear in (ear1, ear2):
            _read_until(ear, lambda user: len(_heard(user)) == 2)
        for talker in (ann, ben):
            _read_until(talker, lambda user: len(_heard(user)) == len(_acks(user)) == 1)

        redis.stop()
        for user in users:
            user.expect(LOST)
        ann.send_line("while away")
        assert ann.expect("!!!").startswith(NOT_SENT)
        ben.send_line("/me waits")
        assert ben.expect("!!!").startswith(NOT_SENT)

        redis.start()
        for user in users:
            assert user.expect(BACK).endswith(": you may talk again")

        ben.send_line("after 1")
        ann.expect("<ben> after 1")
        ann.send_line("after 2")
        ann.send_line("end")
        for user in (ear1, ear2, ben):
            user.expect("<ann> end")
        _read_until(ann, lambda user: len(_acks(user)) == 3)
    finally:
        for user in users:
            user.close()

    for node in (one, two):
        log = node.log()
        assert log.count(f"Redis at {redis.path} unreachable: ") == 1
        assert log.count("; retrying every 0.5s") == 1
        assert log.count(f"Redis at {redis.path} reachable again after ") == 1
    everything = _heard(ear1)
    assert _heard(ear2) == everything
    assert [text for _, text in everything] == [
        "<ann> before 1", "<ben> before 2", "<ben> after 1", "<ann> after 2", "<ann> end"
    ] or [text for _, text in everything] == [
        "<ben> before 2", "<ann> before 1", "<ben> after 1", "<ann> after 2", "<ann> end"
    ]
    ids = [number for number, _ in everything]
    assert ids == sorted(set(ids))
    assert sorted(_acks(ann) + _acks(ben)) == ids
    for talker, nick in ((ann, "ann"), (ben, "ben")):
        assert _heard(talker) == [(number, text) for number, text in everything
                                  if not text.startswith(f"<{nick}>")]


def test_a_nickname_chosen_while_redis_is_down_is_answered_at_once(
    cluster: tuple[OwnRedis, list[RunningServer]],
) -> None:
    """Refused at once with the reason (Redis is unreachable), not left waiting; the
    nickname may be chosen again."""
    redis, (one, _) = cluster
    user = one.connect()
    try:
        user.expect("choose a nickname")
        redis.stop()
        time.sleep(0.3)  # the node has seen it go
        user.send_line("newcomer")
        refusal = user.read_line(timeout=1.0)
        assert refusal.startswith("!!! not now: ") and "Redis is unreachable" in refusal
        assert "choose a nickname" in user.read_line(timeout=1.0)
    finally:
        user.close()


def test_a_node_stopped_while_redis_is_down_exits(
    cluster: tuple[OwnRedis, list[RunningServer]],
) -> None:
    """SIGTERM during an outage: the node says goodbye and exits within a few seconds
    (its lease's goodbye gives up on Redis after a third of the lease, 2 s)."""
    redis, (one, _) = cluster
    user = one.connect("leaving")
    try:
        redis.stop()
        user.expect(LOST)
        one.stop(timeout=4.0)  # raises TimeoutExpired if it does not exit
    finally:
        user.close()


def test_a_node_talks_to_redis_over_tls(tls_redis: RedisAddress, tmp_path: Path) -> None:
    """--redis rediss://HOST:PORT?ca=PEM: the node starts (its start-up check is TLS too)
    and two users on it talk through Redis."""
    node = RunningServer(tmp_path, [
        "--db", "", "--history", "0",
        "--redis", f"rediss://{tls_redis.host}:{tls_redis.port}?ca={tls_redis.ca}",
    ]).start()
    users: list[LineConnection] = []
    try:
        ann, ben = _user(node, "ann", users), _user(node, "ben", users)
        ann.expect("ben has joined")
        ann.send_line("over tls")
        assert ID_TAG.fullmatch(ben.expect("<ann> over tls"))
    finally:
        for user in users:
            user.close()
        try:
            node.stop()
        finally:
            node.kill()


WHO = re.compile(r"\*\*\* \d+ users? in (\S+): (.*)")


def _who(user: LineConnection) -> set[str]:
    """The members /who lists in the user's room."""
    user.send_line("/who")
    match = WHO.fullmatch(user.expect(lambda line: WHO.fullmatch(line) is not None))
    assert match is not None
    return set(match.group(2).split(", "))


def test_a_redis_back_without_its_data_is_given_back_what_every_node_holds(
    cluster: tuple[OwnRedis, list[RunningServer]],
) -> None:
    """Redis restarted empty while a user quit: the other node's users are told she left,
    once, and /who no longer lists her; her nickname is free, while the nickname of a
    user still connected cannot be taken on the other node."""
    redis, (one, two) = cluster
    users: list[LineConnection] = []
    try:
        ann, cat = _user(one, "ann", users), _user(one, "cat", users)
        ben = _user(two, "ben", users)
        for user in (ann, cat):
            user.expect("ben has joined")
        assert _who(ben) == {"ann", "ben", "cat"}

        redis.stop()
        for user in users:
            user.expect(LOST)
        ann.send_line("/quit")
        redis.start(keeping=False)

        ben.expect(BACK)
        ben.expect("ann has left")
        assert _who(ben) == {"ben", "cat"}
        users.append(two.connect("ann"))
        intruder = two.connect()
        users.append(intruder)
        intruder.expect("choose a nickname")
        intruder.send_line("cat")
        assert intruder.expect("!!!") == '!!! nickname "cat" is taken'
    finally:
        for user in users:
            user.close()
    news = [line for line in ben.seen if "has left" in line or "has joined" in line]
    assert len(news) == 1 and news[0].endswith("ann has left (quit)")
