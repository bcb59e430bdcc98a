"""The bus port: fan-out of what happens in a room to everyone subscribed to it.

A :class:`Bus` carries events (of a type the caller chooses, e.g.
:class:`chat.domain.events.Batch`) by room key. Each subscriber receives every
event published to a room it is subscribed to, once, with the room key, in
the order in which events were published to that room. A subscriber is subscribed to a room at most
once, however often it subscribes; it may be subscribed to many rooms.

Publishing is on the path of every message and is synchronous: it returns
at once. The in-process :class:`chat.local.LocalBus` also delivers before
it returns; a bus between processes delivers later, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

Event = TypeVar("Event")

Subscriber = Callable[[str, Event], None]
"""Called with the room key and the event."""


class Bus(Protocol[Event]):
    """Room fan-out: publish to a room, subscribe to a room."""

    def publish(self, room: str, event: Event) -> None:
        """Deliver ``event`` to every subscriber of ``room``."""

    def subscribe(self, room: str, subscriber: Subscriber[Event]) -> None:
        """Deliver to ``subscriber`` what is published to ``room`` from now on."""

    def unsubscribe(self, room: str, subscriber: Subscriber[Event]) -> None:
        """Deliver nothing more of ``room`` to ``subscriber`` (if it was subscribed)."""
