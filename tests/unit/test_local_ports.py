"""The in-process bus beyond its contract: it calls subscribers itself, at once, in a set order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher

from chat.local import LocalBus
from chat.ports import Subscriber


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """Every log line emitted during the test, formatted."""
    lines: list[str] = []

    def formatted(event: LogEvent) -> None:
        lines.append(formatEvent(event))

    observe = cast(ILogObserver, formatted)
    globalLogPublisher.addObserver(observe)
    yield lines
    globalLogPublisher.removeObserver(observe)


def test_publish_has_delivered_when_it_returns() -> None:
    """In process, fan-out is synchronous: nothing waits for a later turn of the reactor."""
    bus: LocalBus[str] = LocalBus()
    heard: list[str] = []
    bus.subscribe("lobby", lambda room, event: heard.append(event))
    bus.publish("lobby", "now")
    assert heard == ["now"]


def test_subscribers_are_called_in_the_order_they_subscribed() -> None:
    """The earliest subscriber of a room hears each event first."""
    bus: LocalBus[str] = LocalBus()
    calls: list[str] = []
    def named(name: str) -> Subscriber[str]:
        return lambda room, event: calls.append(name)

    for name in ("first", "second", "third"):
        bus.subscribe("lobby", named(name))
    bus.publish("lobby", "x")
    assert calls == ["first", "second", "third"]


def test_a_subscriber_added_during_a_delivery_waits_for_the_next_event() -> None:
    """Who receives an event is settled when its delivery starts."""
    bus: LocalBus[str] = LocalBus()
    late: list[str] = []

    def invite(room: str, event: str) -> None:
        bus.subscribe(room, lambda room, event: late.append(event))

    bus.subscribe("lobby", invite)
    bus.publish("lobby", "one")
    assert late == []
    bus.unsubscribe("lobby", invite)
    bus.publish("lobby", "two")
    assert late == ["two"]


def test_a_subscriber_removed_during_a_delivery_does_not_receive_it() -> None:
    """Unsubscribed by an earlier subscriber, a later one no longer gets the event."""
    bus: LocalBus[str] = LocalBus()
    heard: list[str] = []

    def victim(room: str, event: str) -> None:
        heard.append(event)

    bus.subscribe("lobby", lambda room, event: bus.unsubscribe(room, victim))
    bus.subscribe("lobby", victim)
    bus.publish("lobby", "one")
    assert heard == []


def test_a_failing_subscriber_is_logged_with_its_room(logged: list[str]) -> None:
    """A subscriber's exception is logged, naming the room, and not raised to the publisher."""
    bus: LocalBus[str] = LocalBus()

    def broken(room: str, event: str) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe("dev", broken)
    bus.publish("dev", "x")
    assert any("a subscriber of dev failed" in line for line in logged), logged
