"""A connection's output: sent at once where possible, and bounded for a peer that does not read.

:class:`Output` writes a connection's bytes: straight to a plain TCP
socket while nothing waits in Twisted's buffer (:meth:`Output.writer`, made
by :func:`~chat.session.direct_write.direct_writer`), else through the
transport. It registers itself as the transport's streaming producer, so
the transport tells it when its buffer fills (``pauseProducing``) and when
it has drained (``resumeProducing``); what is written in between is
counted, and once that passes ``limit`` bytes (``--sendq``) ``overflowed``
is called: the connection is cut rather than let a reader that has stopped
make the server hold its output without end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import interfaces
from zope.interface import implementer

from chat.session.direct_write import direct_writer


@implementer(interfaces.IPushProducer)
class Output:
    """Writes one connection's bytes and watches how many wait."""

    __slots__ = ("_overflowed", "blocked", "limit", "queued", "transport")

    def __init__(self, transport: Any, limit: int, overflowed: Callable[[], None]) -> None:
        self.transport = transport
        self.limit = limit
        self._overflowed = overflowed
        self.blocked = False
        """The transport's buffer is full: the peer reads slower than it is written to."""
        self.queued = 0
        """Bytes written since the buffer last filled, while it has not drained."""
        transport.registerProducer(self, True)

    def writer(self) -> Callable[[bytes], None]:
        """How to send bytes after everything written before them: straight to the socket
        where that keeps the order, the rest by :meth:`write`. One Python call per write
        (every delivery to every member comes this way); the output does not keep it, as
        it refers to the output."""
        return direct_writer(self.transport, self.write) or self.write

    def write(self, data: bytes) -> None:
        """Send ``data`` through the transport, after everything written before it."""
        if not data:
            return
        self.transport.write(data)
        if self.blocked:
            self.queued += len(data)
            if self.queued > self.limit:
                self._overflowed()

    def stop(self) -> None:
        """Write no more through the transport's producer link (the connection closes)."""
        self.transport.unregisterProducer()

    def pauseProducing(self) -> None:
        self.blocked = True

    def resumeProducing(self) -> None:
        self.blocked = False
        self.queued = 0

    def stopProducing(self) -> None:
        self.blocked = False
