"""Two nodes' rooms on one redis-server: one order and one numbering of every room, by Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chat.domain.events import Joined, Message, Present
from chat.domain.registry import RoomEvent
from chat.redis import codec
from chat.redis.connection import blocking_command
from chat.redis.rooms import SAY, RedisRooms
from tests.support.redis_server import RedisServer, redis, redis_server, settle, wait_until

__all__ = ["redis", "redis_server"]  # the fixtures, for pytest to find


def _rooms(redis: RedisServer, keep: int = 1000) -> RedisRooms:
    return RedisRooms(redis.address, redis.connect(), redis.connect(), keep=keep, slack=1)


@pytest.fixture
def nodes(redis: RedisServer) -> Iterator[list[RedisRooms]]:
    """Two nodes' rooms on one Redis, reading; stopped after the test."""
    made = [_rooms(redis) for _ in range(2)]
    for node in made:
        node.start()
    yield made
    for node in made:
        settle(node.stop())


def _listen(node: RedisRooms, room: str = "lobby") -> list[RoomEvent]:
    """What ``node`` delivers of ``room`` from now on, but for who is there (Present:
    tests/unit/test_redis_presence.py)."""
    heard: list[RoomEvent] = []
    node.subscribe(room, lambda _room, event: _heard(heard, event))
    wait_until(node.drained)
    return heard


def _heard(heard: list[RoomEvent], event: RoomEvent) -> None:
    if not isinstance(event[1], Present):
        heard.append(event)


def _say(node: RedisRooms, nick: str, text: str, room: str = "lobby") -> None:
    said = Message(nick, text, node.next_id(), 1.0)
    node.record(room, said)
    node.publish(room, (nick, said))


def test_two_nodes_saying_at_once_hear_one_numbered_order(nodes: list[RedisRooms]) -> None:
    """Messages sent on both nodes in the same reactor turns: both hear the same sequence,
    numbered by Redis in that order, whatever provisional ids the nodes gave them."""
    one, two = nodes
    heard = [_listen(one), _listen(two)]
    for number in range(30):
        _say(one, "alice", f"a{number}")
        _say(two, "bob", f"b{number}")
        if number == 10:
            one.publish("lobby", (None, Joined("carol", "lobby")))
    wait_until(lambda: len(heard[0]) == len(heard[1]) == 61)
    assert heard[0] == heard[1]
    ids = [event.id for _, event in heard[0] if isinstance(event, Message)]
    assert ids == sorted(ids) and len(set(ids)) == 60
    assert one.last_id == two.last_id == max(ids)


def test_history_holds_the_numbers_members_were_given(nodes: list[RedisRooms]) -> None:
    """What one node delivered is what the other reads back as history, ids and all."""
    one, two = nodes
    heard, heard_there = _listen(one), _listen(two)
    for text in ("hello", "there"):
        _say(one, "alice", text)
    wait_until(lambda: len(heard) == len(heard_there) == 2)
    assert settle(two.read_recent("lobby", 10)) == [event for _, event in heard]
    caught_up = settle(two.read_since("lobby", heard[0][1].id))  # type: ignore[union-attr]
    assert caught_up.entries == [heard[1][1]] and not caught_up.missed


def test_history_stops_where_this_node_delivers(redis: RedisServer) -> None:
    """Messages this node has not delivered yet are not in its history reads: they come
    live (so a member joining sees each message once)."""
    writer, reader = _rooms(redis), _rooms(redis)
    writer.start()
    _say(writer, "alice", "before")
    wait_until(writer.drained)
    heard = _listen(reader)  # subscribed, not reading yet: delivery stands at "before"
    _say(writer, "alice", "after")
    wait_until(writer.drained)
    assert [said.text for said in settle(reader.read_recent("lobby", 10))] == ["before"]
    reader.start()
    wait_until(lambda: len(heard) == 1)
    assert heard[0][1].text == "after"  # type: ignore[union-attr]
    for node in (writer, reader):
        settle(node.stop())


def test_a_room_read_as_it_starts_is_read_from_the_last_id_known(
    nodes: list[RedisRooms], redis: RedisServer,
) -> None:
    """A message numbered between a node's last_id and the start of its reading of a new
    room reaches its members live, not lost between history and delivery."""
    one, two = nodes
    _listen(one, "dev")
    _say(one, "alice", "old", "dev")
    wait_until(one.drained)
    heard: list[RoomEvent] = []
    two.subscribe("dev", lambda _room, event: _heard(heard, event))
    upto = two.last_id
    history = two.read_recent("dev", 10)
    late = Message("alice", "late", 0, 1.0)
    keys = ["tcpchat:ids", "tcpchat:history:dev", "tcpchat:forgotten:dev", "tcpchat:bus:dev"]
    blocking_command(redis.address, "EVAL", SAY, len(keys), *keys, 1000, 100, 10000,
                     "alice", codec.encode(late))
    assert [said.text for said in settle(history) if said.id <= upto] == ["old"]
    wait_until(lambda: len(heard) == 1)
    assert heard[0][1].text == "late"  # type: ignore[union-attr]


def _scripts_run(redis: RedisServer) -> int:
    """How many EVAL and EVALSHA calls redis-server has run so far."""
    stats = str(blocking_command(redis.address, "INFO", "commandstats"))
    return sum(int(line.split("calls=")[1].split(",")[0]) for line in stats.splitlines()
               if line.startswith(("cmdstat_eval:", "cmdstat_evalsha:")))


def test_what_one_turn_publishes_goes_in_few_calls_and_in_order(redis: RedisServer) -> None:
    """Six messages, a join and three messages published in one reactor turn, four messages
    a call at most: four calls (4 + 2 messages, the join, 3), heard in the order published,
    the messages numbered one after another."""
    node = RedisRooms(redis.address, redis.connect(), redis.connect(), batch=4)
    node.start()
    heard = _listen(node)
    # Once each script is known to redis-server: a first call of one it does not hold
    # yet (after another test's SCRIPT FLUSH, or run alone) is two, EVALSHA then EVAL.
    _say(node, "alice", "first")
    node.publish("lobby", (None, Joined("carol", "lobby")))
    wait_until(lambda: len(heard) == 2)
    heard.clear()
    before = _scripts_run(redis)
    for number in range(6):
        _say(node, "alice", f"m{number}")
    node.publish("lobby", (None, Joined("bob", "lobby")))
    for number in range(6, 9):
        _say(node, "alice", f"m{number}")
    wait_until(lambda: len(heard) == 10)
    assert _scripts_run(redis) - before == 4
    assert [getattr(event, "text", "join") for _, event in heard] == [
        "m0", "m1", "m2", "m3", "m4", "m5", "join", "m6", "m7", "m8"]
    ids = [event.id for _, event in heard if isinstance(event, Message)]
    assert ids == list(range(ids[0], ids[0] + 9))
    assert heard[0][0] == "alice" and heard[6][0] is None
    settle(node.stop())


def test_messages_are_sent_whole_to_a_redis_that_forgot_the_script(
    nodes: list[RedisRooms], redis: RedisServer,
) -> None:
    """After SCRIPT FLUSH (as after a restart) a message is still numbered and heard."""
    one, _ = nodes
    heard = _listen(one)
    _say(one, "alice", "first")
    wait_until(lambda: len(heard) == 1)
    blocking_command(redis.address, "SCRIPT", "FLUSH")
    _say(one, "alice", "second")
    wait_until(lambda: len(heard) == 2)
    assert heard[1][1].text == "second"  # type: ignore[union-attr]


def test_a_batch_of_no_messages_is_refused(redis: RedisServer) -> None:
    """batch=0 is a clear error, not a node that never sends."""
    with pytest.raises(ValueError, match="batch must be at least 1"):
        RedisRooms(redis.address, redis.connect(), redis.connect(), batch=0)


def test_a_room_keeps_its_newest_entries(redis: RedisServer) -> None:
    """Past keep (and its slack) the oldest go, and a catch-up from before them says so."""
    node = _rooms(redis, keep=3)
    node.start()
    _listen(node)
    for number in range(6):
        _say(node, "alice", f"m{number}")
    wait_until(node.drained)
    recent: list[Any] = settle(node.read_recent("lobby", 10))
    assert [said.text for said in recent] == ["m3", "m4", "m5"]
    assert settle(node.read_since("lobby", 0)).missed
    settle(node.stop())
