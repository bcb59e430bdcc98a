"""The line protocol: the front end for telnet, nc and the bundled client.

:class:`LineProtocol` frames lines, filters telnet commands
(:mod:`chat.telnet`), decodes and cleans text, reads the nickname and the
slash commands (:mod:`chat.line.commands`) and renders what the member is
shown as lines (:mod:`chat.line.render`). Everything else about the
connection (admission, login, pacing, the send queue, closing) is its
:class:`~chat.session.connection.Connection`'s, and who receives what is
the :class:`~chat.domain.registry.Registry`'s.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from twisted.internet import interfaces
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IAddress
from twisted.internet.protocol import ServerFactory, connectionDone
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.domain.errors import ChatError, PasswordRequiredError, WrongPasswordError
from chat.domain.events import Batch, Error, LeaveReason, Notice
from chat.domain.registry import LOBBY, Member, room_name
from chat.line.commands import Commands, UsageError
from chat.line.render import ERROR, NOTICE, describe_error, encode_batch, encode_line
from chat.session.admission import Refusal, ServerFull, Ticket
from chat.session.connection import Connection
from chat.session.login import ChatSession
from chat.session.refusal import RefusedConnection
from chat.session.server import ChatServer
from chat.telnet import TelnetFilter
from chat.text import NICK_MAX, clean, decode, number, relayable

GREETING = "Welcome to tcpchat."
PROMPT = f"Please choose a nickname (1-{NICK_MAX} letters, digits, _ or -):"
CR = b"\r"
COMMANDS_BEFORE_JOINING = frozenset({"help", "quit", "ids", "resume"})
PASSWORD_PROMPT_COMMANDS = ("/quit ", "/nick ")
"""What a line at the password prompt may start with to be read as a command."""
SHUTDOWN_NOTICE = "The server is shutting down. Goodbye!"
INTERNAL_ERROR = "internal error: the server could not carry out that line, and carries on"
HISTORY_LINES_PER_TOKEN = 10
"""History lines shown that cost as much flood pacing as one line typed."""


@implementer(interfaces.IHalfCloseableProtocol)
class LineProtocol(Commands, LineReceiver):
    """One connection: a person on telnet, nc or the client, or a program."""

    delimiter = b"\r\n"
    transport: Any

    def __init__(self, server: ChatServer, ticket: Ticket) -> None:
        self.server = server
        self.registry = server.registry
        self.config = server.config
        self.connection = Connection(server, self, ticket)
        self.MAX_LENGTH = self.config.max_line
        self.with_ids = False
        self._telnet = TelnetFilter()
        self._discarding = False
        self._input_ended = False
        self._resume: tuple[str, int] | None = None
        self._password_for: str | None = None
        """The registered nickname whose password the next line is."""
        self._claimed_token: str | None = None

    def member_or_none(self) -> Member | None:
        return self.connection.member

    # Connection life

    def connectionMade(self) -> None:
        self.connection.start(self.transport)
        banned = self.connection.banned()
        if banned is not None:
            self.refuse(describe_error(banned))
            self.connection.close()
            return
        self.connection.write(greeting(self.config.motd))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.connection.lost()

    # The member's client

    def deliver(self, batch: Batch) -> None:
        self.connection.write(encode_batch(batch, self.with_ids))

    def displace(self) -> None:
        self.connection.displace()

    def remove(self, reason: LeaveReason) -> None:
        self.connection.quit(reason)

    def handshake_expired(self, seconds: float) -> None:
        self.refuse(f"no nickname chosen within {seconds:g} seconds; closing the connection")

    def internal_error(self) -> None:
        # Written straight, not through the chat, which may be what failed.
        self.connection.write(encode_line(ERROR + INTERNAL_ERROR))

    def stopping(self) -> None:
        self.notify(SHUTDOWN_NOTICE)

    # Answers

    def notify(self, text: str) -> None:
        self.connection.tell(Batch((Notice(text),)))

    def refuse(self, text: str) -> None:
        self.connection.tell(Batch((Error(text),)))

    def quit(self, reason: LeaveReason) -> None:
        self.notify("Bye")
        self.connection.quit(reason)

    # Input

    def dataReceived(self, data: bytes) -> None:
        filtered = self._telnet.feed(data)
        if filtered.reply:
            self.connection.write(filtered.reply)
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
        closing = self.connection
        if not self.paused and not closing.closing and b"\n" in self._buffer:
            lines = self._buffer.split(b"\n")
            self._buffer = lines.pop()
            for index, line in enumerate(lines):
                if closing.closing:
                    return
                if self.paused or not self.connection.pacing.take():
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
            self.connection.close()

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

    def charge_history(self, shown: int) -> None:
        """History shown costs flood tokens, so that asking for it over and over is
        paced like typing: the next lines wait until the tokens are back."""
        self.connection.pacing.charge(shown / HISTORY_LINES_PER_TOKEN)

    def _pause_for_flood(self) -> None:
        if self.paused:
            return
        self.pauseProducing()
        self.connection.wake_after_flood(self.resumeProducing)

    def lineReceived(self, line: bytes) -> None:
        """Handle one line; whatever goes wrong, the connection stays open."""
        try:
            self._handle_line(line)
        except Exception:
            self.connection.internal_error(Failure())

    def _handle_line(self, line: bytes) -> None:
        """Nicknames and commands are read as typed; what is relayed is made relayable."""
        typed = decode(line.removesuffix(CR))
        session = self.connection.session
        member = None if session is None else session.member
        if member is None:
            if self._password_for is not None and not _leaves_the_password_prompt(typed):
                self._give_password(self._password_for, typed)
            elif clean(typed).strip():
                self._choose_nickname(typed.strip(" \t"))
        elif typed.startswith("/") and not typed.startswith("//"):
            self.run_command(typed[1:])
        else:
            text = relayable(typed.removeprefix("/"))
            if text.strip():
                try:
                    self.server.moderator.check_speech(member)
                    self.registry.say(member, text)
                except ChatError as error:
                    self.refuse(describe_error(error))

    def _choose_nickname(self, nick: str) -> None:
        """Join under ``nick``, exactly as typed, or run a command allowed before joining."""
        if nick.startswith("/"):
            name, _, rest = nick[1:].partition(" ")
            if name.lower() == "nick" and self._password_for is not None and rest.strip():
                self._stop_asking_for_password()
                nick = rest.strip(" \t")
            elif name.lower() in COMMANDS_BEFORE_JOINING:
                self.run_command(nick[1:])
                return
        if self.connection.session is not None:
            return
        room, after = self._resume or (LOBBY, None)
        try:
            login = self.connection.log_in_now(nick, room, after, self._claimed_token)
        except Exception:
            self._not_joined(Failure(), nick)
            return
        if isinstance(login, ChatSession):
            self._joined(login)
        else:
            self._await_login(nick, login)

    def _give_password(self, nick: str, password: str) -> None:
        if not password:
            self._ask_for_password(nick)
            return
        room, after = self._resume or (LOBBY, None)
        login = self.connection.log_in_with_password(
            nick, password, room, after, self._claimed_token
        )
        self._await_login(nick, login)

    def _await_login(self, nick: str, login: Deferred[ChatSession]) -> None:
        """Read no more lines until the login is done: they come after the welcome."""
        login.addCallbacks(self._joined, self._not_joined, errbackArgs=(nick,))
        # Not ``login.called``: a login that has fired may still wait on a Deferred one of
        # its steps returned (a password checked on the accounts' thread).
        finished = paused = False

        def done(_: object) -> None:
            nonlocal finished
            finished = True
            if paused and not self.connection.closing:
                self.resumeProducing()

        login.addBoth(done)
        if not finished:
            paused = True
            self.pauseProducing()

    def _joined(self, session: ChatSession) -> None:
        self._stop_asking_for_password()

    def _not_joined(self, failure: Failure, nick: str) -> None:
        if failure.check(PasswordRequiredError, WrongPasswordError):
            if failure.check(WrongPasswordError):
                self.refuse(describe_error(failure.value))  # type: ignore[arg-type]
            self._ask_for_password(nick)
        elif failure.check(ChatError):
            self._stop_asking_for_password()
            self.refuse(describe_error(failure.value))  # type: ignore[arg-type]
            self.notify(PROMPT)
        elif not failure.check(ConnectionLost):
            self.connection.internal_error(failure)

    def _ask_for_password(self, nick: str) -> None:
        """The password prompt; a telnet client is asked not to show what is typed."""
        self._password_for = nick
        self.connection.write(self._telnet.hide_input())
        visible = "" if self._telnet.speaks_telnet else " (it shows as you type)"
        self.notify(f"{nick} is registered: type its password{visible}, or /quit")

    def _stop_asking_for_password(self) -> None:
        if self._password_for is not None:
            self._password_for = None
            self.connection.write(self._telnet.show_input())

    def command_ids(self, args: str) -> None:
        """/ids [on|off]: puts @id=N before each message, for programs that resume"""
        if args.lower() not in ("", "on", "off"):
            raise UsageError
        self.with_ids = args.lower() != "off"
        if not self.with_ids:
            self.notify("message ids off")
            return
        self.notify(f"message ids on; resume token {self.connection.token()}")

    def command_resume(self, args: str) -> Deferred[None] | None:
        """/resume ROOM ID [TOKEN]: (re)joins ROOM showing every message after message ID"""
        words = args.split()
        after = number(words[1]) if len(words) in (2, 3) else None
        if after is None:
            raise UsageError
        room = room_name(words[0])
        self.with_ids = True
        member = self.connection.member
        if member is None:
            self._resume = (room, after)
            self._claimed_token = clean(words[2]) if len(words) == 3 else None
            self.notify(f"you will join {room} after message {after}")
            return None
        session = self._session()
        self.server.moderator.check_room(session, room)
        return self.registry.move(member, room, after).addCallback(self.charge_history)


class LineFactory(ServerFactory):
    """Builds a :class:`LineProtocol` for each connection the server admits."""

    noisy = False

    def __init__(self, server: ChatServer) -> None:
        self.server = server

    def buildProtocol(self, addr: IAddress | None) -> Any:
        answer = self.server.admit(addr)
        if isinstance(answer, Ticket):
            return LineProtocol(self.server, answer)
        config = self.server.config
        return RefusedConnection(
            encode_line(ERROR + describe_refusal(answer)),
            self.server.clock, config.close_timeout,
        )


@cache
def greeting(motd: tuple[str, ...]) -> bytes:
    """The lines a new connection is greeted with, the message of the day between them:
    the same bytes for every connection of a server, made once."""
    return b"".join(encode_line(NOTICE + line) for line in (GREETING, *motd, PROMPT))


def describe_refusal(refusal: Refusal) -> str:
    """Why a connection is not served, as its one line says it."""
    if isinstance(refusal, ServerFull):
        return f"the server is full ({refusal.limit} connections); try again later"
    return f"too many connections from your address ({refusal.limit}); try again later"


def _leaves_the_password_prompt(typed: str) -> bool:
    """``/quit`` or ``/nick OTHER`` at the password prompt; anything else is the password."""
    lowered = typed.lower()
    return lowered == "/quit" or lowered.startswith(PASSWORD_PROMPT_COMMANDS)
