"""The Redis ports as several processes see them: two instances on one redis-server, one chat."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chat.domain.events import Batch, Message
from chat.ports import AlreadyClaimedError, CatchUp, Claim
from chat.redis.bus import RedisBus
from chat.redis.connection import RedisError, blocking_command
from chat.redis.directory import RedisDirectory
from chat.redis.history import RedisHistory
from chat.redis.sequencer import RedisSequencer
from tests.support.redis_server import RedisServer, redis, redis_server, settle, wait_until

__all__ = ["redis", "redis_server"]  # the fixtures, for pytest to find


def test_two_sequencers_never_hand_out_the_same_id(redis: RedisServer) -> None:
    """Two processes taking ids in turn from one counter get disjoint ids."""
    one, two = RedisSequencer(redis.address, block=7), RedisSequencer(redis.address, block=7)
    ids = [sequencer.next_id() for _ in range(50) for sequencer in (one, two)]
    assert len(set(ids)) == len(ids)
    assert RedisSequencer(redis.address).last_id >= max(ids)


def test_a_sequencer_over_a_key_that_is_not_a_number_is_a_clear_error(redis: RedisServer) -> None:
    """Whatever else wrote the key, the sequencer says so instead of numbering from it."""
    blocking_command(redis.address, "SET", "tcpchat:ids", "oops")
    with pytest.raises(RedisError, match="tcpchat:ids holds 'oops'"):
        RedisSequencer(redis.address)


def test_a_block_of_no_ids_is_refused(redis: RedisServer) -> None:
    with pytest.raises(ValueError, match="at least one id"):
        RedisSequencer(redis.address, block=0)


def test_a_nick_claimed_through_one_process_is_refused_through_another(redis: RedisServer) -> None:
    """Two connections, as two servers: the second asking for Alice in any case is refused."""
    here, there = RedisDirectory(redis.connect()), RedisDirectory(redis.connect())
    settle(here.claim("Alice", "node1/s1"))
    with pytest.raises(AlreadyClaimedError):
        settle(there.claim("alice", "node2/s1"))
    assert settle(there.find("ALICE")) == Claim("Alice", "node1/s1")
    assert settle(there.online_count()) == 1


def test_chats_with_other_prefixes_do_not_share_nicknames(redis: RedisServer) -> None:
    """One Redis may carry several chats, each under its own key prefix."""
    client = redis.connect()
    settle(RedisDirectory(client, prefix="one:").claim("alice", "a"))
    other = RedisDirectory(client, prefix="two:")
    assert settle(other.claim("alice", "b")) == Claim("alice", "b")
    assert settle(other.online()) == [Claim("alice", "b")]


@pytest.fixture
def buses(redis: RedisServer) -> Iterator[list[RedisBus[object]]]:
    """Two buses on one Redis, as two server processes; stopped after the test."""
    made: list[RedisBus[object]] = [
        RedisBus(redis.connect(), redis.connect()) for _ in range(2)
    ]
    for bus in made:
        bus.start()
    yield made
    for bus in made:
        settle(bus.stop())


def test_two_processes_hear_one_order_of_a_room(buses: list[RedisBus[object]]) -> None:
    """Both processes publishing to lobby in turn: each hears all of it, in the same order."""
    heard: list[list[Any]] = [[], []]
    for bus, notes in zip(buses, heard, strict=True):
        bus.subscribe("lobby", lambda _room, event, notes=notes: notes.append(event))  # type: ignore[misc]
    wait_until(lambda: all(bus.drained() for bus in buses))
    for number in range(20):
        buses[number % 2].publish("lobby", f"m{number}")
    wait_until(lambda: all(len(notes) == 20 for notes in heard))
    assert heard[0] == heard[1]
    assert sorted(heard[0]) == sorted(f"m{number}" for number in range(20))


def test_a_process_hears_its_own_event_only_from_the_stream(buses: list[RedisBus[object]]) -> None:
    """Nothing is delivered by publish itself; the event arrives as Redis gives it back."""
    heard: list[Any] = []
    buses[0].subscribe("lobby", lambda room, event: heard.append(event))
    batch = Batch((Message("alice", "hi", 1, 2.0),), "lobby")
    buses[0].publish("lobby", ("m-1", batch))
    assert heard == []
    wait_until(lambda: bool(heard))
    sender, arrived = heard[0]
    assert sender == "m-1" and arrived.events == batch.events


def test_a_room_subscribed_during_a_blocked_read_is_heard_at_once(
    buses: list[RedisBus[object]],
) -> None:
    """The wake-up entry brings the new room into the read: no waiting for the block to end."""
    bus = buses[0]
    bus.block = 30.0
    heard: list[object] = []
    bus.subscribe("lobby", lambda room, event: heard.append(event))
    wait_until(bus.drained)
    bus.subscribe("dev", lambda room, event: heard.append(event))
    buses[1].publish("dev", "deploy")
    wait_until(lambda: heard == ["deploy"], timeout=5.0)


def test_a_rooms_history_stream_stays_within_keep_and_slack(redis: RedisServer) -> None:
    """However much is said, the stream holds at most keep + slack entries, and knows what went."""
    history = RedisHistory(redis.connect(), keep=10, slack=5)
    for said_id in range(1, 101):
        history.record("lobby", Message("alice", f"m{said_id}", said_id, float(said_id)))
    settle(history.close())
    assert int(blocking_command(redis.address, "XLEN", "tcpchat:history:lobby") or 0) <= 15
    caught_up = settle(history.read_since("lobby", 85))
    assert [said.id for said in caught_up.entries] == list(range(91, 101))
    assert caught_up.missed
    assert settle(history.read_since("lobby", 90)) == CatchUp(caught_up.entries, False)


def test_messages_older_than_the_retention_are_deleted_and_a_catch_up_is_told(
    redis: RedisServer,
) -> None:
    """--retain-days: every room's messages said before the cutoff go (over more than one
    read of 100), the rest stay, and a catch-up from before them says some are missing."""
    history = RedisHistory(redis.connect(), keep=1000)
    for said_id in range(1, 251):
        history.record("lobby", Message("alice", f"m{said_id}", said_id, float(said_id)))
    history.record("dev", Message("bob", "old", 251, 10.0))
    history.record("dev", Message("bob", "new", 252, 500.0))
    settle(history.close())
    assert settle(history.forget_older_than(201.0)) == 201
    lobby = settle(history.read_since("lobby", 0))
    assert [said.id for said in lobby.entries] == list(range(201, 251))
    assert lobby.missed
    assert [said.text for said in settle(history.read_recent("dev", 10))] == ["new"]
    assert settle(history.forget_older_than(201.0)) == 0


def test_an_entry_not_above_the_rooms_last_id_is_not_kept(redis: RedisServer) -> None:
    """Redis refuses an id at or below the room's newest (ids must rise): the room is unchanged."""
    history = RedisHistory(redis.connect(), keep=10)
    history.record("lobby", Message("alice", "new", 5, 1.0))
    history.record("lobby", Message("bob", "late", 3, 2.0))
    settle(history.close())
    assert [said.id for said in settle(history.read_recent("lobby", 10))] == [5]
