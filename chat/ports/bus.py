"""The bus port: fan-out of what happens in a room to everyone subscribed to it.

A :class:`Bus` carries events (of a type the caller chooses, e.g.
:class:`chat.domain.events.Batch`) by room key. Each subscriber receives every
event published to a room it is subscribed to, once, with the room key, in
the order in which events were published to that room. A subscriber is subscribed to a room at most
once, however often it subscribes; it may be subscribed to many rooms.

Publishing is on the path of every message and is synchronous: it returns
at once. The in-process :class:`chat.local.LocalBus` also delivers before
it returns; a bus between processes delivers later, in the same order, and
raises :class:`BusUnavailableError` when it cannot take an event now (its
server is unreachable): nothing is queued.

A bus between processes also says who is in a room elsewhere: when it
starts to deliver a room here it gives the room's subscribers a
:class:`chat.domain.events.Present` first (the in-process bus, which has
no elsewhere, never does).

A :class:`Courier` delivers to one member by nickname, on whichever process
serves it: private messages across processes; a :class:`Census` counts the
members of every room, on every process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from twisted.internet import defer

Event = TypeVar("Event")

Subscriber = Callable[[str, Event], None]
"""Called with the room key and the event."""

Receiver = Callable[[str, Event], None]
"""Called with the nickname an event is for and the event."""


class BusUnavailableError(Exception):
    """The bus cannot take an event now: the server it goes through is unreachable."""


class Bus(Protocol[Event]):
    """Room fan-out: publish to a room, subscribe to a room.

    A bus that gives a new subscriber of a room :class:`~chat.domain.events.Present` (who
    is in it on other processes) some time after :meth:`subscribe` rather than during it
    says so with a class attribute ``tells_present = True``: the registry then holds what
    it tells a member entering such a room about its size until Present has come.
    """

    def publish(self, room: str, event: Event) -> None:
        """Deliver ``event`` to every subscriber of ``room``."""

    def subscribe(self, room: str, subscriber: Subscriber[Event]) -> None:
        """Deliver to ``subscriber`` what is published to ``room`` from now on."""

    def unsubscribe(self, room: str, subscriber: Subscriber[Event]) -> None:
        """Deliver nothing more of ``room`` to ``subscriber`` (if it was subscribed)."""


class Courier(Protocol[Event]):
    """Delivery to one member by nickname, wherever the chat serves it."""

    def send(self, nick: str, event: Event) -> defer.Deferred[str | None]:
        """Deliver ``event`` to the member holding ``nick`` (any case) on another process;
        fires with the nickname as its holder spells it, or None when no other process
        serves anyone by that name. May raise :class:`BusUnavailableError`."""

    def receive(self, receiver: Receiver[Event]) -> None:
        """Hand what other processes send to members here to ``receiver``."""


class Census(Protocol):
    """How many members each room has, counted over every process of the chat."""

    def count_rooms(self) -> defer.Deferred[dict[str, int]]:
        """Every room with members on any process: its key, and how many it has."""
