"""In-memory stand-ins for driving the chat without sockets."""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from chat.config import ServerConfig
from chat.domain.events import Batch
from chat.domain.registry import FLUSH_DELAY, Registry
from chat.line.render import render
from chat.protocol import ChatFactory, ChatProtocol


class RecordingClient:
    """A member's front end that keeps the lines it was sent."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def deliver(self, batch: Batch) -> None:
        self.lines.extend(line for line in map(render, batch.events) if line)

    def take(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines


class Connection:
    """A ChatProtocol on a StringTransport, with helpers to type and read."""

    def __init__(
        self, factory: ChatFactory, clock: Clock, port: int, host: str = "127.0.0.1"
    ) -> None:
        self.clock = clock
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", host, port))
        # A refused connection gets a protocol that only says why.
        self.protocol: ChatProtocol = factory.buildProtocol(IPv4Address("TCP", host, port))
        self.protocol.makeConnection(self.transport)

    def type(self, *lines: str) -> None:
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
        self.protocol.connectionLost()


class Chat:
    """A server in memory: a factory, its registry and a clock."""

    def __init__(self, **limits: object) -> None:
        self.clock = Clock()
        self.registry = Registry(clock=self.clock)
        self.config = ServerConfig(**limits)  # type: ignore[arg-type]
        self.factory = ChatFactory(self.registry, self.config, self.clock)
        self._ports = iter(range(40000, 60000))

    def open(self, host: str = "127.0.0.1") -> Connection:
        """A new connection, with nothing read yet."""
        return Connection(self.factory, self.clock, next(self._ports), host)

    def connect(self, nick: str | None = None, host: str = "127.0.0.1") -> Connection:
        """A new connection past its greeting, joined as ``nick`` if given."""
        connection = self.open(host)
        if nick is not None:
            connection.type(nick)
        connection.received()
        return connection
