"""Contract of the Bus port (:mod:`chat.ports.bus`), run on every implementation.

An implementation passes :class:`BusContract` by a subclass that says how
to make one and, for a bus that delivers later, how to wait until what was
published has been delivered (``settle``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chat.domain.events import Message, Noticed, Present
from chat.domain.registry import RoomEvent
from chat.local import LocalBus
from chat.ports import Bus, Subscriber
from chat.redis.bus import RedisBus
from chat.redis.rooms import RedisRooms
from tests.support.redis_server import RedisServer, redis, redis_server, settle, wait_until

__all__ = ["redis", "redis_server"]  # the fixtures, for pytest to find


class Heard:
    """A subscriber that notes what it receives, as (room, event)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, room: str, event: str) -> None:
        self.events.append((room, event))


class BusContract:
    """What every bus does."""

    def make(self) -> Bus[str]:
        """A bus with no subscribers."""
        raise NotImplementedError

    def settle(self) -> None:
        """Wait until everything published so far has been delivered (nothing for a bus
        that delivers before ``publish`` returns, as the local one does)."""

    def test_publish_reaches_every_subscriber_once_in_order(self) -> None:
        """Each subscriber of the room receives each event once, in the order published."""
        bus = self.make()
        alice, bob = Heard(), Heard()
        bus.subscribe("lobby", alice)
        bus.subscribe("lobby", bob)
        for event in ("one", "two", "three"):
            bus.publish("lobby", event)
        self.settle()
        expected = [("lobby", "one"), ("lobby", "two"), ("lobby", "three")]
        assert alice.events == expected
        assert bob.events == expected

    def test_subscribing_twice_delivers_once(self) -> None:
        """A subscriber is subscribed to a room at most once."""
        bus = self.make()
        alice = Heard()
        bus.subscribe("lobby", alice)
        bus.subscribe("lobby", alice)
        bus.publish("lobby", "hello")
        self.settle()
        assert alice.events == [("lobby", "hello")]

    def test_only_the_rooms_subscribers_receive(self) -> None:
        """An event published to one room reaches no one subscribed only to another."""
        bus = self.make()
        lobby, dev = Heard(), Heard()
        bus.subscribe("lobby", lobby)
        bus.subscribe("dev", dev)
        bus.publish("dev", "deploy")
        bus.publish("nobody-here", "echo")
        self.settle()
        assert lobby.events == []
        assert dev.events == [("dev", "deploy")]

    def test_a_subscriber_of_two_rooms_hears_both_by_name(self) -> None:
        """Each event comes with the key of the room it was published to."""
        bus = self.make()
        alice = Heard()
        bus.subscribe("lobby", alice)
        bus.subscribe("dev", alice)
        bus.publish("lobby", "one")
        bus.publish("dev", "two")
        bus.publish("lobby", "three")
        self.settle()
        assert [event for event in alice.events if event[0] == "lobby"] == [
            ("lobby", "one"), ("lobby", "three")
        ]
        assert [event for event in alice.events if event[0] == "dev"] == [("dev", "two")]

    def test_unsubscribing_stops_delivery(self) -> None:
        """After unsubscribe the room's events no longer reach the subscriber; others get them."""
        bus = self.make()
        alice, bob = Heard(), Heard()
        bus.subscribe("lobby", alice)
        bus.subscribe("lobby", bob)
        bus.publish("lobby", "before")
        self.settle()
        bus.unsubscribe("lobby", alice)
        bus.publish("lobby", "after")
        self.settle()
        assert alice.events == [("lobby", "before")]
        assert bob.events == [("lobby", "before"), ("lobby", "after")]

    def test_unsubscribing_what_was_not_subscribed_is_harmless(self) -> None:
        """Leaving a room one is not in, or twice, changes nothing."""
        bus = self.make()
        alice, bob = Heard(), Heard()
        bus.subscribe("lobby", bob)
        bus.unsubscribe("lobby", alice)
        bus.unsubscribe("dev", alice)
        bus.unsubscribe("lobby", bob)
        bus.unsubscribe("lobby", bob)
        bus.publish("lobby", "x")
        self.settle()
        assert alice.events == bob.events == []

    def test_an_event_published_by_a_subscriber_comes_after_the_one_it_heard(self) -> None:
        """Publishing from a subscriber does not overtake the event being delivered."""
        bus = self.make()
        heard = Heard()

        def reply(room: str, event: str) -> None:
            if event == "ping":
                bus.publish(room, "pong")

        bus.subscribe("lobby", reply)
        bus.subscribe("lobby", heard)
        bus.publish("lobby", "ping")
        self.settle()
        assert heard.events == [("lobby", "ping"), ("lobby", "pong")]

    def test_a_failing_subscriber_does_not_stop_the_others(self) -> None:
        """One subscriber raising neither fails the publisher nor keeps the event from the rest."""
        bus = self.make()
        heard = Heard()

        def broken(room: str, event: str) -> None:
            raise RuntimeError("subscriber bug")

        bus.subscribe("lobby", broken)
        bus.subscribe("lobby", heard)
        bus.publish("lobby", "one")
        bus.publish("lobby", "two")
        self.settle()
        assert heard.events == [("lobby", "one"), ("lobby", "two")]


class TestLocalBus(BusContract):
    """The in-process bus of one server."""

    def make(self) -> Bus[str]:
        return LocalBus()


class TestRedisBus(BusContract):
    """The bus of several processes: one Redis stream per room, read back by each process."""

    @pytest.fixture(autouse=True)
    def _redis(self, redis: RedisServer) -> Iterator[None]:
        self.redis = redis
        self.buses: list[RedisBus[str]] = []
        yield
        for bus in self.buses:
            settle(bus.stop())

    def make(self) -> Bus[str]:
        bus: RedisBus[str] = RedisBus(self.redis.connect(), self.redis.connect())
        bus.start()
        self.buses.append(bus)
        return bus

    def settle(self) -> None:
        for bus in self.buses:
            wait_until(bus.drained)


class TextOverRooms:
    """A :class:`RedisRooms` carrying text as the domain's events: each text a message
    (numbered by Redis in one call with its place) or, with ``as_message`` False, a notice."""

    def __init__(self, rooms: RedisRooms, as_message: bool) -> None:
        self.rooms = rooms
        self.as_message = as_message
        self._wrapped: dict[Subscriber[str], Subscriber[RoomEvent]] = {}

    def publish(self, room: str, event: str) -> None:
        said = Message("alice", event, 0, 1.0) if self.as_message else Noticed("alice", event, 1.0)
        self.rooms.publish(room, (None, said))

    def subscribe(self, room: str, subscriber: Subscriber[str]) -> None:
        def heard(room: str, event: RoomEvent) -> None:
            said = event[1]
            if isinstance(said, Present):  # who is in the room elsewhere: not a text
                return
            assert isinstance(said, Message | Noticed)
            subscriber(room, said.text)

        self.rooms.subscribe(room, self._wrapped.setdefault(subscriber, heard))

    def unsubscribe(self, room: str, subscriber: Subscriber[str]) -> None:
        if subscriber in self._wrapped:
            self.rooms.unsubscribe(room, self._wrapped[subscriber])


class TestRedisRoomsMessages(TestRedisBus):
    """The rooms of a node over Redis, carrying messages (one Lua call numbers and adds each)."""

    as_message = True

    def make(self) -> Bus[str]:
        rooms = RedisRooms(self.redis.address, self.redis.connect(), self.redis.connect())
        rooms.start()
        self.buses.append(rooms)  # type: ignore[arg-type]
        return TextOverRooms(rooms, self.as_message)


class TestRedisRoomsNotices(TestRedisRoomsMessages):
    """The rooms of a node over Redis, carrying events that are not messages."""

    as_message = False
