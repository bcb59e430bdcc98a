"""Admission: how many connections the server serves at once, in all and from one address.

One :class:`Admission` is shared by every listener and every front end, so
``--max-clients`` and ``--max-per-ip`` count all their connections together.
:meth:`Admission.admit` answers a connection with a :class:`Ticket`, or with
why it is refused (:class:`ServerFull`, :class:`TooManyFromAddress`): facts
that each front end words in its own way. The ticket is given back with
:meth:`Admission.release` when the connection ends.

Connections whose peer has no network address (unix sockets, given here as
:data:`LOCAL`) count towards ``--max-clients`` only: they all come from this
machine, and one address for all of them would make the per-address limit
a limit on local users in all.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

LOCAL = "local"
"""The address of a peer that has no network address."""


@dataclass(frozen=True, slots=True)
class ServerFull:
    """Refused: ``limit`` connections are served already."""

    limit: int


@dataclass(frozen=True, slots=True)
class TooManyFromAddress:
    """Refused: ``limit`` connections from ``address`` are served already."""

    address: str
    limit: int


Refusal = ServerFull | TooManyFromAddress


class Ticket:
    """One admitted connection, counted until it is released."""

    __slots__ = ("address", "released")

    def __init__(self, address: str) -> None:
        self.address = address
        self.released = False


class Admission:
    """Counts the connections served and refuses those over the limits (0: no limit)."""

    def __init__(self, max_clients: int, max_per_address: int) -> None:
        self.max_clients = max_clients
        self.max_per_address = max_per_address
        self.served = 0
        self.per_address: Counter[str] = Counter()

    def admit(self, address: str) -> Ticket | Refusal:
        """A ticket for a connection from ``address``, or why it is refused."""
        if self.max_clients and self.served >= self.max_clients:
            return ServerFull(self.max_clients)
        if (
            self.max_per_address
            and address != LOCAL
            and self.per_address[address] >= self.max_per_address
        ):
            return TooManyFromAddress(address, self.max_per_address)
        self.served += 1
        self.per_address[address] += 1
        return Ticket(address)

    def release(self, ticket: Ticket) -> None:
        """The connection of ``ticket`` has ended; a second release changes nothing."""
        if ticket.released:
            return
        ticket.released = True
        self.served -= 1
        self.per_address[ticket.address] -= 1
        if not self.per_address[ticket.address]:
            del self.per_address[ticket.address]
