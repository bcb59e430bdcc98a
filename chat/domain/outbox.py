"""The outbox: everything one member is shown, in the order it happened.

Every batch for a member goes through its :class:`Outbox`: room fan-out
(:meth:`Outbox.deliver`, on the path of every message), what is said to the
member alone (:meth:`Outbox.put`: a welcome, a private message, a reply of
its front end), and what must be read first (:meth:`Outbox.reserve`: the
history of a room, read from a store that may answer later).

Order holds by construction:

- :meth:`Outbox.put` first hands over what the chat has gathered for its
  members (``gathered``: the registry's batched fan-out), so a reply never
  overtakes what was said before it;
- a reserved place keeps its turn: what comes after it waits in the outbox
  until it is filled, so a room's history comes before what is said in the
  room once the member is in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

from chat.domain.events import Batch, LeaveReason


class Client(Protocol):
    """The front end of one member: where that member's events go."""

    def deliver(self, batch: Batch) -> None:
        """Show the events of ``batch`` to the member, in order."""

    def displace(self) -> None:
        """Give up this member's place: the same person has come back on a new
        connection, which takes it over (:class:`~chat.domain.events.Reconnected`)."""

    def remove(self, reason: LeaveReason) -> None:
        """Put the member off the server for ``reason`` (an operator's
        :class:`~chat.domain.events.Kick`): what it was told is sent first."""


class Reservation:
    """A place in an outbox for a batch that is not ready yet."""

    __slots__ = ("batch", "filled")

    def __init__(self) -> None:
        self.batch: Batch | None = None
        self.filled = False


class Outbox:
    """The ordered way to one member's :class:`Client`."""

    __slots__ = ("_client", "_gathered", "_waiting", "client", "deliver")

    def __init__(self, client: Client, gathered: Callable[[], None]) -> None:
        self.client = client
        self._gathered = gathered
        self._waiting: deque[Batch | Reservation] | None = None
        """What waits behind a place not filled yet; None while nothing does (a deque
        takes most of a kilobyte, and one outbox per member holds none most of the time)."""
        self.deliver: Callable[[Batch], None] = client.deliver
        """Pass ``batch`` on, behind anything waiting (the fan-out's way in)."""

    def put(self, batch: Batch) -> None:
        """Pass ``batch`` on after everything said before it."""
        self._gathered()
        self.deliver(batch)

    def reserve(self) -> Reservation:
        """Keep a place, after everything said so far, for a batch to :meth:`fill` later."""
        self._gathered()
        reservation = Reservation()
        if self._waiting is None:
            self._waiting = deque()
            self.deliver = self._waiting.append
        self._waiting.append(reservation)
        return reservation

    def fill(self, reservation: Reservation, batch: Batch | None) -> None:
        """Put ``batch`` (None: nothing) in its place, and pass on what is then due."""
        reservation.batch, reservation.filled = batch, True
        waiting = self._waiting
        if waiting is None:
            return
        while waiting:
            head = waiting[0]
            if isinstance(head, Reservation):
                if not head.filled:
                    return
                waiting.popleft()
                if head.batch is not None:
                    self.client.deliver(head.batch)
            else:
                waiting.popleft()
                self.client.deliver(head)
        self._waiting = None
        self.deliver = self.client.deliver

    @property
    def waiting(self) -> int:
        """Batches and places waiting behind an unfilled place."""
        return 0 if self._waiting is None else len(self._waiting)
