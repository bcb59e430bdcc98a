"""The IRC connection: registration, capabilities, SASL, pings and the limits.

:class:`IRCProtocol` frames lines (LF or CRLF, at most ``--max-line``
bytes, refused with ERR_INPUTTOOLONG and the connection kept), paces them
(``--flood``, through its :class:`~chat.session.connection.Connection`),
and registers the client: ``NICK``, ``USER``, optional ``PASS`` and
``CAP LS 302 / LIST / REQ / END`` (registration waits for ``CAP END``),
``AUTHENTICATE PLAIN`` against the accounts. Registering is logging in
to the chat in no room: an IRC user joins the channels it wants, the lobby
(``#lobby``) too. Once registered its commands are
:class:`~chat.irc.commands.IRCCommands`' and
:class:`~chat.irc.history.ChatHistoryCommand`'s; what it is shown is
rendered by its :class:`~chat.irc.render.Viewer`. Its USER name (as
``~user``) and realname are shown in its mask, WHO and WHOIS; a member of
another front end shows its nickname for both.

A SASL login happens before the registration ends, as IRCv3 wants it
(903 before ``CAP END``): the member joins then, and what it is shown
waits until the welcome has been sent.

A client that sends nothing for ``--irc-ping`` seconds is pinged, and
quits if it answers nothing within ``--irc-ping-timeout`` more. The server's
name is ``--irc-name``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IAddress, IDelayedCall
from twisted.internet.protocol import ServerFactory, connectionDone
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from chat import __version__
from chat.domain.errors import ChatError, WrongPasswordError
from chat.domain.events import Arrived, Batch, LeaveReason, Quit, Welcome
from chat.domain.registry import ROOM_MAX, Member, Registry
from chat.irc.commands import KICK_MAX, IRCCommands
from chat.irc.errors import refusal
from chat.irc.history import CHATHISTORY_MAX, ChatHistoryCommand
from chat.irc.render import SPOKEN, TOPIC_MAX, Viewer, only_speech
from chat.irc.wire import Wire, encode, line, mask, parse
from chat.line.protocol import describe_refusal
from chat.line.render import describe_error
from chat.session.admission import Ticket
from chat.session.connection import Connection
from chat.session.login import ChatSession
from chat.session.refusal import RefusedConnection
from chat.session.server import ChatServer
from chat.text import NICK_MAX, decode, fold, relayable

CAPABILITIES = ("account-tag", "away-notify", "batch", "draft/chathistory", "echo-message",
                "message-tags", "multi-prefix", "sasl", "server-time", "userhost-in-names")
"""IRCv3 capabilities the server offers (multi-prefix: ``@+`` for a voiced operator)."""
SASL_MECHANISMS = "PLAIN"
SASL_CHUNK = 400
USER_MAX = 10
"""Bytes of a USER name kept (ISUPPORT USERLEN); it is shown as ``~name``."""
ISUPPORT_PER_LINE = 12
BEFORE_REGISTRATION = frozenset({"CAP", "NICK", "USER", "PASS", "AUTHENTICATE", "PING",
                                 "PONG", "QUIT"})


class IRCProtocol(IRCCommands, ChatHistoryCommand, LineReceiver):
    """One IRC client's connection."""

    delimiter = b"\n"
    transport: Any
    roomless = True
    """Its member may be in no room: a kick takes it out of the channel, not to the lobby."""

    def __init__(self, server: ChatServer, ticket: Ticket) -> None:
        self.server = server
        self.registry: Registry = server.registry
        self.config = server.config
        self.connection = Connection(server, self, ticket)
        self.viewer = Viewer(self, self.config.irc_name)
        self.history_keep = self.config.history_keep
        self.wanted_nick: str | None = None
        self.user_given = False
        self.user = "*"
        """The USER name, as shown in masks (``~name``)."""
        self.realname = ""
        self.user_modes: set[str] = set()
        self.password: str | None = None
        self.negotiating = False
        self.registered = False
        self.logging_in = False
        self.sasl_account: str | None = None
        self._sasl_buffer: str | None = None
        """The AUTHENTICATE data gathered so far, while a PLAIN exchange is open."""
        self._held: list[Batch] | None = None
        """What a member logged in by SASL is shown before its welcome, kept till then."""
        self._discarding = False
        self._ping: IDelayedCall | None = None

    # Connection life

    def connectionMade(self) -> None:
        self.connection.start(self.transport)
        banned = self.connection.banned()
        if banned is not None:
            self.connection.write(encode([
                self.viewer.numeric("465", describe_error(banned)),
                line("ERROR", f"Closing link: {describe_error(banned)}"),
            ]))
            self.connection.close()
            return
        self._listen()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._ping is not None and self._ping.active():
            self._ping.cancel()
        self.connection.lost()

    # The member's client

    def deliver(self, batch: Batch) -> None:
        if self._held is not None and not all(isinstance(e, Wire) for e in batch.events):
            self._held.append(batch)
            return
        spoken = SPOKEN.cached(self.viewer, batch)
        if spoken is not None:
            self.connection.write(spoken)
            return
        if only_speech(batch):
            self.connection.write(SPOKEN.render(self.viewer, batch))
            return
        if any(isinstance(event, Welcome | Arrived) for event in batch.events):
            self.registered = True
        self.connection.write(encode(self.viewer.lines(batch)))

    def displace(self) -> None:
        self.connection.write(encode([
            line("ERROR", "Closing link: you connected again")
        ]))
        self.connection.displace()

    def remove(self, reason: LeaveReason) -> None:
        self.send([line("ERROR", "Closing link: removed by an operator")])
        self.connection.quit(reason)

    def handshake_expired(self, seconds: float) -> None:
        self.send([line("ERROR", f"Closing link: no registration within {seconds:g} seconds")])

    def internal_error(self) -> None:
        # Written straight, not through the chat, which may be what failed.
        self.connection.write(encode([self.viewer.notice(
            "internal error: the server could not carry out that command, and carries on"
        )]))

    def stopping(self) -> None:
        self.send([line("ERROR", "Closing link: the server is shutting down")])

    # What the renderer asks

    def names(self, room: str) -> list[str]:
        found = self.registry.rooms.get(fold(room))
        if found is None:
            return []
        full = "userhost-in-names" in self.viewer.caps
        return [self.prefixes(found, member)
                + (self.mask_of(member.nick) if full else member.nick)
                for member in found.members.values()] + [
            self.prefixes_elsewhere(found, attendee)
            + (mask(attendee.nick) if full else attendee.nick)
            for attendee in found.elsewhere.values()
        ]

    def secret(self, room: str) -> bool:
        return self.server.moderation.room(fold(room)).secret

    def account_of(self, nick: str) -> str | None:
        member = self.registry.find(nick)
        session = None if member is None else self.server.realm.sessions.get(member.id)
        account = None if session is None else session.account
        return None if account is None else account.name

    def away_of(self, nick: str) -> str | None:
        member = self.registry.find(nick)
        return None if member is None else member.away

    def mask_of(self, nick: str) -> str:
        member = self.registry.find(nick)
        if member is None:
            return mask(nick)
        return mask(member.nick, self.identity(member)[0])

    def identity(self, member: Member) -> tuple[str, str]:
        client = member.client
        if isinstance(client, IRCProtocol):
            return client.user, client.realname
        return member.nick, member.nick

    def welcome(self, nick: str) -> list[str]:
        numeric = self.viewer.numeric
        name = self.viewer.server
        isupport = [
            "AWAYLEN=390", "CASEMAPPING=rfc1459", "CHANMODES=b,k,l,imnst",
            f"CHANNELLEN={ROOM_MAX + 1}",
            "CLIENTTAGDENY=*",
            "CHANTYPES=#", f"CHATHISTORY={CHATHISTORY_MAX}", f"KICKLEN={KICK_MAX}", "MODES",
            "MSGREFTYPES=msgid,timestamp", "NETWORK=tcpchat", f"NICKLEN={NICK_MAX}",
            "PREFIX=(ov)@+", f"TOPICLEN={TOPIC_MAX}", f"USERLEN={USER_MAX}",
        ]
        return [
            numeric("001", f"Welcome to the tcpchat IRC network, {self.mask_of(nick)}"),
            numeric("002", f"Your host is {name}, running version tcpchat-{__version__}"),
            numeric("003", "This server speaks IRC beside the tcpchat line protocol"),
            numeric("004", name, f"tcpchat-{__version__}", "iow", "biklmnostv", "bklov"),
            *(numeric("005", *isupport[start : start + ISUPPORT_PER_LINE],
                      "are supported by this server")
              for start in range(0, len(isupport), ISUPPORT_PER_LINE)),
            *self.motd(),
        ]

    def now(self) -> float:
        return self.connection.clock.seconds()

    # Input

    def dataReceived(self, data: bytes) -> None:
        if self._discarding:
            end = data.find(b"\n")
            self._discarding = end < 0
            data = b"" if self._discarding else data[end + 1 :]
        self._buffer += data
        self._read_lines()

    def _read_lines(self) -> None:
        limit = self.config.max_line
        while not self.paused and not self.connection.closing and b"\n" in self._buffer:
            if not self.connection.pacing.take():
                self.pauseProducing()
                self.connection.wake_after_flood(self.resumeProducing)
                return
            raw, _, self._buffer = self._buffer.partition(b"\n")
            raw = raw.removesuffix(b"\r")
            if len(raw) > limit:
                self._too_long()
                continue
            self.lineReceived(raw)
        if b"\n" not in self._buffer and len(self._buffer) > limit + 1:
            self._buffer = b""
            self._discarding = True
            self._too_long()

    def _too_long(self) -> None:
        self.send([self.viewer.numeric("417", "Input line was too long")])

    def lineReceived(self, line_: bytes) -> None:
        """Handle one line; whatever goes wrong, the connection stays open."""
        self._listen()
        try:
            parsed = parse(decode(line_))
            if parsed is None:
                return
            command, params = parsed.command, parsed.params
            if command in BEFORE_REGISTRATION:
                getattr(self, "irc_" + command)(params)
            elif not self.registered:
                self.send([self.viewer.numeric("451", "You have not registered")])
            else:
                self.run(command, params)
        except Exception:
            self.connection.internal_error(Failure())

    # Pings

    def _listen(self) -> None:
        """Heard from the client: ping it only after ``--irc-ping`` seconds of silence."""
        if self._ping is not None and self._ping.active():
            self._ping.cancel()
        self._ping = self.connection.clock.callLater(self.config.irc_ping, self._send_ping)

    def _send_ping(self) -> None:
        self.connection.write(encode([line("PING", self.viewer.server)]))
        self._ping = self.connection.clock.callLater(self.config.irc_ping_timeout,
                                                     self._timed_out)

    def _timed_out(self) -> None:
        self._ping = None
        seconds = f"{self.config.irc_ping + self.config.irc_ping_timeout:g}"
        self.send([line("ERROR", f"Closing link: ping timeout: {seconds} seconds")])
        self.connection.quit(f"ping timeout: {seconds} seconds")

    def irc_PING(self, params: list[str]) -> None:
        if not params:
            self.send([self.viewer.numeric("409", "No origin specified")])
            return
        self.send([self.viewer.reply("PONG", self.viewer.server, params[0], trailing=True)])

    def irc_PONG(self, params: list[str]) -> None:
        """An answer to the server's PING: hearing it was enough."""

    # Registration

    def irc_CAP(self, params: list[str]) -> None:
        sub = params[0].upper() if params else ""
        viewer = self.viewer
        if sub == "LS":
            self.negotiating = not self.registered
            new_style = len(params) > 1 and params[1].isdigit() and int(params[1]) >= 302
            offered = [f"sasl={SASL_MECHANISMS}" if cap == "sasl" and new_style else cap
                       for cap in CAPABILITIES]
            self.send([viewer.reply("CAP", viewer.nick, "LS", " ".join(offered), trailing=True)])
        elif sub == "LIST":
            self.send([viewer.reply("CAP", viewer.nick, "LIST", " ".join(sorted(viewer.caps)),
                            trailing=True)])
        elif sub == "REQ":
            self.negotiating = not self.registered
            asked = params[1].split() if len(params) > 1 else []
            names = [cap.removeprefix("-") for cap in asked]
            if not asked or any(name not in CAPABILITIES for name in names):
                self.send([viewer.reply("CAP", viewer.nick, "NAK", " ".join(asked), trailing=True)])
                return
            for cap in asked:
                if cap.startswith("-"):
                    viewer.caps.discard(cap[1:])
                else:
                    viewer.caps.add(cap)
            viewer.caps_changed()
            self.send([viewer.reply("CAP", viewer.nick, "ACK", " ".join(asked), trailing=True)])
        elif sub == "END":
            self.negotiating = False
            self._try_to_register()
        else:
            self.send([viewer.numeric("410", sub or "*", "Invalid CAP command")])

    def irc_PASS(self, params: list[str]) -> None:
        if self.registered:
            self.send([self.viewer.numeric("462", "You may not reregister")])
        elif not params:
            self.send([self.viewer.numeric("461", "PASS", "Not enough parameters")])
        else:
            self.password = params[0]

    def irc_USER(self, params: list[str]) -> None:
        if self.registered:
            self.send([self.viewer.numeric("462", "You may not reregister")])
        elif len(params) < 4 or not params[0] or not params[3]:
            self.send([self.viewer.numeric("461", "USER", "Not enough parameters")])
        else:
            self.user_given = True
            name = params[0].encode()[:USER_MAX].decode("utf-8", "ignore")
            self.user = "~" + "".join(char for char in name if char.isalnum() or char in "-_.")
            self.realname = relayable(params[3]).strip() or self.user
            self._try_to_register()

    def irc_NICK(self, params: list[str]) -> None:
        if not params or not params[0]:
            self.send([self.viewer.numeric("431", "No nickname given")])
            return
        if self.registered:
            self._rename(params[0])
            return
        self.wanted_nick = params[0]
        self._try_to_register()

    def _rename(self, nick: str) -> None:
        session = self.session()
        try:
            self.moderator.check_speech(session.member, None)
            renamed = session.rename(nick)
        except ChatError as error:
            self.refused(error, "NICK", nick)
            return
        renamed.addErrback(self.failed, "NICK", nick)

    def irc_QUIT(self, params: list[str]) -> None:
        reason = relayable(params[0]).strip() if params else ""
        self.send([line("ERROR", "Closing link: quit")])
        self.connection.quit(Quit(reason))

    def _try_to_register(self) -> None:
        if self.registered or self.logging_in or self.negotiating:
            return
        if self.wanted_nick is None or not self.user_given:
            return
        if self._held is not None:
            self._release_held()
            return
        nick = self.wanted_nick
        if self.password is not None:
            login = self.connection.log_in_with_password(nick, self.password, room=None)
        else:
            login = self.connection.log_in(nick, room=None)
        self._await_login(login, self._not_registered)

    def _await_login(self, login: Deferred[ChatSession], failed: Any) -> None:
        """Read no more lines until the login is done: they come after the welcome."""
        self.logging_in = True
        login.addBoth(self._login_done).addCallbacks(lambda _: None, failed)
        if self.logging_in:
            self.pauseProducing()
            login.addBoth(self._resume_after_login)

    def _login_done(self, result: Any) -> Any:
        self.logging_in = False
        return result

    def _resume_after_login(self, _: object) -> None:
        if not self.connection.closing:
            self.resumeProducing()

    def _not_registered(self, failure: Failure) -> None:
        if failure.check(ChatError):
            # The next NICK (after a PASS, for a registered nickname) tries again.
            self.wanted_nick = None
            self.refused(failure.value, "NICK", "*")  # type: ignore[arg-type]
        elif not failure.check(ConnectionLost):
            self.connection.internal_error(failure)

    def _release_held(self) -> None:
        held, self._held = self._held or [], None
        for batch in held:
            self.deliver(batch)

    # SASL

    def _sasl_numeric(self, code: str, *params: str) -> str:
        """A SASL numeric, to the nickname the client asked for if it is not registered yet
        (IRCv3 sasl: the nick once one is known)."""
        target = self.viewer.nick
        if target == "*" and self.wanted_nick:
            target = self.wanted_nick
        return line(code, target, *params, source=self.viewer.server, trailing=len(params) > 1)

    def irc_AUTHENTICATE(self, params: list[str]) -> None:
        numeric = self._sasl_numeric
        if not params:
            self.send([self.viewer.numeric("461", "AUTHENTICATE", "Not enough parameters")])
            return
        if self.registered or self.sasl_account is not None:
            self.send([numeric("907", "You have already authenticated using SASL")])
            return
        if "sasl" not in self.viewer.caps:
            self.send([numeric("904", "SASL authentication failed: sasl was not enabled")])
            return
        data = params[0]
        if data == "*":
            self._sasl_buffer = None
            self.send([numeric("906", "SASL authentication aborted")])
            return
        if self._sasl_buffer is None:
            if data.upper() != "PLAIN":
                self.send([numeric("908", SASL_MECHANISMS, "are available SASL mechanisms"),
                           numeric("904", "SASL authentication failed")])
                return
            self._sasl_buffer = ""
            self.send([line("AUTHENTICATE", "+")])
            return
        if data != "+":
            self._sasl_buffer += data
        if len(data) == SASL_CHUNK:
            return
        gathered, self._sasl_buffer = self._sasl_buffer, None
        self._sasl_plain(gathered)

    def _sasl_plain(self, gathered: str) -> None:
        numeric = self._sasl_numeric
        try:
            authzid, authcid, password = base64.b64decode(gathered, validate=True).decode(
                "utf-8"
            ).split("\0")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            self.send([numeric("904", "SASL authentication failed: malformed PLAIN message")])
            return
        if authzid and authzid != authcid:
            self.send([numeric("904", "SASL authentication failed: authzid is not authcid")])
            return
        self._held = []
        login = self.connection.log_in_with_password(authcid, password, room=None)
        login.addCallback(self._sasl_succeeded)
        self._await_login(login, self._sasl_failed)

    def _sasl_succeeded(self, session: ChatSession) -> None:
        nick = session.member.nick
        self.sasl_account = nick if session.account is None else session.account.name
        self.send([
            self._sasl_numeric("900", self.mask_of(nick), self.sasl_account,
                                f"You are now logged in as {self.sasl_account}"),
            self._sasl_numeric("903", "SASL authentication successful"),
        ])
        self.wanted_nick = nick
        self._try_to_register()

    def _sasl_failed(self, failure: Failure) -> None:
        self._held = None
        if failure.check(WrongPasswordError):
            self.send([self._sasl_numeric("904", "SASL authentication failed")])
        elif failure.check(ChatError):
            self.send([*refusal(self.viewer, failure.value, "AUTHENTICATE"),  # type: ignore[arg-type]
                       self._sasl_numeric("904", "SASL authentication failed")])
        elif not failure.check(ConnectionLost):
            self.connection.internal_error(failure)


class IRCFactory(ServerFactory):
    """Builds an :class:`IRCProtocol` for each connection the server admits."""

    noisy = False

    def __init__(self, server: ChatServer) -> None:
        self.server = server

    def buildProtocol(self, addr: IAddress | None) -> Any:
        answer = self.server.admit(addr)
        if isinstance(answer, Ticket):
            return IRCProtocol(self.server, answer)
        config = self.server.config
        return RefusedConnection(
            encode([line("ERROR", f"Closing link: {describe_refusal(answer)}")]),
            self.server.clock, config.close_timeout,
        )
