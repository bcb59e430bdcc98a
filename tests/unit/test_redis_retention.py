"""--retain-messages with --redis: at most N messages kept over all rooms, oldest first out.

Against a real redis-server (tests/support/redis_server.py): messages are said
through :class:`~chat.redis.rooms.RedisRooms` (the SAY script that numbers
them and counts them in ``tcpchat:kept:count`` and ``tcpchat:kept:rooms``), pruned by
:meth:`~chat.redis.history.RedisHistory.forget_beyond_retain`, and read back
as a member catching up would read them.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet import defer, reactor
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher

from chat.config import ServerConfig
from chat.domain.events import Message, MessagesMissed
from chat.domain.registry import RoomEvent
from chat.redis.connection import blocking_command
from chat.redis.history import RedisHistory
from chat.redis.rooms import RedisRooms
from chat.service import make_service
from tests.support.redis_server import RedisServer, redis, redis_server, settle, wait_until

__all__ = ["redis", "redis_server"]  # the fixtures, for pytest to find

COUNT, ROOMS = "tcpchat:kept:count", "tcpchat:kept:rooms"


def _counted(redis: RedisServer) -> int:
    """How many messages Redis counts as kept over all rooms."""
    return int(blocking_command(redis.address, "GET", COUNT) or 0)


def _rooms(redis: RedisServer, retain: int, **options: Any) -> RedisRooms:
    return RedisRooms(redis.address, redis.connect(), redis.connect(), retain=retain, **options)


def _say(rooms: RedisRooms, room: str, text: str) -> None:
    """Publish one message (each its own call, so rooms interleave in the order said)."""
    rooms.publish(room, ("alice", Message("alice", text, rooms.next_id(), 1.0)))
    wait_until(rooms.drained)


def _texts(rooms: RedisRooms, room: str) -> list[str]:
    return [said.text for said in settle(rooms.history.read_recent(room, 1000))]


def test_retention_keeps_the_newest_over_both_rooms(redis: RedisServer) -> None:
    """N=5, eight messages over two rooms: the three oldest of both together are gone, a
    catch-up from before them is told some are missing, one after them is not."""
    rooms = _rooms(redis, retain=5)
    for room, text in [("lobby", "l1"), ("dev", "d1"), ("lobby", "l2"), ("dev", "d2"),
                       ("lobby", "l3"), ("dev", "d3"), ("lobby", "l4"), ("dev", "d4")]:
        _say(rooms, room, text)
    assert settle(rooms.history.forget_beyond_retain()) == 3
    assert _texts(rooms, "lobby") == ["l3", "l4"]
    assert _texts(rooms, "dev") == ["d2", "d3", "d4"]
    lobby = settle(rooms.history.read_since("lobby", 0))
    assert [said.text for said in lobby.entries] == ["l3", "l4"] and lobby.missed
    dev = settle(rooms.history.read_since("dev", 0))
    assert dev.missed
    after_gone = settle(rooms.history.read_since("dev", dev.entries[0].id - 1))
    assert not after_gone.missed
    assert settle(rooms.history.forget_beyond_retain()) == 0


def test_without_the_option_nothing_is_noted(redis: RedisServer) -> None:
    """--retain-messages 0: saying, trimming and --retain-days count nothing."""
    rooms = _rooms(redis, retain=0, keep=2, slack=1)
    for number in range(5):
        _say(rooms, "lobby", f"m{number}")
    settle(rooms.history.forget_older_than(10.0))
    history = RedisHistory(redis.connect(), keep=2, slack=1)
    history.record("dev", Message("bob", "hi", 100, 1.0))
    settle(history.close())
    assert settle(rooms.history.forget_beyond_retain()) == 0
    assert blocking_command(redis.address, "EXISTS", COUNT, ROOMS) == 0


def test_what_history_keep_trimmed_does_not_count(redis: RedisServer) -> None:
    """A busy room trimmed to its --history-keep does not push a quiet room's messages out:
    only messages still kept count towards the limit."""
    rooms = _rooms(redis, retain=5, keep=3, slack=1)
    _say(rooms, "quiet", "q1")
    _say(rooms, "quiet", "q2")
    for number in range(20):
        _say(rooms, "busy", f"b{number}")
    assert settle(rooms.history.forget_beyond_retain()) == 0
    assert _texts(rooms, "quiet") == ["q1", "q2"]
    assert _texts(rooms, "busy") == ["b17", "b18", "b19"]


def test_a_history_store_notes_only_what_it_keeps(redis: RedisServer) -> None:
    """RedisHistory.record with a limit: entries trimmed to --history-keep leave the count,
    so a quiet room's messages stay however much a busy room says."""
    history = RedisHistory(redis.connect(), keep=3, slack=1, retain=5)
    history.record("quiet", Message("bob", "q", 1, 1.0))
    for said_id in range(2, 30):
        history.record("busy", Message("alice", f"b{said_id}", said_id, 1.0))
    settle(history.close())
    assert _counted(redis) == 4
    assert settle(history.forget_beyond_retain()) == 0
    assert [said.text for said in settle(history.read_recent("quiet", 10))] == ["q"]


def test_what_retain_days_deleted_does_not_count(redis: RedisServer) -> None:
    """Messages deleted for their age leave the count too: the newer room keeps all of its."""
    rooms = _rooms(redis, retain=3)
    for number, when in enumerate([1.0, 2.0, 3.0, 500.0, 501.0, 502.0]):
        room = "old" if when < 100 else "new"
        rooms.publish(room, ("alice", Message("alice", f"m{number}", rooms.next_id(), when)))
        wait_until(rooms.drained)
    assert settle(rooms.history.forget_older_than(100.0)) == 3
    assert _counted(redis) == 3
    assert settle(rooms.history.forget_beyond_retain()) == 0
    assert _texts(rooms, "new") == ["m3", "m4", "m5"]


def test_messages_said_before_the_option_count_once_recounted(redis: RedisServer) -> None:
    """Messages said with --retain-messages 0 count once their room is counted (its next
    message counted, or a recount as a node starts), and go first, being older."""
    unlimited = _rooms(redis, retain=0)
    for number in range(3):
        _say(unlimited, "lobby", f"o{number}")
    _say(unlimited, "silent", "s0")
    limited = _rooms(redis, retain=2)
    for number in range(3):
        _say(limited, "lobby", f"n{number}")
    _say(limited, "dev", "d0")
    assert _counted(redis) == 7
    assert settle(limited.history.recount()) == 8
    assert settle(limited.history.forget_beyond_retain(chunk=2)) == 6
    assert _texts(limited, "lobby") == ["n2"] and _texts(limited, "dev") == ["d0"]
    assert _texts(limited, "silent") == []
    assert _counted(redis) == 2


def test_a_recount_mends_a_count_gone_wrong(redis: RedisServer) -> None:
    """History deleted behind the scripts' backs (here by hand) no longer counts once
    recounted: the limit then deletes nothing that it should keep."""
    rooms = _rooms(redis, retain=3)
    for number in range(3):
        _say(rooms, "lobby", f"l{number}")
    _say(rooms, "dev", "d0")
    blocking_command(redis.address, "XTRIM", "tcpchat:history:lobby", "MAXLEN", "1")
    assert settle(rooms.history.recount()) == 2
    assert settle(rooms.history.forget_beyond_retain()) == 0
    assert _texts(rooms, "lobby") == ["l2"] and _texts(rooms, "dev") == ["d0"]


def test_many_over_the_limit_go_over_several_calls(redis: RedisServer) -> None:
    """More to delete than one call deletes: the calls go on until the limit holds."""
    history = RedisHistory(redis.connect(), retain=4)
    for said_id in range(1, 31):
        history.record(f"room{said_id % 3}", Message("alice", f"m{said_id}", said_id, 1.0))
    settle(history.close())
    assert settle(history.forget_beyond_retain(chunk=7)) == 26
    kept = [said.id for room in ("room0", "room1", "room2")
            for said in settle(history.read_recent(room, 100))]
    assert sorted(kept) == [27, 28, 29, 30]
    assert _counted(redis) == 4


def test_a_node_behind_what_retention_deleted_tells_its_members(redis: RedisServer) -> None:
    """A node whose room's bus stream and history both lost what it had not read (the
    history by --retain-messages) tells its members some are missing, then hears the
    rest in order."""
    late = _rooms(redis, retain=20, stream_keep=10)
    busy = _rooms(redis, retain=20, stream_keep=10)
    heard: list[str] = []
    late.subscribe("lobby", lambda _room, event: _heard(heard, event))
    wait_until(late.drained)
    for number in range(300):
        busy.publish("lobby", ("alice", Message("alice", f"m{number}", busy.next_id(), 1.0)))
    wait_until(busy.drained)
    assert settle(busy.history.forget_beyond_retain()) == 280
    late.start()
    try:
        wait_until(lambda: bool(heard) and heard[-1] == "m299")
        assert heard[0] == "missed" and heard.count("missed") == 1
        first = int(heard[1][1:])
        assert 0 < first <= 280 and heard[1:] == [f"m{n}" for n in range(first, 300)]
    finally:
        settle(late.stop())


def test_a_server_started_with_the_option_prunes_at_once(redis: RedisServer) -> None:
    """A --redis server given --retain-messages 2 deletes what is over the limit as it
    starts, having counted every room (a room said nothing in since the option was off
    too), and logs how many went (make_service: the option reaches the node's pruning)."""
    _say(_rooms(redis, retain=0), "silent", "s0")
    said = _rooms(redis, retain=2)
    for number in range(4):
        _say(said, "lobby", f"m{number}")
    config = ServerConfig(redis=f"unix:{redis.path}", db="", retain_messages=2)
    server = make_service(reactor, [], config)
    logged: list[str] = []
    observer = _logged_into(logged)
    globalLogPublisher.addObserver(observer)
    server.startService()
    try:
        wait_until(lambda: _counted(redis) == 2)
        assert _texts(said, "lobby") == ["m2", "m3"]
        assert _texts(said, "silent") == []
        wait_until(lambda: "history: 3 oldest messages deleted to keep 2 over all rooms" in logged)
    finally:
        globalLogPublisher.removeObserver(observer)
        settle(defer.maybeDeferred(server.stopService))


def _logged_into(logged: list[str]) -> ILogObserver:
    """An observer of every log event, formatted into ``logged``."""

    def formatted(event: LogEvent) -> None:
        logged.append(formatEvent(event))

    return cast(ILogObserver, formatted)


def _heard(heard: list[str], event: RoomEvent) -> None:
    if isinstance(event[1], Message):
        heard.append(event[1].text)
    elif isinstance(event[1], MessagesMissed):
        heard.append("missed")
