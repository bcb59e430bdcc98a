"""The line protocol: an adapter between a byte stream and the chat domain.

:class:`ChatProtocol` frames lines, filters telnet commands, decodes and
cleans text, runs the nickname handshake and the commands
(:mod:`chat.line.commands`), paces floods and watches its own output
queue. Who receives what is decided by the
:class:`~chat.domain.registry.Registry`; this module only turns lines into
calls on it, and its events and errors into lines with
:mod:`chat.line.render`.
"""

from __future__ import annotations

import secrets
import socket
import traceback
from collections import Counter
from typing import Any

from twisted.internet import interfaces, tcp
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.internet.protocol import Protocol, ServerFactory, connectionDone
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.config import ServerConfig
from chat.domain.errors import ChatError
from chat.domain.events import (
    Batch,
    ConnectionLost,
    LeaveReason,
    Reconnected,
    SendQueueExceeded,
)
from chat.domain.registry import LOBBY, Member, Registry, room_name
from chat.line.commands import Commands, UsageError
from chat.line.render import (
    ERROR,
    NOTICE,
    describe_error,
    describe_reason,
    encode_batch,
    encode_line,
)
from chat.telnet import TelnetFilter
from chat.text import NICK_MAX, clean, decode, number, relayable

log = Logger()

GREETING = "Welcome to tcpchat."
PROMPT = f"Please choose a nickname (1-{NICK_MAX} letters, digits, _ or -):"
CR = b"\r"
COMMANDS_BEFORE_JOINING = frozenset({"help", "quit", "ids", "resume"})
SHUTDOWN_NOTICE = "The server is shutting down. Goodbye!"
INTERNAL_ERROR = "internal error: the server could not carry out that line, and carries on"
ERROR_LOG_INTERVAL = 60.0
"""Seconds between two log lines about internal errors of one connection."""
HISTORY_LINES_PER_TOKEN = 10
"""History lines shown that cost as much flood pacing as one line typed."""


def _plain_tcp_socket(transport: Any) -> socket.socket | None:
    """The socket under a plain TCP transport, which may be written to
    directly while the transport's own buffer is empty; None for TLS, unix
    sockets and anything else."""
    if isinstance(transport, tcp.Connection) and hasattr(transport, "_tempDataLen"):
        return transport.socket
    return None


def one_line_traceback(failure: Failure) -> str:
    """The error and where it happened, innermost call last, on one line."""
    frames = traceback.extract_tb(failure.getTracebackObject())
    where = " > ".join(
        f"{frame.name} at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" for frame in frames
    )
    return f"{failure.value.__class__.__name__}: {failure.getErrorMessage()} (in {where})"


def describe_peer(address: IAddress) -> str:
    """A short form of a peer address for logs and per-address limits."""
    host = getattr(address, "host", None)
    if host is None:
        return "local"
    return str(host)


@implementer(interfaces.IPushProducer)
class _OutputWatch:
    """Told by the transport when its write buffer fills and drains."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: ChatProtocol) -> None:
        self._protocol = protocol

    def pauseProducing(self) -> None:
        self._protocol.output_blocked = True

    def resumeProducing(self) -> None:
        self._protocol.output_blocked = False
        self._protocol.queued = 0

    def stopProducing(self) -> None:
        self._protocol.output_blocked = False


@implementer(interfaces.IHalfCloseableProtocol)
class ChatProtocol(Commands, LineReceiver, TimeoutMixin):
    """One connection: a person on telnet, nc or the client, or a program."""

    delimiter = b"\r\n"
    transport: Any

    def __init__(self, factory: ChatFactory) -> None:
        self.factory = factory
        self.registry = factory.registry
        self.config = factory.config
        self.clock = factory.clock
        self.callLater = factory.clock.callLater  # type: ignore[method-assign,assignment]
        self.MAX_LENGTH = self.config.max_line
        self.member: Member | None = None
        self.peer = "unknown"
        self.output_blocked = False
        self.queued = 0
        self._telnet = TelnetFilter()
        self._discarding = False
        self._input_ended = False
        self._closing = False
        self._leave_reason: LeaveReason = ConnectionLost()
        self._tokens = float(self.config.flood_burst)
        self._tokens_at = self.clock.seconds()
        self._flood_resume: IDelayedCall | None = None
        self.on_lost: Deferred[None] = Deferred()
        self._socket: socket.socket | None = None
        self.with_ids = False
        self.resume_token: str | None = None
        self._resume: tuple[str, int] | None = None
        self._claimed_token: str | None = None
        self._close_deadline: IDelayedCall | None = None
        self._errors_logged_at: float | None = None
        self._errors_not_logged = 0

    def member_or_none(self) -> Member | None:
        return self.member

    # Connection life

    def connectionMade(self) -> None:
        self.peer = describe_peer(self.transport.getPeer())
        self.factory.connection_made(self)
        if interfaces.ITCPTransport.providedBy(self.transport):
            self.transport.setTcpKeepAlive(True)
            # Chat lines are small and wanted at once: no Nagle delay.
            self.transport.setTcpNoDelay(True)
        self._socket = _plain_tcp_socket(self.transport)
        self.transport.registerProducer(_OutputWatch(self), True)
        greeting = (GREETING, *self.config.motd, PROMPT)
        self.write(b"".join(encode_line(NOTICE + line) for line in greeting))
        self.setTimeout(self.config.handshake_timeout)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.setTimeout(None)
        closed_by_peer, self._closing = not self._closing, True
        for call in (self._flood_resume, self._close_deadline):
            if call is not None and call.active():
                call.cancel()
        if self._errors_not_logged:
            log.error(
                "{peer}: {count} more internal errors, not logged one by one",
                peer=self.peer, count=self._errors_not_logged,
            )
        if self.member is not None:
            log.info(
                "{nick} left ({reason})",
                nick=self.member.nick, reason=describe_reason(self._leave_reason),
            )
            self.registry.leave(self.member, self._leave_reason)
        elif closed_by_peer:
            log.info("{peer} left without choosing a nickname", peer=self.peer)
        self.factory.connection_lost(self)
        self.on_lost.callback(None)

    def timeoutConnection(self) -> None:
        seconds = self.config.handshake_timeout
        self.refuse(f"no nickname chosen within {seconds:g} seconds; closing the connection")
        log.info("{peer} timed out in the handshake", peer=self.peer)
        self.close()

    def close(self) -> None:
        """Close once everything written so far has been sent, or abort after
        ``close_timeout`` seconds (a peer that does not read, or a TLS handshake
        that never comes, would otherwise hold the connection for ever)."""
        if self._closing:
            return
        self._closing = True
        self.transport.unregisterProducer()
        self.transport.loseConnection()
        self._close_deadline = self.clock.callLater(
            self.config.close_timeout, self.transport.abortConnection
        )

    def cut(self, reason: LeaveReason) -> None:
        """Drop the connection now, without waiting for output to drain."""
        self._leave_reason = reason
        self._closing = True
        self.transport.unregisterProducer()
        self.transport.abortConnection()

    def quit(self, reason: LeaveReason) -> None:
        self._leave_reason = reason
        self.notify("Bye")
        self.close()

    def shut_down(self) -> None:
        """Say goodbye because the server stops, then close."""
        self.notify(SHUTDOWN_NOTICE)
        self.member = None
        self.close()

    # Output

    def write(self, data: bytes) -> None:
        """Send bytes, cutting off a client whose queue grows past the limit."""
        if self._closing or not data:
            return
        transport = self.transport
        if self._socket is not None and not transport.dataBuffer and not transport._tempDataLen:
            # Nothing waits in Twisted's buffer, so sending now keeps the order
            # and spares the reactor a writability round trip per write.
            try:
                sent = self._socket.send(data)
            except OSError:
                sent = 0  # the transport will meet the error and report it
            if sent == len(data):
                return
            data = data[sent:]
        transport.write(data)
        if self.output_blocked:
            self.queued += len(data)
            if self.queued > self.config.sendq:
                log.info("{peer} cut off: send queue over {sendq} bytes", peer=self.peer,
                         sendq=self.config.sendq)
                self.cut(SendQueueExceeded(self.config.sendq))

    def deliver(self, batch: Batch) -> None:
        self.write(encode_batch(batch, self.with_ids))

    def notify(self, text: str) -> None:
        self.registry.flush()  # a reply never overtakes what was said before it
        self.write(encode_line(NOTICE + text))

    def refuse(self, text: str) -> None:
        self.registry.flush()
        self.write(encode_line(ERROR + text))

    # Input

    def dataReceived(self, data: bytes) -> None:
        filtered = self._telnet.feed(data)
        self.write(filtered.reply)
        if filtered.interrupted:
            # Ctrl-C drops the line being typed; complete lines waiting for
            # the flood pacing were sent before it and stay.
            self._buffer = self._buffer[: self._buffer.rfind(b"\n") + 1]
            self._discarding = False
        if filtered.are_you_there:
            self.notify("Yes, tcpchat is here.")
        data = filtered.data
        if self._discarding:
            end = data.find(b"\n")
            self._discarding = end < 0
            data = b"" if self._discarding else data[end + 1 :]
        self._buffer += data
        self._read_lines()

    def _read_lines(self) -> None:
        limit = self.config.max_line
        if not self.paused and not self._closing and b"\n" in self._buffer:
            lines = self._buffer.split(b"\n")
            self._buffer = lines.pop()
            for index, line in enumerate(lines):
                if self._closing:
                    return
                if self.paused or not self._take_token():
                    self._buffer = b"\n".join(lines[index:]) + b"\n" + self._buffer
                    self._pause_for_flood()
                    break
                if len(line) > limit and len(line.removesuffix(CR)) > limit:
                    self._refuse_long_line(f"{len(line.removesuffix(CR))} bytes")
                    continue
                self.lineReceived(line)
        # The unfinished line after the last LF may hold the whole limit and
        # then the CR of its CRLF; past that it is refused and, up to its LF,
        # discarded. Complete lines waiting for the flood pacing are kept.
        start = self._buffer.rfind(b"\n") + 1
        unfinished = len(self._buffer) - start
        if unfinished > limit and (unfinished > limit + 1 or not self._buffer.endswith(CR)):
            self._buffer = self._buffer[:start]
            self._discarding = True
            self._refuse_long_line(f"more than {limit} bytes")
        if self._input_ended and not self.paused:
            self.close()

    def readConnectionLost(self) -> None:
        """The peer has sent all it will (``nc -N``): answer it, then close."""
        self._input_ended = True
        self._read_lines()

    def writeConnectionLost(self) -> None:
        """The peer reads no more; what it still sends is handled as usual."""

    def _refuse_long_line(self, size: str) -> None:
        self.refuse(
            f"line too long ({size}; the limit is {self.config.max_line} bytes): it was not sent"
        )

    def _take_token(self) -> bool:
        if self.config.flood_rate <= 0:
            return True
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def _refill(self) -> None:
        now = self.clock.seconds()
        self._tokens = min(
            float(self.config.flood_burst),
            self._tokens + (now - self._tokens_at) * self.config.flood_rate,
        )
        self._tokens_at = now

    def charge_history(self, shown: int) -> None:
        """History shown costs flood tokens, so that asking for it over and over is
        paced like typing: the next lines wait until the tokens are back."""
        if self.config.flood_rate > 0 and shown:
            self._refill()
            self._tokens -= shown / HISTORY_LINES_PER_TOKEN

    def _pause_for_flood(self) -> None:
        if self.paused:
            return
        self.pauseProducing()
        # At least a millisecond: a float shortfall of 1e-17 tokens must not
        # schedule a wake-up at the very same instant, over and over.
        wait = max((1 - self._tokens) / self.config.flood_rate, 0.001)
        self._flood_resume = self.clock.callLater(wait, self._resume_after_flood)

    def _resume_after_flood(self) -> None:
        self._flood_resume = None
        if not self._closing:
            self.resumeProducing()

    def lineReceived(self, line: bytes) -> None:
        """Handle one line; whatever goes wrong, the connection stays open."""
        try:
            self._handle_line(line)
        except Exception:
            self._internal_error(Failure())

    def _internal_error(self, failure: Failure) -> None:
        """Tell the user, and log it: the first time with where it happened, then at
        most once a minute for this connection, with how many were not logged."""
        # Written straight, not through the registry, which may be what failed.
        self.write(encode_line(ERROR + INTERNAL_ERROR))
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

    def _handle_line(self, line: bytes) -> None:
        """Nicknames and commands are read as typed; what is relayed is made relayable."""
        typed = decode(line.removesuffix(CR))
        if self.member is None:
            if clean(typed).strip():
                self._choose_nickname(typed.strip(" \t"))
        elif typed.startswith("/") and not typed.startswith("//"):
            self.run_command(typed[1:])
        else:
            text = relayable(typed.removeprefix("/"))
            if text.strip():
                self.registry.say(self.member, text)

    def _choose_nickname(self, nick: str) -> None:
        """Join under ``nick``, exactly as typed, or run a command allowed before joining."""
        if nick.startswith("/"):
            name = nick[1:].partition(" ")[0].lower()
            if name in COMMANDS_BEFORE_JOINING:
                self.run_command(nick[1:])
                return
        room, after = self._resume or (LOBBY, None)
        self._take_over(nick)
        try:
            self.member = self.registry.join(nick, self, room, after)
        except ChatError as error:
            self.refuse(describe_error(error))
            self.notify(PROMPT)
            return
        if self._claimed_token is not None:
            self.resume_token = self._claimed_token
        self.setTimeout(None)
        log.info("{nick} joined from {peer}", nick=nick, peer=self.peer)

    def _take_over(self, nick: str) -> None:
        """Replace a connection of this nickname that the server still holds
        (its peer dropped without the server noticing), if the new one proves,
        by its resume token, that it is the same client."""
        existing = self.registry.find(nick)
        if existing is None or self._claimed_token is None:
            return
        old = existing.client
        if isinstance(old, ChatProtocol) and old.resume_token == self._claimed_token:
            log.info("{nick} resumes from {peer}", nick=existing.nick, peer=self.peer)
            old.hand_over()

    def hand_over(self) -> None:
        """Leave the chat because the same client came back on a new connection."""
        member, self.member = self.member, None
        if member is not None:
            self.registry.leave(member, Reconnected())
        self.cut(Reconnected())

    def command_ids(self, args: str) -> None:
        """/ids [on|off]: puts @id=N before each message, for programs that resume"""
        if args.lower() not in ("", "on", "off"):
            raise UsageError
        self.with_ids = args.lower() != "off"
        if not self.with_ids:
            self.notify("message ids off")
            return
        if self.resume_token is None:
            self.resume_token = secrets.token_urlsafe(12)
        self.notify(f"message ids on; resume token {self.resume_token}")

    def command_resume(self, args: str) -> None:
        """/resume ROOM ID [TOKEN]: (re)joins ROOM showing every message after message ID"""
        words = args.split()
        after = number(words[1]) if len(words) in (2, 3) else None
        if after is None:
            raise UsageError
        room = room_name(words[0])
        self.with_ids = True
        if self.member is None:
            self._resume = (room, after)
            self._claimed_token = clean(words[2]) if len(words) == 3 else None
            self.notify(f"you will join {room} after message {after}")
        else:
            self.charge_history(self.registry.move(self.member, room, after))


class _Refusal(Protocol):
    """Tells a connection the server cannot take it, then closes it, or aborts it
    after ``close_timeout`` seconds if that does not happen (TLS without a handshake)."""

    transport: Any

    def __init__(self, reason: str, clock: IReactorTime, close_timeout: float) -> None:
        self.reason = reason
        self.clock = clock
        self.close_timeout = close_timeout
        self._deadline: IDelayedCall | None = None

    def connectionMade(self) -> None:
        self.transport.write(encode_line(ERROR + self.reason))
        self.transport.loseConnection()
        self._deadline = self.clock.callLater(self.close_timeout, self.transport.abortConnection)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()


class ChatFactory(ServerFactory):
    """Builds a :class:`ChatProtocol` for each connection, within the limits."""

    noisy = False

    def __init__(self, registry: Registry, config: ServerConfig, clock: IReactorTime) -> None:
        self.registry = registry
        self.config = config
        self.clock = clock
        self.connections: set[ChatProtocol] = set()
        self.per_address: Counter[str] = Counter()

    def buildProtocol(self, addr: IAddress | None) -> Any:
        limit = self.config.max_clients
        if limit and len(self.connections) >= limit:
            log.warn("refused a connection: {limit} clients already", limit=limit)
            return self._refusal(f"the server is full ({limit} connections); try again later")
        peer = describe_peer(addr) if addr is not None else "local"
        per_address = self.config.max_per_ip
        if per_address and peer != "local" and self.per_address[peer] >= per_address:
            log.warn("refused {peer}: {limit} connections already", peer=peer, limit=per_address)
            return self._refusal(
                f"too many connections from your address ({per_address}); try again later"
            )
        return ChatProtocol(self)

    def _refusal(self, reason: str) -> _Refusal:
        return _Refusal(reason, self.clock, self.config.close_timeout)

    def connection_made(self, protocol: ChatProtocol) -> None:
        self.connections.add(protocol)
        self.per_address[protocol.peer] += 1

    def connection_lost(self, protocol: ChatProtocol) -> None:
        if protocol in self.connections:
            self.connections.remove(protocol)
            self.per_address[protocol.peer] -= 1
            if not self.per_address[protocol.peer]:
                del self.per_address[protocol.peer]
