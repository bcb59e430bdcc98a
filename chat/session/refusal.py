"""A connection the server cannot take: told why in its front end's words, then closed.

Every front end's factory asks :meth:`~chat.session.server.ChatServer.admit`
first; a refused connection gets a :class:`RefusedConnection` with the
front end's farewell (a ``!!!`` line, an IRC ``ERROR``), which closes it,
or aborts it after ``close_timeout`` seconds if that does not happen (TLS
without a handshake).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure


class RefusedConnection(Protocol):
    """Sends ``farewell``, then closes."""

    transport: Any

    def __init__(self, farewell: bytes, clock: IReactorTime, close_timeout: float) -> None:
        self.farewell = farewell
        self.clock = clock
        self.close_timeout = close_timeout
        self._deadline: IDelayedCall | None = None

    def connectionMade(self) -> None:
        self.transport.write(self.farewell)
        self.transport.loseConnection()
        self._deadline = self.clock.callLater(self.close_timeout, self.transport.abortConnection)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
