"""What the cluster benchmark found: a node that falls behind its room's bus stream.

``bench/loadgen.py --workload W1 --redis --nodes 2 --messages 3000`` failed
one run in two: the 50 receivers of one node missed 86,000-173,000
deliveries, with nothing in the logs. A room's bus stream is trimmed to
about ``stream_keep`` entries (MAXLEN ~, 10,000 by default); a node whose
cursor is older than the oldest entry left read on from there. Now it reads
what it missed from the room's history, and when history no longer has it
either, its members are told (MessagesMissed) and the log says so.
"""

from __future__ import annotations

from chat.domain.events import Message, MessagesMissed
from chat.domain.registry import RoomEvent
from chat.redis.connection import blocking_command
from chat.redis.rooms import RedisRooms
from tests.support.redis_server import RedisServer, redis, redis_server, settle, wait_until

__all__ = ["redis", "redis_server"]  # the fixtures, for pytest to find


def test_a_node_behind_by_more_than_the_stream_keeps_gets_every_message(
    redis: RedisServer,
) -> None:
    """A node that reads a room only after 300 messages went past a 10-entry stream
    still delivers all 300, in order, the trimmed ones from the room's history."""
    late = RedisRooms(redis.address, redis.connect(), redis.connect(), stream_keep=10)
    busy = RedisRooms(redis.address, redis.connect(), redis.connect(), stream_keep=10)
    heard: list[str] = []
    late.subscribe("lobby", lambda _room, event: _texts(heard, event))
    wait_until(late.drained)
    for number in range(300):
        busy.publish("lobby", ("alice", Message("alice", f"m{number}", busy.next_id(), 1.0)))
    wait_until(busy.drained)
    late.start()
    try:
        wait_until(lambda: bool(heard) and heard[-1] == "m299")
        assert heard == [f"m{number}" for number in range(300)]
    finally:
        settle(late.stop())


def test_a_node_behind_by_more_than_history_keeps_tells_its_members(
    redis: RedisServer,
) -> None:
    """Past both the stream's 10 entries and history's 20 (and its slack), the late node's
    members are told some messages are missing, then hear the newest ones in order."""
    late = RedisRooms(redis.address, redis.connect(), redis.connect(), keep=20, slack=1,
                      stream_keep=10)
    busy = RedisRooms(redis.address, redis.connect(), redis.connect(), keep=20, slack=1,
                      stream_keep=10)
    heard: list[str] = []
    late.subscribe("lobby", lambda _room, event: _texts(heard, event))
    wait_until(late.drained)
    for number in range(300):
        busy.publish("lobby", ("alice", Message("alice", f"m{number}", busy.next_id(), 1.0)))
    wait_until(busy.drained)
    late.start()
    try:
        wait_until(lambda: bool(heard) and heard[-1] == "m299")
        assert heard[0] == "missed"
        assert heard.count("missed") == 1
        first = int(heard[1][1:])
        assert 100 < first < 300 and heard[1:] == [f"m{n}" for n in range(first, 300)]
    finally:
        settle(late.stop())


def test_a_node_whose_last_entry_was_trimmed_but_nothing_after_is_told_nothing(
    redis: RedisServer,
) -> None:
    """The stream lost the entry the late node delivered last, but none after it (history
    lost them all): the node hears every message and is not told any are missing."""
    late = RedisRooms(redis.address, redis.connect(), redis.connect(), keep=20, slack=1,
                      stream_keep=10)
    busy = RedisRooms(redis.address, redis.connect(), redis.connect(), keep=20, slack=1)
    for number in range(100):
        busy.publish("lobby", ("alice", Message("alice", f"m{number}", busy.next_id(), 1.0)))
    wait_until(busy.drained)
    heard: list[str] = []
    late.subscribe("lobby", lambda _room, event: _texts(heard, event))
    wait_until(late.drained)
    for number in range(100, 200):
        busy.publish("lobby", ("alice", Message("alice", f"m{number}", busy.next_id(), 1.0)))
    wait_until(busy.drained)
    after_cursor = int(late._cursors["lobby"].partition("-")[0]) + 1
    blocking_command(redis.address, "XTRIM", "tcpchat:bus:lobby", "MINID", f"{after_cursor}-0")
    late.start()
    try:
        wait_until(lambda: bool(heard) and heard[-1] == "m199")
        assert heard == [f"m{number}" for number in range(100, 200)]
    finally:
        settle(late.stop())


def _texts(heard: list[str], event: RoomEvent) -> None:
    if isinstance(event[1], Message):
        heard.append(event[1].text)
    elif isinstance(event[1], MessagesMissed):
        heard.append("missed")
