"""Presence across nodes on one redis-server: rosters, leases and private delivery."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from twisted.internet import reactor
from twisted.logger import ILogObserver, LogEvent, LogLevel, formatEvent, globalLogPublisher

from chat.domain.events import (
    Attendee,
    AwayChanged,
    ConnectionLost,
    CrowdJoined,
    CrowdLeft,
    Departure,
    Joined,
    Left,
    Present,
    Private,
    Quit,
    Renamed,
)
from chat.domain.registry import RoomEvent
from chat.ports.bus import BusUnavailableError
from chat.ports.directory import AlreadyClaimedError
from chat.redis.connection import RedisAddress, connect_lazily
from chat.redis.courier import RedisCourier
from chat.redis.directory import RedisDirectory
from chat.redis.presence import Lease
from chat.redis.rooms import RedisRooms
from tests.support.redis_server import RedisServer, redis, redis_server, settle, wait_until

__all__ = ["redis", "redis_server"]  # the fixtures, for pytest to find

SHORT = 0.3
"""Seconds of the leases of these tests."""


class Node:
    """One node's rooms, directory, courier and lease, as chat.redis.node builds them."""

    def __init__(self, redis: RedisServer) -> None:
        self.rooms = RedisRooms(redis.address, redis.connect(), redis.connect())
        self.directory = RedisDirectory(self.rooms.client, node=self.rooms.node)
        self.courier = RedisCourier(self.rooms)
        self.lease = Lease(self.rooms.client, self.rooms.node, reactor, seconds=SHORT)
        self.received: list[tuple[str, Any]] = []
        self.courier.receive(lambda nick, event: self.received.append((nick, event)))
        settle(self.lease.renew())
        self.rooms.start()

    def listen(self, room: str = "lobby") -> list[RoomEvent]:
        heard: list[RoomEvent] = []
        self.rooms.subscribe(room, lambda _room, event: heard.append(event))
        wait_until(self.rooms.drained)
        return heard

    def tell(self, event: Any, room: str = "lobby", origin: str | None = "m") -> None:
        self.rooms.publish(room, (origin, event))
        wait_until(self.rooms.drained)


@pytest.fixture
def nodes(redis: RedisServer) -> Iterator[list[Node]]:
    """Three nodes on one Redis, reading, with leases taken but not renewed; stopped after."""
    made = [Node(redis) for _ in range(3)]
    yield made
    for node in made:
        settle(node.rooms.stop())


def _roster(heard: list[RoomEvent]) -> tuple[Attendee, ...]:
    present = heard[0][1]
    assert isinstance(present, Present)
    return present.attendees


def test_a_node_starting_to_read_a_room_is_told_who_is_there_first(nodes: list[Node]) -> None:
    """Who joined on one node, away or back, is in the Present a second node is given
    before anything else of the room; its own members are not."""
    one, two, three = nodes
    one.listen()
    one.tell(Joined("Alice", "lobby"), origin="a")
    one.tell(Joined("bob", "lobby"), origin="b")
    one.tell(AwayChanged("Alice", "lunch"), origin="a")
    three.tell(Joined("carol", "lobby"), origin="c")
    heard = two.listen()
    assert heard == [(None, Present("lobby", (Attendee("Alice", "lunch"), Attendee("bob"),
                                              Attendee("carol"))))]
    one.tell(Left("bob", "lobby", Quit()), origin="b")
    wait_until(lambda: len(heard) == 2)
    assert heard[1] == ("b", Left("bob", "lobby", Quit()))
    assert _roster(three.listen()) == (Attendee("Alice", "lunch"),)


def test_renames_and_crowds_change_the_roster(nodes: list[Node]) -> None:
    """A rename keeps the member's away message; a crowd's joins and leaves count each."""
    one, two, _ = nodes
    one.tell(Joined("alice", "lobby"))
    one.tell(AwayChanged("alice", "out"))
    one.tell(Renamed("alice", "Alicia"), origin=None)
    one.tell(CrowdJoined("lobby", ("dan", "erin", "fay")), origin=None)
    one.tell(CrowdLeft("lobby", (Departure("erin", Quit()),)), origin=None)
    assert _roster(two.listen()) == (
        Attendee("Alicia", "out"), Attendee("dan"), Attendee("fay"),
    )


def test_a_node_removes_only_its_own_entries(nodes: list[Node]) -> None:
    """A Left told by a node that does not serve the member leaves the roster as it is."""
    one, two, three = nodes
    one.tell(Joined("alice", "lobby"))
    two.tell(Left("alice", "lobby", Quit()))
    assert _roster(three.listen()) == (Attendee("alice"),)


def test_a_dead_nodes_members_leave_once_and_their_nicknames_are_free(
    nodes: list[Node],
) -> None:
    """When a node's lease runs out, every room it had members in is told each left (lost
    connection) exactly once, however many nodes reap, and its nicknames can be taken."""
    dead, one, two = nodes
    heard = one.listen()
    elsewhere = one.listen("dev")
    settle(dead.directory.claim("Alice", "s1"))
    dead.tell(Joined("Alice", "lobby"))
    dead.tell(Joined("Alice", "dev"), "dev")
    settle(one.lease.renew())
    settle(two.lease.renew())
    assert settle(one.lease.reap()) == []  # alive: nothing happens
    time.sleep(SHORT + 0.05)
    settle(one.lease.renew())
    settle(two.lease.renew())
    reaped = [one.lease.reap(), two.lease.reap()]
    assert sorted(map(settle, reaped)) == [[], [dead.rooms.node]]
    wait_until(lambda: len(heard) == 3 and len(elsewhere) == 3, 2)
    time.sleep(0.05)
    reactor.iterate(0.01)
    assert heard[1:] == [("m", Joined("Alice", "lobby")),
                         (None, Left("Alice", "lobby", ConnectionLost()))]
    assert elsewhere[2:] == [(None, Left("Alice", "dev", ConnectionLost()))]
    assert settle(one.directory.find("alice")) is None
    settle(one.directory.claim("alice", "s2"))
    assert _roster(two.listen()) == ()


def test_a_node_stopping_frees_what_it_still_holds_at_once(nodes: list[Node]) -> None:
    """Giving the lease up frees the node's claims and announces leftovers at once."""
    leaving, one, _ = nodes
    heard = one.listen()
    settle(leaving.directory.claim("alice", "s1"))
    leaving.tell(Joined("alice", "lobby"))
    assert settle(leaving.lease.stop()) == [leaving.rooms.node]
    with pytest.raises(AlreadyClaimedError):
        settle(one.directory.claim("zed", "s9").addCallback(
            lambda _: one.directory.claim("ZED", "s10")
        ))
    settle(one.directory.claim("Alice", "s2"))
    wait_until(lambda: len(heard) == 3)
    assert heard[2] == (None, Left("alice", "lobby", ConnectionLost()))


def test_a_private_message_reaches_the_node_serving_the_nickname(nodes: list[Node]) -> None:
    """The courier finds the node in the claim, delivers there, and answers the nickname as
    held; a nickname nobody holds, or held on a node whose lease ran out, is None."""
    one, two, _ = nodes
    settle(two.directory.claim("Bob", "s1"))
    private = Private("alice", "hello")
    assert settle(one.courier.send("bob", private)) == "Bob"
    wait_until(lambda: bool(two.received))
    assert two.received == [("bob", private)] and not one.received
    assert settle(one.courier.send("nobody", private)) is None
    settle(two.rooms.client.execute_command("DEL", f"tcpchat:node:{two.rooms.node}"))
    assert settle(one.courier.send("Bob", private)) is None


def test_the_inbox_leaves_message_ids_alone(nodes: list[Node]) -> None:
    """Reading inbox entries does not move the node's idea of the last message id."""
    one, two, _ = nodes
    settle(two.directory.claim("bob", "s1"))
    before = two.rooms.next_id()
    settle(one.courier.send("bob", Private("alice", "hi")))
    wait_until(lambda: bool(two.received))
    assert two.rooms.next_id() == before


def test_a_lease_renewed_too_late_is_said_in_the_log(nodes: list[Node]) -> None:
    """Renewing after the lease lapsed (the node may have been reaped) is an error in the
    log; renewing in time is not."""
    node = nodes[0]
    errors: list[str] = []

    def noted(event: LogEvent) -> None:
        if event.get("log_level") == LogLevel.error:
            errors.append(formatEvent(event))

    observe = cast(ILogObserver, noted)
    globalLogPublisher.addObserver(observe)
    try:
        settle(node.lease.renew())
        assert errors == []
        time.sleep(SHORT + 0.05)
        settle(node.lease.renew())
    finally:
        globalLogPublisher.removeObserver(observe)
    assert len(errors) == 1 and "lease had lapsed" in errors[0]


def test_a_node_stops_without_redis_within_a_third_of_its_lease(tmp_path: Path) -> None:
    """Giving the lease up while Redis cannot be reached does not wait for it: the lease
    runs out and another node frees what this one held."""
    client = connect_lazily(RedisAddress(path=str(tmp_path / "no-redis.sock")))
    lease = Lease(client, "lonely", reactor, seconds=SHORT)
    started = time.monotonic()
    try:
        assert settle(lease.stop()) == []
        assert time.monotonic() - started < SHORT
    finally:
        settle(client.disconnect())


class _Down:
    """What a node's health says while Redis cannot be reached."""

    up = False


def test_a_private_message_is_refused_at_once_while_redis_is_down(nodes: list[Node]) -> None:
    """Not queued for a connection that may not come back: the sender is told now."""
    one, two, _ = nodes
    settle(two.directory.claim("bob", "s1"))
    one.rooms.health = _Down()
    with pytest.raises(BusUnavailableError):
        one.courier.send("bob", Private("alice", "hi"))
