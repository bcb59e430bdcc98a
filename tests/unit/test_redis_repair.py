"""After a Redis outage each node puts back what it holds: rosters, nickname claims, lease.

Two nodes, each the real :class:`~chat.redis.node.RedisNode` started by its
:class:`~chat.redis.node.RedisNodeService`, under a real
:class:`~chat.domain.registry.Registry` with :class:`~chat.testing.RecordingClient`
members, on a redis-server of the test's own
(:class:`~tests.unit.test_redis_health.OwnRedis`) that is stopped and started
again, with its data or without. What a member quits, parts or joins while
Redis is away happened here at once; once Redis is back every node's members
are told it once, and nobody else can take a connected member's nickname.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet import reactor

from chat.domain.events import Attendee, Event, Joined, Left, Message, Present, Quit
from chat.domain.registry import Member, Registry
from chat.ports.directory import AlreadyClaimedError, Claim
from chat.redis import directory as claims
from chat.redis.address import RedisAddress, blocking_command
from chat.redis.node import PREFIX, RedisNode, RedisNodeService
from chat.redis.rooms import RedisRooms
from chat.testing import RecordingClient
from tests.support.redis_server import settle, wait_until
from tests.unit.test_redis_health import OwnRedis, _turn, own_redis

__all__ = ["own_redis"]  # the fixture, for pytest to find


class Node:
    """A node as ``--redis`` builds it (rooms, directory, lease, health), its registry, and
    its members, each logged in as chat.session.login does: claim, then join."""

    def __init__(self, address: RedisAddress, lease: float = 6.0) -> None:
        self.redis = RedisNode(address, reactor, history_keep=100, lease=lease)
        self.service = RedisNodeService(self.redis)
        self.service.startService()
        rooms = self.redis.rooms
        rooms.retry = 0.1  # resume reading soon after Redis is back
        self.registry = Registry(rooms, None, sequencer=rooms, bus=rooms, census=rooms)
        self.redis.health.tell(self.registry.broadcast)
        self.clients: dict[str, RecordingClient] = {}
        self.claims: dict[str, Claim[str]] = {}
        wait_until(lambda: self.redis.health.connected and rooms.drained())

    def login(self, nick: str, room: str = "lobby") -> Any:
        self.claims[nick] = settle(self.redis.directory.claim(nick, f"{nick}-session"))
        self.clients[nick] = RecordingClient()
        return self.registry.join(nick, self.clients[nick], room)

    def member(self, nick: str) -> Member:
        member = self.registry.find(nick)
        assert member is not None
        return member

    def quit(self, nick: str) -> None:
        """The member leaves and its session lets the nickname go (unheard while down)."""
        self.registry.leave(self.member(nick), Quit())
        self.redis.directory.release(self.claims.pop(nick)).addErrback(lambda _: None)
        self.registry.flush()

    def events(self, nick: str) -> list[Event]:
        self.registry.flush()
        return [event for _, event in self.clients[nick].take_events()]

    def elsewhere(self, room: str = "lobby") -> list[str]:
        return sorted(attendee.nick for attendee in self.registry.rooms[room].elsewhere.values())

    def close(self) -> None:
        settle(self.service.stopService())


def _two_nodes(own_redis: OwnRedis, lease: float) -> Iterator[list[Node]]:
    address = RedisAddress(path=own_redis.path, timeout=0.5, ping=0.1, backoff=0.2)
    made = [Node(address, lease) for _ in range(2)]
    yield made
    if own_redis.process is None:
        own_redis.start()
    for node in made:
        node.close()


@pytest.fixture
def nodes(own_redis: OwnRedis) -> Iterator[list[Node]]:
    """Two nodes on the test's Redis, PINGing it every 0.1 s, reconnecting every 0.2 s."""
    yield from _two_nodes(own_redis, 6.0)


@pytest.fixture
def lapsing(own_redis: OwnRedis) -> Iterator[list[Node]]:
    """The same with leases of 0.6 s, which an outage of a second outlasts."""
    yield from _two_nodes(own_redis, 0.6)


def _settled(nodes: list[Node]) -> None:
    """Turn the reactor until both nodes have sent and read everything."""
    wait_until(lambda: all(node.redis.rooms.drained() for node in nodes))
    _turn(0.2)
    for node in nodes:
        node.registry.flush()


def _outage(own_redis: OwnRedis, nodes: list[Node], keeping: bool = True) -> None:
    own_redis.stop()
    wait_until(lambda: not any(node.redis.health.up for node in nodes))


def _back(own_redis: OwnRedis, nodes: list[Node], keeping: bool = True) -> None:
    own_redis.start(keeping)
    wait_until(lambda: all(node.redis.health.up for node in nodes))
    # Not drained(): a node reading a Redis that lost its data waits to read past what
    # it published before, which is gone.
    _turn(0.5)
    for node in nodes:
        node.registry.flush()


def _told(node: Node, nick: str, kind: type[Event]) -> list[Event]:
    """The ``kind`` events ``nick`` is told, waiting (bounded) for the first on a busy
    machine, then a little more for any second one."""
    told: list[Event] = []

    def heard() -> bool:
        told.extend(event for event in node.events(nick) if isinstance(event, kind))
        return bool(told)

    wait_until(heard)
    _turn(0.2)
    heard()
    return told


def _present(own_redis: OwnRedis, room: str = "lobby") -> tuple[Attendee, ...]:
    """Who a node starting to read ``room`` now is told is there (as /who, NAMES show it)."""
    address = RedisAddress(path=own_redis.path)
    newcomer = RedisRooms(address, _connect(address), _connect(address), prefix=PREFIX)
    heard: list[Any] = []
    newcomer.subscribe(room, lambda _room, event: heard.append(event[1]))
    newcomer.start()
    wait_until(lambda: bool(heard))
    settle(newcomer.stop())
    for client in (newcomer.client, newcomer.reader):
        settle(client.disconnect())
    assert isinstance(heard[0], Present)
    return heard[0].attendees


def _connect(address: RedisAddress) -> Any:
    from chat.redis.connection import connect

    return settle(connect(address))


def _met(nodes: list[Node]) -> None:
    """alice on the first node, bob on the second, both in the lobby, knowing each other."""
    one, two = nodes
    one.login("alice")
    _settled(nodes)
    two.login("bob")
    _settled(nodes)
    assert one.elsewhere() == ["bob"] and two.elsewhere() == ["alice"]
    one.events("alice"), two.events("bob")


def test_a_member_who_quits_while_redis_is_away_is_told_gone_once_it_is_back(
    own_redis: OwnRedis, nodes: list[Node],
) -> None:
    """The other node's members are told alice left, once, her roster entry is gone (no
    ghost for /who) and her nickname is free again."""
    one, two = nodes
    _met(nodes)
    _outage(own_redis, nodes)
    one.quit("alice")
    _back(own_redis, nodes)
    assert _told(two, "bob", Left) == [
        Left("alice", "lobby", Quit())
    ]
    assert two.elsewhere() == []
    assert _present(own_redis) == (Attendee("bob"),)
    assert settle(two.redis.directory.claim("alice", "someone-else")).nick == "alice"


def test_a_member_who_joins_a_room_while_redis_is_away_is_told_there_once_it_is_back(
    own_redis: OwnRedis, nodes: list[Node],
) -> None:
    """bob is told alice came into dev once (alice herself is not told twice), and the
    roster of dev has her."""
    one, two = nodes
    _met(nodes)
    two.registry.join_room(two.member("bob"), "dev")
    _settled(nodes)
    two.events("bob")
    _outage(own_redis, nodes)
    one.registry.join_room(one.member("alice"), "dev")
    _back(own_redis, nodes)
    assert _told(two, "bob", Joined) == [
        Joined("alice", "dev")
    ]
    assert two.elsewhere("dev") == ["alice"]
    assert [event for event in one.events("alice") if isinstance(event, Joined)] == []
    assert _present(own_redis, "dev") == (Attendee("alice"), Attendee("bob"))


def test_a_redis_back_without_its_data_holds_every_connected_members_nickname_again(
    own_redis: OwnRedis, nodes: list[Node],
) -> None:
    """Redis restarted empty: alice's nickname cannot be taken on the other node, the
    rosters list both members again, and nobody is told anyone joined or left."""
    one, two = nodes
    _met(nodes)
    _outage(own_redis, nodes)
    _back(own_redis, nodes, keeping=False)
    with pytest.raises(AlreadyClaimedError):
        settle(two.redis.directory.claim("Alice", "someone-else"))
    assert _present(own_redis) == (Attendee("alice"), Attendee("bob"))
    news = (Joined, Left)
    assert [event for event in one.events("alice") + two.events("bob")
            if isinstance(event, news)] == []
    assert one.elsewhere() == ["bob"] and two.elsewhere() == ["alice"]


def test_a_member_who_leaves_while_a_redis_without_its_data_is_away_is_told_gone(
    own_redis: OwnRedis, nodes: list[Node],
) -> None:
    """Redis comes back empty after alice quit: bob is still told she left, once."""
    one, two = nodes
    _met(nodes)
    _outage(own_redis, nodes)
    one.quit("alice")
    _back(own_redis, nodes, keeping=False)
    assert _told(two, "bob", Left) == [
        Left("alice", "lobby", Quit())
    ]
    assert two.elsewhere() == []
    assert _present(own_redis) == (Attendee("bob"),)


def test_a_nickname_claimed_elsewhere_before_its_holder_put_it_back_stays_claimed(
    own_redis: OwnRedis, nodes: list[Node],
) -> None:
    """Redis back empty and someone claims alice's nickname before her node puts it back:
    the first claim Redis answered wins, and her node is told its claim is lost."""
    one, _ = nodes
    _met(nodes)
    lost: list[Claim[str]] = []
    one.redis.directory.lost = lost.append
    _outage(own_redis, nodes)
    own_redis.start(keeping=False)
    address = RedisAddress(path=own_redis.path)
    taken = blocking_command(
        address, "EVAL", claims.CLAIM, 3, f"{PREFIX}nick:alice", f"{PREFIX}online",
        f"{PREFIX}claims", '["ALICE", "intruder"]', "intruder", "alice",
    )
    assert taken == 1  # claimed: how many claims are held
    wait_until(lambda: all(node.redis.health.up for node in nodes))
    _turn(0.5)
    assert lost == [one.claims["alice"]]
    assert blocking_command(address, "GET", f"{PREFIX}nick:alice") == '["ALICE", "intruder"]'


@pytest.mark.xfail(strict=True, reason="bug: chat.redis.bus RedisBus._resumed reads a stream "
                   "that lost its entries on from its newest entry as it is when this node "
                   "resumes, skipping what another node said there before")
def test_a_message_said_soon_after_redis_came_back_empty_reaches_a_node_resuming_later(
    own_redis: OwnRedis, nodes: list[Node],
) -> None:
    """alice's node is back first and she speaks; bob's node resumes reading a second
    later: bob is shown what she said."""
    one, two = nodes
    _met(nodes)
    for number in range(3):
        one.registry.say(one.member("alice"), f"before {number}")
    _settled(nodes)
    two.events("bob")
    two.redis.rooms.retry = 1.0
    _outage(own_redis, nodes)
    own_redis.start(keeping=False)
    wait_until(lambda: one.redis.health.up)
    _turn(0.3)
    one.registry.say(one.member("alice"), "first after the restart")
    _turn(1.5)
    said = [event for event in two.events("bob") if isinstance(event, Message)]
    assert [event.text for event in said] == ["first after the restart"]


def test_a_node_whose_lease_ran_out_during_the_outage_is_given_its_members_back(
    own_redis: OwnRedis, lapsing: list[Node],
) -> None:
    """An outage longer than the lease: a node may be reaped by the other once Redis is
    back (its members told gone), then it puts them back (told there again): in the end
    each node sees the other's member, the roster holds both and both nicknames are held."""
    nodes = lapsing
    one, two = nodes
    _met(nodes)
    _outage(own_redis, nodes)
    _turn(1.0)  # the heartbeats expire meanwhile
    _back(own_redis, nodes)
    _turn(0.5)  # a reaping or two
    for node, nick, other in ((one, "alice", "bob"), (two, "bob", "alice")):
        news = [type(event) for event in node.events(nick)
                if isinstance(event, Joined | Left) and event.nick == other]
        assert news in ([], [Left, Joined])  # nothing, or a leave then a join again
    assert one.elsewhere() == ["bob"] and two.elsewhere() == ["alice"]
    assert _present(own_redis) == (Attendee("alice"), Attendee("bob"))
    with pytest.raises(AlreadyClaimedError):
        settle(two.redis.directory.claim("alice", "someone-else"))
    with pytest.raises(AlreadyClaimedError):
        settle(one.redis.directory.claim("bob", "someone-else"))
