"""An in-memory tcpchat for tests: no sockets, no real time.

In the manner of ``treq.testing``, this is part of the product, for the
project's own tests and for anyone writing a front end or a port:

- :class:`Chat` is a whole server in memory: the real
  :class:`~chat.domain.registry.Registry`, :class:`~chat.session.server.ChatServer`
  and line front end (:class:`~chat.line.protocol.LineFactory`), on a
  :class:`~twisted.internet.task.Clock` that only moves when the test
  says so;
- :meth:`Chat.open` and :meth:`Chat.connect` give a :class:`TypedConnection`,
  a line connection on a ``StringTransport``, typed into and read from as
  a person on ``nc`` would;
- :class:`RecordingClient` is a member's front end for driving the
  registry directly, keeping the lines it would show;
- :class:`Processes` is one chat served by several processes, in memory:
  registries sharing a bus (which tells each who is in a room elsewhere),
  a courier, a census of rooms, a directory and message ids, as ``--redis`` nodes do.

A test of the domain::

    chat = Chat()
    alice, bob = RecordingClient(), RecordingClient()
    chat.registry.join("alice", alice)
    member = chat.registry.join("bob", bob)
    chat.registry.say(member, "hello")
    chat.registry.flush()
    assert alice.take()[-1] == "<bob> hello"

of two processes of one chat::

    processes = Processes()
    one, two = Chat(processes=processes), Chat(processes=processes)
    alice, bob = one.connect("alice"), two.connect("bob")
    alice.type("/who")           # alice and bob: one room over two processes

and of the line protocol::

    chat = Chat(flood_rate=0)
    alice = chat.connect("alice")
    bob = chat.connect("bob")
    bob.type("hello")
    assert alice.received() == ["<bob> hello"]
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from chat.accounts.mailbox import Mailbox
from chat.accounts.store import Accounts
from chat.config import ServerConfig
from chat.domain.events import Attendee, Batch, Event, LeaveReason, Present
from chat.domain.registry import FLUSH_DELAY, Registry, RoomEvent
from chat.line.protocol import LineFactory
from chat.line.render import render
from chat.local import LocalBus, LocalDirectory, LocalSequencer
from chat.ports.bus import Receiver, Subscriber
from chat.session.server import ChatServer

__all__ = ["Chat", "Processes", "RecordingClient", "TypedConnection"]


class RecordingClient:
    """A member's front end that keeps the lines it was sent."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.batches: list[Batch] = []
        self.displaced = False
        self.removed: LeaveReason | None = None

    def deliver(self, batch: Batch) -> None:
        self.batches.append(batch)
        self.lines.extend(line for line in map(render, batch.events) if line)

    def displace(self) -> None:
        self.displaced = True

    def remove(self, reason: LeaveReason) -> None:
        self.removed = reason

    def take(self) -> list[str]:
        """The lines sent since the last call (of this or :meth:`take_events`)."""
        lines, self.lines, self.batches = self.lines, [], []
        return lines

    def take_events(self) -> list[tuple[str | None, Event]]:
        """Each event sent since the last call, with the room of its batch."""
        events = [(batch.room, event) for batch in self.batches for event in batch.events]
        self.lines, self.batches = [], []
        return events


class TypedConnection:
    """A line connection on a StringTransport, with helpers to type and read."""

    def __init__(
        self, factory: LineFactory, clock: Clock, port: int, host: str = "127.0.0.1"
    ) -> None:
        self.clock = clock
        address = IPv4Address("TCP", host, port)
        self.transport = StringTransport(peerAddress=address)
        # A refused connection gets a protocol that only says why.
        self.protocol: Any = factory.buildProtocol(address)
        self.protocol.makeConnection(self.transport)

    def type(self, *lines: str) -> None:
        """Send ``lines``, each with a line feed, in one read."""
        self.protocol.dataReceived("".join(line + "\n" for line in lines).encode())

    def received(self) -> list[str]:
        """Lines the server sent since the last call, once the reactor turn is over."""
        self.clock.advance(FLUSH_DELAY)
        data = self.transport.value()
        self.transport.clear()
        assert data == b"" or data.endswith(b"\r\n"), data
        return [line.decode() for line in data.split(b"\r\n")[:-1]]

    def fill_socket_buffer(self) -> None:
        """Act as the transport does when the peer stops reading."""
        assert self.transport.producer is not None
        self.transport.producer.pauseProducing()

    def drain_socket_buffer(self) -> None:
        """Act as the transport does when everything queued has been sent."""
        assert self.transport.producer is not None
        self.transport.producer.resumeProducing()

    def lose(self) -> None:
        """The connection drops."""
        self.protocol.connectionLost()


class Processes:
    """One chat served by several processes, in memory.

    Each :meth:`registry` is one process's: they share a bus, a nickname
    directory and message ids. When a registry starts to serve a room, the
    bus first tells it who is in the room in the other processes
    (:class:`~chat.domain.events.Present`); a private message to a nickname
    another registry holds goes to it through the courier. With ``present_later``, as over
    Redis, that :class:`~chat.domain.events.Present` comes only when :meth:`tell_present`
    is called.
    """

    def __init__(self, present_later: bool = False) -> None:
        self.present_later = present_later
        self.presents_due: list[tuple[str, Subscriber[RoomEvent], int]] = []
        """Subscriptions whose Present is not told yet: room, subscriber, process index."""
        self.bus: LocalBus[RoomEvent] = LocalBus()
        self.directory: LocalDirectory[str] = LocalDirectory()
        self.sequencer = LocalSequencer()
        self.registries: list[Registry] = []
        self._receivers: dict[int, Receiver[Event]] = {}

    def registry(self, clock: Clock | None = None) -> Registry:
        """A new process's registry."""
        view = _ProcessView(self, len(self.registries))
        registry = Registry(
            clock=clock, bus=view, courier=view, census=view, sequencer=self.sequencer
        )
        self.registries.append(registry)
        return registry

    def tell_present(self) -> None:
        """Give every subscription still waiting for it its room's Present."""
        due, self.presents_due = self.presents_due, []
        for room, subscriber, index in due:
            subscriber(room, (None, _ProcessView(self, index).present(room)))


class _ProcessView:
    """The bus and courier as one process of :class:`Processes` reaches them."""

    tells_present = True

    def __init__(self, processes: Processes, index: int) -> None:
        self.processes = processes
        self.index = index

    def _others(self) -> list[tuple[int, Registry]]:
        return [
            (index, registry) for index, registry in enumerate(self.processes.registries)
            if index != self.index
        ]

    def publish(self, room: str, event: RoomEvent) -> None:
        self.processes.bus.publish(room, event)

    def present(self, room: str) -> Present:
        """Who is in ``room`` in the other processes."""
        return Present(room, tuple(
            Attendee(member.nick, member.away)
            for _, registry in self._others()
            if (there := registry.rooms.get(room)) is not None
            for member in there.members.values()
        ))

    def subscribe(self, room: str, subscriber: Subscriber[RoomEvent]) -> None:
        if self.processes.present_later:
            self.processes.presents_due.append((room, subscriber, self.index))
        else:
            subscriber(room, (None, self.present(room)))
        self.processes.bus.subscribe(room, subscriber)

    def unsubscribe(self, room: str, subscriber: Subscriber[RoomEvent]) -> None:
        self.processes.bus.unsubscribe(room, subscriber)

    def send(self, nick: str, event: Event) -> defer.Deferred[str | None]:
        for index, registry in self._others():
            member = registry.find(nick)
            receiver = self.processes._receivers.get(index)
            if member is not None and receiver is not None:
                receiver(nick, event)
                return defer.succeed(member.nick)
        return defer.succeed(None)

    def receive(self, receiver: Receiver[Event]) -> None:
        self.processes._receivers[self.index] = receiver

    def count_rooms(self) -> defer.Deferred[dict[str, int]]:
        counts: dict[str, int] = {}
        for registry in self.processes.registries:
            for key, room in registry.rooms.items():
                if room.members:
                    counts[key] = counts.get(key, 0) + len(room.members)
        return defer.succeed(counts)


class Chat:
    """A server in memory: its registry, its server, a line front end and a clock.

    ``limits`` are :class:`~chat.config.ServerConfig` fields; with
    ``accounts`` the server keeps accounts (in memory) as a real one does,
    and with ``mailbox`` too the private messages of offline users. Given
    ``processes``, it is one process of that chat.
    """

    def __init__(
        self, accounts: bool = False, mailbox: bool = False,
        processes: Processes | None = None, **limits: Any,
    ) -> None:
        self.clock = Clock()
        self.registry = (
            Registry(clock=self.clock) if processes is None else processes.registry(self.clock)
        )
        self.config = ServerConfig(**limits)
        self.accounts: Accounts | None = None
        """With ``accounts``: the accounts, in an in-memory SQLite database, answering at once."""
        if accounts:
            self.accounts = Accounts(":memory:", None)
            self.accounts.start()
        self.mailbox: Mailbox | None = None
        """With ``mailbox`` (and ``accounts``): offline private messages, in memory."""
        if mailbox:
            self.mailbox = Mailbox(
                ":memory:", None, per_user=self.config.offline_messages,
                keep_days=self.config.offline_days, clock=self.clock.seconds,
            )
            self.mailbox.start()
        self.server = ChatServer(
            self.registry, self.config, self.clock, accounts=self.accounts, mailbox=self.mailbox,
            directory=None if processes is None else processes.directory,
        )
        self.factory = LineFactory(self.server)
        self._ports = iter(range(40000, 60000))

    def open(self, host: str = "127.0.0.1") -> TypedConnection:
        """A new connection, with nothing read yet."""
        return TypedConnection(self.factory, self.clock, next(self._ports), host)

    def connect(self, nick: str | None = None, host: str = "127.0.0.1") -> TypedConnection:
        """A new connection past its greeting, joined as ``nick`` if given."""
        connection = self.open(host)
        if nick is not None:
            connection.type(nick)
        connection.received()
        return connection
