"""Room fan-out by direct calls: the :class:`~chat.ports.Bus` of one server.

:meth:`LocalBus.publish` calls each subscriber of the room, in the order
they subscribed, before it returns. An event published by a subscriber
while another event is being delivered waits until that delivery has
ended, so every subscriber sees events in the order they were published.
A subscriber that raises is logged and the others still receive the event.
Who receives an event is settled when its delivery starts: a subscriber
added during it waits for the next event, and one removed during it
receives it no more.
"""

from __future__ import annotations

from collections import deque
from typing import Generic

from twisted.internet import defer
from twisted.logger import Logger

from chat.ports.bus import Event, Receiver, Subscriber

log = Logger()


class LocalBus(Generic[Event]):
    """Subscribers by room key, called in process."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[Subscriber[Event], None]] = {}
        self._waiting: deque[tuple[str, Event]] = deque()
        self._delivering = False

    def publish(self, room: str, event: Event) -> None:
        """Deliver ``event`` to the subscribers of ``room``, before returning."""
        if self._delivering:
            self._waiting.append((room, event))
            return
        self._delivering = True
        try:
            self._deliver(room, event)
            while self._waiting:
                self._deliver(*self._waiting.popleft())
        finally:
            self._delivering = False

    def subscribe(self, room: str, subscriber: Subscriber[Event]) -> None:
        """Deliver what is published to ``room`` to ``subscriber`` too (once)."""
        self._rooms.setdefault(room, {})[subscriber] = None

    def unsubscribe(self, room: str, subscriber: Subscriber[Event]) -> None:
        """Stop delivering ``room`` to ``subscriber``."""
        subscribers = self._rooms.get(room)
        if subscribers is not None:
            subscribers.pop(subscriber, None)
            if not subscribers:
                del self._rooms[room]

    def _deliver(self, room: str, event: Event) -> None:
        subscribers = self._rooms.get(room)
        if not subscribers:
            return
        if len(subscribers) == 1:
            (only,) = subscribers  # the registry, for every message: called with no helper
            try:
                only(room, event)
            except Exception:
                log.failure("bus: a subscriber of {room} failed", room=room)
            return
        for subscriber in list(subscribers):
            if subscriber in subscribers:
                self._call(subscriber, room, event)

    @staticmethod
    def _call(subscriber: Subscriber[Event], room: str, event: Event) -> None:
        try:
            subscriber(room, event)
        except Exception:
            log.failure("bus: a subscriber of {room} failed", room=room)


class LocalCourier(Generic[Event]):
    """The :class:`~chat.ports.Courier` of a chat served by one process: there is no
    other process, so nobody is served elsewhere."""

    def send(self, nick: str, event: Event) -> defer.Deferred[str | None]:
        """Fires with None: nobody is served by another process."""
        return defer.succeed(None)

    def receive(self, receiver: Receiver[Event]) -> None:
        """Nothing ever comes from another process."""
