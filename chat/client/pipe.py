"""Pipe mode, for scripts and bots: one line read is one line sent, each line received is printed.

Standard output carries exactly the lines the server sent, without
colours, timestamps or CRs; what the client itself has to say
(reconnecting, why it stops) goes to standard error.
"""

from __future__ import annotations

import sys
from typing import TextIO

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.client.session import Session
from chat.client.status import Status
from chat.client.unread import UnreadMarker

PROGRAM = "tcpchat-client"


@implementer(IHalfCloseableProtocol)
class PipeIO(Protocol):
    """Standard input and output of pipe mode, and the session's view.

    At the end of input the session is told so (it then sends what is
    pending and ``/quit``); output stays open until :meth:`close`. When
    nobody reads the output any more, the session leaves.
    """

    session: Session

    def __init__(self, errors: TextIO = sys.stderr) -> None:
        self.errors = errors
        self.closed: Deferred[None] = Deferred()
        self._unfinished = b""
        self._output_lost = False

    def dataReceived(self, data: bytes) -> None:
        *lines, self._unfinished = (self._unfinished + data).split(b"\n")
        for line in lines:
            self._line_read(line)

    def readConnectionLost(self) -> None:
        if self._unfinished:
            self._line_read(self._unfinished)
            self._unfinished = b""
        self.session.end_of_input()

    def writeConnectionLost(self) -> None:
        self._output_lost = True
        self.session.leave()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if not self.closed.called:
            self.closed.callback(None)

    def close(self) -> None:
        """Flush and close standard output; :attr:`closed` fires after."""
        assert self.transport is not None
        self.transport.loseConnection()
        if self._output_lost:
            # StandardIO reports the loss of a half it has already lost to nobody.
            self.connectionLost()

    def _line_read(self, line: bytes) -> None:
        self.session.user_line(line.removesuffix(b"\r").decode("utf-8", "replace"))

    # SessionView

    def show_line(self, line: str) -> None:
        assert self.transport is not None
        self.transport.write(line.encode("utf-8") + b"\n")

    def show_own_line(self, line: str) -> None:
        """Scripts know what they sent: nothing is echoed."""

    def show_refused(self, own_line: str, error_line: str) -> None:
        """The server's ``!!!`` line is printed as any line it sends is."""
        self.show_line(error_line)

    def show_status(self, text: str) -> None:
        self.errors.write(f"*** {text}\n")
        self.errors.flush()

    def show_error(self, text: str) -> None:
        self.errors.write(f"{PROGRAM}: {text}\n")
        self.errors.flush()

    def nickname_wanted(self) -> None:
        """The first line of input is the nickname: nothing to ask."""

    def nickname_changed(self, nick: str) -> None:
        """Nothing shows the nickname in pipe mode."""

    def password_wanted(self) -> None:
        """Never asked: pipe mode answers with the password given, or stops."""

    def status_changed(self, status: Status) -> None:
        """Pipe mode has no status line."""

    def show_unread(self, marker: UnreadMarker) -> None:
        """Scripts read the server's own lines, which say where a replay starts and ends."""
