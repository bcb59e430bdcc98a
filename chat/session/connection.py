"""One connection, whatever its front end: what the line protocol and the front ends to come share.

A front end's protocol frames, parses and renders; its :class:`Connection`
does the rest, the same way for every front end:

- admission: it holds the connection's
  :class:`~chat.session.admission.Ticket` and gives it back at the end;
- the handshake: a deadline (``--handshake-timeout``) and the login, through
  the server's portal (:mod:`chat.session.login`), to a
  :class:`~chat.session.login.ChatSession`; a client that comes back with its
  resume token takes over its old session, whose connection is
  :meth:`displaced <Connection.displace>`;
- output: bytes are written by an :class:`~chat.session.output.Output`,
  at once where possible, and the connection is cut when more than
  ``--sendq`` bytes wait for a peer that does not read; what the member is
  told goes through its outbox (:meth:`Connection.tell`), in order;
- flood pacing (:class:`~chat.session.pacing.FloodPacing`), for the front
  end to ask before each line;
- closing, bounded by ``--close-timeout``, and the goodbye when the server
  stops;
- internal errors: the user is told, the log gets one line with where it
  happened, then at most one a minute for this connection.

The front end implements :class:`FrontEnd`: the member's
:class:`~chat.domain.outbox.Client` plus its wording for what this module
decides.
"""

from __future__ import annotations

import secrets
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import interfaces
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionLost as ConnectionLostError
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.domain.errors import BannedError, WrongPasswordError
from chat.domain.events import Batch, ConnectionLost, LeaveReason, Reconnected, SendQueueExceeded
from chat.domain.outbox import Client
from chat.domain.registry import LOBBY, Member
from chat.session.admission import Ticket
from chat.session.login import Arrival, ChatSession, IChatSession, avatar_session
from chat.session.output import Output
from chat.session.pacing import FloodPacing
from chat.session.server import ChatServer
from chat.text import fold

log = Logger()

ERROR_LOG_INTERVAL = 60.0
"""Seconds between two log lines about internal errors of one connection."""


class FrontEnd(Client, Protocol):
    """A front end's side of a connection: the member's client, and its own wording."""

    def handshake_expired(self, seconds: float) -> None:
        """Say that no login came within ``seconds`` (the connection closes next)."""

    def internal_error(self) -> None:
        """Say that the server could not carry out what was just asked, and carries on."""

    def stopping(self) -> None:
        """Say goodbye: the server stops (the connection closes next)."""


def one_line_traceback(failure: Failure) -> str:
    """The error and where it happened, innermost call last, on one line."""
    frames = traceback.extract_tb(failure.getTracebackObject())
    where = " > ".join(
        f"{frame.name} at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" for frame in frames
    )
    return f"{failure.value.__class__.__name__}: {failure.getErrorMessage()} (in {where})"


_CONNECTION_LOST = ConnectionLost()
"""Why a member leaves unless told otherwise (one for every connection: it has no fields)."""


def _discard(data: bytes) -> None:
    """What a connection that is not open does with bytes written to it."""


class Connection:
    """The life of one connection, from admission to its end."""

    def __init__(self, server: ChatServer, front: FrontEnd, ticket: Ticket) -> None:
        self.server = server
        self.front = front
        self.ticket = ticket
        self.config = server.config
        self.clock = server.clock
        self.peer = ticket.address
        self.session: ChatSession | None = None
        self.pacing = FloodPacing(self.config.flood_rate, self.config.flood_burst, self.clock)
        self.output: Output | None = None
        self.write: Callable[[bytes], None] = _discard
        """Send bytes after everything written before: :meth:`Output.writer`'s while the
        connection is open, nothing before it starts or once it closes."""
        self.transport: Any = None
        self.closing = False
        self.leave_reason: LeaveReason = _CONNECTION_LOST
        self._on_lost: Deferred[None] | None = None
        self._gone = False
        self.keep_token: str | None = None
        self._handshake: IDelayedCall | None = None
        self._flood_wake: IDelayedCall | None = None
        self._close_deadline: IDelayedCall | None = None
        self._errors_logged_at: float | None = None
        self._errors_not_logged = 0

    @property
    def member(self) -> Member | None:
        return None if self.session is None else self.session.member

    @property
    def on_lost(self) -> Deferred[None]:
        """Fires once the connection is gone. Made when first asked for (when the server
        stops): a Deferred and its list for each of thousands of connections would be
        two more objects each for every garbage collection to visit."""
        if self._on_lost is None:
            self._on_lost = succeed(None) if self._gone else Deferred()
        return self._on_lost

    # Life

    def start(self, transport: Any) -> None:
        """The connection is made: count it, watch its output, start the handshake clock."""
        self.transport = transport
        self.server.connections.add(self)
        if interfaces.ITCPTransport.providedBy(transport):
            transport.setTcpKeepAlive(True)
            # Chat lines are small and wanted at once: no Nagle delay.
            transport.setTcpNoDelay(True)
        self.output = Output(transport, self.config.sendq, self._overflowed)
        self.write = self.output.writer()
        self._handshake = self.clock.callLater(self.config.handshake_timeout, self._expired)

    def lost(self) -> None:
        """The connection is gone: leave the chat, give the ticket back."""
        closed_by_peer, self.closing = not self.closing, True
        self.write = _discard
        for call in (self._handshake, self._flood_wake, self._close_deadline):
            if call is not None and call.active():
                call.cancel()
        if self._errors_not_logged:
            log.error(
                "{peer}: {count} more internal errors, not logged one by one",
                peer=self.peer, count=self._errors_not_logged,
            )
        session, self.session = self.session, None
        if session is not None and not session.ended:
            log.info("{nick} left: {reason!r}", nick=session.member.nick, reason=self.leave_reason)
            session.leave(self.leave_reason)
        elif session is None and closed_by_peer:
            log.info("{peer} left without choosing a nickname", peer=self.peer)
        self.server.connections.discard(self)
        self.server.admission.release(self.ticket)
        self._gone = True
        if self._on_lost is not None:
            self._on_lost.callback(None)

    def banned(self) -> BannedError | None:
        """Why the peer may not connect at all (a server-wide ban of its address), if so:
        the front end says it, then closes."""
        ban = self.server.moderator.banned_address(self.peer)
        if ban is None:
            return None
        log.info("{peer} refused: its address is banned", peer=self.peer)
        return BannedError(None, ban.reason, ban.until)

    def _expired(self) -> None:
        self._handshake = None
        self.front.handshake_expired(self.config.handshake_timeout)
        log.info("{peer} timed out in the handshake", peer=self.peer)
        self.close()

    # Logging in

    def log_in(
        self, nick: str, room: str | None = LOBBY, after: int | None = None,
        resume_token: str | None = None,
    ) -> Deferred[ChatSession]:
        """Join the chat as ``nick``, in ``room`` (None: in no room); fails with the
        domain's refusal (:class:`~chat.domain.errors.ChatError`) if it cannot."""
        try:
            session = self.log_in_now(nick, room, after, resume_token)
        except Exception:
            return fail()
        if isinstance(session, Deferred):
            return session
        return succeed(session)

    def log_in_now(
        self, nick: str, room: str | None = LOBBY, after: int | None = None,
        resume_token: str | None = None,
    ) -> ChatSession | Deferred[ChatSession]:
        """:meth:`log_in`, answered at once where no step must wait (the usual guest): the
        session, or the refusal raised; else a Deferred, as :meth:`log_in`."""
        arrival = Arrival(self.front, room, after, resume_token, self.keep_token, self.peer)
        session = self.server.log_in_guest(nick, arrival)
        if isinstance(session, ChatSession):
            return self._logged_in(session)
        return session.addCallback(self._logged_in)

    def log_in_with_password(
        self, nick: str, password: str, room: str | None = LOBBY, after: int | None = None,
        resume_token: str | None = None,
    ) -> Deferred[ChatSession]:
        """Join the chat as the account ``nick``; fails with
        :class:`~chat.domain.errors.WrongPasswordError` (or another refusal).

        After wrong passwords the attempt waits as the server's throttle says
        (per account and per address), so that guessing is slow; it is logged.
        """
        key, throttle = fold(nick), self.server.throttle
        wait = throttle.wait(key, self.peer)
        if wait > 0:
            log.info("{peer}: login as {nick} waits {wait:.1f}s after wrong passwords",
                     peer=self.peer, nick=nick, wait=wait)
        arrival = Arrival(self.front, room, after, resume_token, self.keep_token, self.peer)
        credentials = UsernamePassword(nick.encode("utf-8"), password.encode("utf-8"))

        def attempt() -> Deferred[Any]:
            if self.closing:
                return fail(ConnectionLostError())
            return self.server.portal.login(credentials, arrival, IChatSession)

        def wrong(failure: Failure) -> Failure:
            if failure.check(UnauthorizedLogin):
                throttle.failed(key, self.peer)
                log.info("{peer}: wrong password for {nick}", peer=self.peer, nick=nick)
                return Failure(WrongPasswordError(nick))
            return failure

        def right(session: ChatSession) -> ChatSession:
            throttle.succeeded(key, self.peer)
            return session

        login: Deferred[Any] = deferLater(self.clock, wait, attempt) if wait > 0 else attempt()
        return login.addErrback(wrong).addCallback(avatar_session).addCallback(
            self._logged_in
        ).addCallback(right)

    def _logged_in(self, session: ChatSession) -> ChatSession:
        if self.closing:
            session.leave(ConnectionLost())
            return session
        self.session = session
        if self._handshake is not None and self._handshake.active():
            self._handshake.cancel()
        self._handshake = None
        log.info("{nick} joined from {peer}", nick=session.member.nick, peer=self.peer)
        return session

    def token(self) -> str:
        """The resume token of this client: its session's, or one kept for the login."""
        if self.session is not None:
            return self.session.token()
        if self.keep_token is None:
            self.keep_token = secrets.token_urlsafe(12)
        return self.keep_token

    # Output


    def tell(self, batch: Batch) -> None:
        """Show ``batch`` to the user after everything the chat told it before."""
        member = self.member
        if member is None:
            self.front.deliver(batch)
        else:
            member.outbox.put(batch)

    def _overflowed(self) -> None:
        log.info("{peer} cut off: send queue over {sendq} bytes", peer=self.peer,
                 sendq=self.config.sendq)
        self.cut(SendQueueExceeded(self.config.sendq))

    # Pacing

    def wake_after_flood(self, resume: Callable[[], None]) -> None:
        """Call ``resume`` once the pacing has a token again, unless the connection closes."""
        if self._flood_wake is None:
            self._flood_wake = self.clock.callLater(self.pacing.wait(), self._woken, resume)

    def _woken(self, resume: Callable[[], None]) -> None:
        self._flood_wake = None
        if not self.closing:
            resume()

    # Ending

    def close(self) -> None:
        """Close once everything written so far has been sent, or abort after
        ``close_timeout`` seconds (a peer that does not read, or a TLS handshake
        that never comes, would otherwise hold the connection for ever)."""
        if self.closing:
            return
        self.closing = True
        self._stop_output()
        self.transport.loseConnection()
        self._close_deadline = self.clock.callLater(
            self.config.close_timeout, self.transport.abortConnection
        )

    def cut(self, reason: LeaveReason) -> None:
        """Drop the connection now, without waiting for output to drain."""
        self.leave_reason = reason
        self.closing = True
        self._stop_output()
        self.transport.abortConnection()

    def quit(self, reason: LeaveReason) -> None:
        """Leave for ``reason`` (the front end has said goodbye), then close."""
        self.leave_reason = reason
        self.close()

    def displace(self) -> None:
        """Leave the chat because the same client came back on a new connection."""
        if self.session is not None:
            self.session.leave(Reconnected())
        self.cut(Reconnected())

    def shut_down(self) -> None:
        """Say goodbye because the server stops, then close."""
        self.front.stopping()
        self.close()

    def _stop_output(self) -> None:
        self.write = _discard
        if self.output is not None:
            self.output.stop()

    # Errors

    def internal_error(self, failure: Failure) -> None:
        """Tell the user, and log it: the first time with where it happened, then at
        most once a minute for this connection, with how many were not logged."""
        self.front.internal_error()
        now = self.clock.seconds()
        if self._errors_logged_at is not None and now - self._errors_logged_at < ERROR_LOG_INTERVAL:
            self._errors_not_logged += 1
            return
        count = self._errors_not_logged
        log.error(
            "{peer}: internal error on a line{not_logged}: {error}",
            peer=self.peer, error=one_line_traceback(failure),
            not_logged=f" ({count} more since the last one logged)" if count else "",
        )
        self._errors_logged_at, self._errors_not_logged = now, 0
