"""IRC commands of a registered client, dispatched by name: one ``irc_NAME`` method each.

Each method gets the command's parameters as the client sent them and
answers with numerics (:meth:`IRCCommands.send`, through the member's
outbox so that replies keep their place among its events). The chat
does the rest: the :class:`~chat.domain.registry.Registry` for channels
and messages, the server's :class:`~chat.session.moderator.Moderator`
for KICK, MODE, TOPIC, WHOIS and AWAY, as for every front end. A
:class:`~chat.domain.errors.ChatError` a method raises, or its Deferred
fails with, is answered by :func:`chat.irc.errors.refusal`.

The Moderator acts on the member's current room; IRC names the channel
in every command, so :meth:`IRCCommands.acting_in` makes that channel
the current room for the one call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.words.protocols.irc import ctcpExtract

from chat.domain.errors import ChatError, InvalidRoomError, NotInRoomError, NotJoinedError
from chat.domain.events import Batch
from chat.domain.registry import LOBBY, Member, Registry, Room, room_name
from chat.irc.errors import refusal
from chat.irc.render import Echo, Viewer
from chat.irc.wire import HOST, SERVER, Wire, channel, line, mask
from chat.moderation import target_text
from chat.session.connection import Connection
from chat.session.login import ChatSession
from chat.session.moderator import Moderator
from chat.session.server import ChatServer
from chat.text import fold, relayable

IRCHandler = Callable[[list[str]], "Deferred[Any] | None"]
HISTORY_LINES_PER_TOKEN = 10
"""History lines shown that cost as much flood pacing as one line sent (as on the line
front end)."""


class NeedMoreParamsError(Exception):
    """The command came without the parameters it needs (ERR_NEEDMOREPARAMS)."""


class NoSuchChannelError(Exception):
    """The command names a channel that does not exist (ERR_NOSUCHCHANNEL)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class IRCCommands:
    """The commands of a registered IRC client, for its protocol to mix in."""

    server: ChatServer
    registry: Registry
    connection: Connection
    viewer: Viewer

    # What the protocol provides

    def send(self, lines: list[str]) -> None:
        """Tell the client ``lines``, after everything it was told before."""
        if lines:
            self.connection.tell(Batch((Wire("\r\n".join(lines)),)))

    def refused(self, error: ChatError, command: str, target: str = "*") -> None:
        self.send(refusal(self.viewer, error, command, target))

    def run(self, command: str, params: list[str]) -> None:
        """Carry out ``command`` (a registered client's); unknown: ERR_UNKNOWNCOMMAND."""
        handler: IRCHandler | None = getattr(self, "irc_" + command, None)
        if handler is None or not command.isalpha():
            self.send([self.viewer.numeric("421", command, "Unknown command")])
            return
        target = params[0] if params else "*"
        try:
            done = handler(params)
        except NeedMoreParamsError:
            self.send([self.viewer.numeric("461", command, "Not enough parameters")])
        except NoSuchChannelError as error:
            self.send([self.viewer.numeric("403", error.name, "No such channel")])
        except ChatError as error:
            self.refused(error, command, target)
        else:
            if done is not None:
                done.addErrback(self.failed, command, target)

    def failed(self, failure: Failure, command: str, target: str = "*") -> None:
        if failure.check(ChatError):
            self.refused(failure.value, command, target)  # type: ignore[arg-type]
        else:
            self.connection.internal_error(failure)

    def charge_history(self, shown: int) -> None:
        self.connection.pacing.charge(shown / HISTORY_LINES_PER_TOKEN)

    @property
    def moderator(self) -> Moderator:
        return self.server.moderator

    def session(self) -> ChatSession:
        session = self.connection.session
        if session is None:
            raise NotJoinedError()
        return session

    def each(self, targets: str, command: str, act: Callable[[str], None]) -> None:
        """``act`` on each of the comma-separated ``targets``, answering each refusal."""
        for target in filter(None, targets.split(",")):
            try:
                act(target)
            except ChatError as error:
                self.refused(error, command, target)

    @contextmanager
    def acting_in(self, name: str) -> Iterator[ChatSession]:
        """The session, with channel ``name`` as its current room while the block runs."""
        session = self.session()
        member = session.member
        if self._room_named(name) is None:
            raise NoSuchChannelError(name)
        room = member.rooms.get(fold(_room(name)))
        if room is None:
            raise NotInRoomError(_room(name))
        before, member.room = member.room, room
        try:
            yield session
        finally:
            if before is not None and before.key in member.rooms:
                member.room = before

    # Channels

    def irc_JOIN(self, params: list[str]) -> None:
        if not params:
            raise NeedMoreParamsError
        if params[0] == "0":
            for room in list(self.viewer.channels.values()):
                self._part(room, "left every channel")
            return
        self.each(params[0], "JOIN", self._join)

    def _join(self, name: str) -> None:
        room = _room(name)
        session = self.session()
        if fold(room) in session.member.rooms:
            return
        self.moderator.check_room(session, room)
        created = fold(room) not in self.registry.rooms
        joined = self.registry.join_room(session.member, room)
        self.moderator.entered(session, room, created)
        joined.addCallback(self.charge_history).addErrback(self.failed, "JOIN", name)

    def irc_PART(self, params: list[str]) -> None:
        if not params:
            raise NeedMoreParamsError
        reason = relayable(params[1]).strip() if len(params) > 1 else ""
        self.each(params[0], "PART", lambda name: self._part(_room(name), reason or "parted"))

    def _part(self, room: str, reason: str) -> None:
        member = self.session().member
        self.registry.part_room(member, room, reason)
        shown = self.viewer.channels.pop(fold(room), room)
        self.send([line("PART", channel(shown), reason, source=mask(member.nick),
                        trailing=True)])

    def irc_NAMES(self, params: list[str]) -> None:
        names = params[0] if params else ",".join(map(channel, self.viewer.channels.values()))
        for name in filter(None, names.split(",")):
            room = self._room_named(name)
            if room is None:
                self.send([self.viewer.numeric("366", name, "End of /NAMES list")])
            else:
                self.send(self.viewer.names(room.name))

    def _room_named(self, name: str) -> Room | None:
        try:
            return self.registry.rooms.get(fold(_room(name)))
        except InvalidRoomError:
            return None

    def irc_TOPIC(self, params: list[str]) -> None:
        if not params:
            raise NeedMoreParamsError
        name = params[0]
        if len(params) > 1:
            with self.acting_in(name) as session:
                self.moderator.set_topic(session, relayable(params[1]).strip())
            return
        room = _room(name)
        if self._room_named(name) is None:
            raise NoSuchChannelError(name)
        settings = self.server.moderation.room(fold(room))
        shown = channel(room)
        if not settings.topic:
            self.send([self.viewer.numeric("331", shown, "No topic is set")])
            return
        reply = [self.viewer.numeric("332", shown, settings.topic)]
        if settings.topic_by:
            at = str(int(settings.topic_at or 0))
            reply.append(self.viewer.numeric("333", shown, settings.topic_by, at))
        self.send(reply)

    def irc_LIST(self, params: list[str]) -> None:
        wanted = {fold(_room(name)) for name in params[0].split(",") if name} if params else None
        reply = [self.viewer.numeric("321", "Channel", "Users  Name")]
        for name, count in self.registry.room_list():
            if wanted is None or fold(name) in wanted:
                topic = self.server.moderation.room(fold(name)).topic
                reply.append(self.viewer.numeric("322", channel(name), str(count), topic))
        reply.append(self.viewer.numeric("323", "End of /LIST"))
        self.send(reply)

    # Messages

    def irc_PRIVMSG(self, params: list[str]) -> Deferred[Any] | None:
        return self._speak("PRIVMSG", params)

    def irc_NOTICE(self, params: list[str]) -> Deferred[Any] | None:
        try:
            return self._speak("NOTICE", params)
        except (ChatError, NeedMoreParamsError):
            return None  # never an automatic reply to a NOTICE

    def irc_TAGMSG(self, params: list[str]) -> None:
        """Client-only tags (typing notifications): tcpchat relays none of them."""

    def _speak(self, command: str, params: list[str]) -> Deferred[Any] | None:
        if not params or not params[0]:
            self._answer(command, [self.viewer.numeric("411", f"No recipient given ({command})")])
            return None
        if len(params) < 2 or not params[1]:
            self._answer(command, [self.viewer.numeric("412", "No text to send")])
            return None
        action, text = _action_or_text(params[1])
        if text is None:
            return None
        for target in filter(None, params[0].split(",")):
            try:
                sent = self._say_to(command, target, action, text)
            except ChatError as error:
                if command == "PRIVMSG":
                    self.refused(error, command, target)
                continue
            if sent is not None:
                sent.addErrback(self._speak_failed, command, target)
        return None

    def _speak_failed(self, failure: Failure, command: str, target: str) -> None:
        if command == "PRIVMSG" or not failure.check(ChatError):
            self.failed(failure, command, target)

    def _answer(self, command: str, lines: list[str]) -> None:
        if command == "PRIVMSG":
            self.send(lines)

    def _say_to(self, command: str, target: str, action: bool, text: str) -> Deferred[Any] | None:
        session = self.session()
        member = session.member
        if target.startswith("#"):
            room = _room(target)
            if fold(room) not in member.rooms:
                raise NotInRoomError(room)
            self.moderator.check_speech(member, room)
            if "echo-message" in self.viewer.caps:
                body = f"\x01ACTION {text}\x01" if action else text
                self.viewer.echoes.append(Echo(command, target, body))
            (self.registry.act if action else self.registry.say)(member, text, room)
            return None
        self.moderator.check_speech(member, None)
        return session.whisper(target, f"* {member.nick} {text}" if action else text)

    # People

    def irc_WHO(self, params: list[str]) -> None:
        mask_ = params[0] if params else "*"
        reply: list[str] = []
        room = self._room_named(mask_) if mask_.startswith("#") else None
        if room is not None:
            reply = [self._who_line(channel(room.name), member, room) for member in
                     room.members.values()]
        elif not mask_.startswith("#"):
            member = self.registry.find(mask_)
            if member is not None:
                where = member.room
                reply = [self._who_line(
                    channel(where.name) if where else "*", member, where
                )]
        reply.append(self.viewer.numeric("315", mask_, "End of /WHO list"))
        self.send(reply)

    def _who_line(self, shown: str, member: Member, room: Room | None) -> str:
        session = self.server.realm.sessions.get(member.id)
        flags = "G" if member.away else "H"
        if session is not None and session.server_operator:
            flags += "*"
        if room is not None and self.is_operator(room, member):
            flags += "@"
        return self.viewer.numeric(
            "352", shown, member.nick, HOST, SERVER, member.nick, flags, f"0 {member.nick}"
        )

    def is_operator(self, room: Room, member: Member) -> bool:
        """Whether ``member`` shows as an operator (``@``) of ``room``: in the lobby (the
        server) a server operator, elsewhere the room's owner and operators."""
        session = self.server.realm.sessions.get(member.id)
        if session is None:
            return False
        if room.key == LOBBY:
            return session.server_operator
        account = session.account
        return self.server.moderation.is_room_operator(
            room.key, member.key, None if account is None else account.key
        )

    def irc_WHOIS(self, params: list[str]) -> None:
        if not params:
            raise NeedMoreParamsError
        nick = params[-1]
        numeric = self.viewer.numeric
        try:
            whois = self.moderator.whois(nick)
        except ChatError as error:
            self.send([*refusal(self.viewer, error, "WHOIS", nick),
                       numeric("318", nick, "End of /WHOIS list")])
            return
        member = self.registry.find(whois.nick)
        rooms = [] if member is None else list(member.rooms.values())
        reply = [numeric("311", whois.nick, whois.nick, HOST, "*", whois.nick)]
        if rooms:
            assert member is not None
            shown = " ".join(
                ("@" if self.is_operator(room, member) else "") + channel(room.name)
                for room in rooms
            )
            reply.append(numeric("319", whois.nick, shown))
        reply.append(numeric("312", whois.nick, SERVER, "tcpchat"))
        if whois.server_operator:
            reply.append(numeric("313", whois.nick, "is a server operator"))
        if whois.account:
            reply.append(numeric("330", whois.nick, whois.account, "is logged in as"))
        if whois.away is not None:
            reply.append(numeric("301", whois.nick, whois.away))
        reply.append(numeric(
            "317", whois.nick, str(int(whois.idle)), str(int(whois.since)),
            "seconds idle, signon time",
        ))
        reply.append(numeric("318", whois.nick, "End of /WHOIS list"))
        self.send(reply)

    def irc_AWAY(self, params: list[str]) -> None:
        message = relayable(params[0]).strip() if params else ""
        Moderator.set_away(self.session(), message or None)
        if message:
            self.send([self.viewer.numeric("306", "You have been marked as being away")])
        else:
            self.send([self.viewer.numeric("305", "You are no longer marked as being away")])

    def irc_ISON(self, params: list[str]) -> None:
        online = [member.nick for nick in " ".join(params).split()
                  if (member := self.registry.find(nick)) is not None]
        self.send([self.viewer.numeric("303", " ".join(online))])

    def irc_USERHOST(self, params: list[str]) -> None:
        if not params:
            raise NeedMoreParamsError
        found = []
        for nick in params[:5]:
            member = self.registry.find(nick)
            if member is not None:
                away = "-" if member.away else "+"
                found.append(f"{member.nick}={away}{member.nick}@{HOST}")
        self.send([self.viewer.numeric("302", " ".join(found))])

    # Moderation

    def irc_KICK(self, params: list[str]) -> None:
        if len(params) < 2:
            raise NeedMoreParamsError
        reason = relayable(params[2]).strip() if len(params) > 2 else ""

        def kick(nick: str) -> None:
            with self.acting_in(params[0]) as session:
                self.moderator.kick(session, nick, reason)

        self.each(params[1], "KICK", kick)

    def irc_MODE(self, params: list[str]) -> None:
        if not params:
            raise NeedMoreParamsError
        target = params[0]
        if not target.startswith("#"):
            self._user_mode(target, params[1:])
            return
        room = _room(target)
        if len(params) == 1:
            settings = self.server.moderation.room(fold(room))
            modes = "+nt" if settings.topic_ops_only else "+n"
            self.send([self.viewer.numeric("324", channel(room), modes)])
            return
        arguments = iter(params[2:])
        sign = "+"
        for letter in params[1]:
            if letter in "+-":
                sign = letter
            elif letter == "b":
                mask_ = next(arguments, None)
                self._ban_mode(target, sign, mask_)
            elif letter == "o":
                nick = next(arguments, None)
                if nick is None:
                    raise NeedMoreParamsError
                self._op_mode(target, sign, nick)
            elif letter == "t":
                with self.acting_in(target) as session:
                    self.moderator.topic_ops_only(session, sign == "+")
                self.send([line("MODE", channel(room), sign + "t",
                                source=mask(session.member.nick))])
            elif letter != "n":
                self.send([self.viewer.numeric("472", letter, "is unknown mode char to me")])

    def _ban_mode(self, name: str, sign: str, target: str | None) -> None:
        with self.acting_in(name) as session:
            if target is None:
                where, bans = self.moderator.bans(session)
                shown = channel(LOBBY if where is None else where)
                self.send([
                    *(self.viewer.numeric("367", shown, target_text(ban.target), ban.by,
                                          str(int(ban.since))) for ban in bans),
                    self.viewer.numeric("368", shown, "End of channel ban list"),
                ])
            elif sign == "+":
                self.moderator.ban(session, _ban_target(target), "", "")
            else:
                self.moderator.unban(session, _ban_target(target))

    def _op_mode(self, name: str, sign: str, nick: str) -> None:
        with self.acting_in(name) as session:
            self.moderator.op(session, nick, grant=sign == "+")

    def _user_mode(self, nick: str, changes: list[str]) -> None:
        if fold(nick) != fold(self.viewer.nick):
            self.send([self.viewer.numeric("502", "Can't change mode for other users")])
        elif not changes:
            self.send([self.viewer.numeric("221", "+")])
        elif set(changes[0]) - set("+-iw"):
            self.send([self.viewer.numeric("501", "Unknown MODE flag")])


def _room(name: str) -> str:
    """The room of channel ``name``: it must start with ``#`` (ERR_NOSUCHCHANNEL)."""
    if not name.startswith("#"):
        raise InvalidRoomError(name)
    return room_name(name)


def _ban_target(mask_: str) -> str:
    """What ``/ban`` reads in a ban mask: ``nick!*@*`` is the nickname, a bare word is itself."""
    nick, bang, rest = mask_.partition("!")
    if bang and rest in ("*@*", "*"):
        return nick
    return mask_


def _action_or_text(text: str) -> tuple[bool, str | None]:
    """Whether ``text`` is a CTCP ACTION, and what to relay (None: another CTCP, not relayed)."""
    if text.startswith("\x01"):
        extracted = ctcpExtract(text)
        for tag, data in extracted["extended"]:
            if tag.upper() == "ACTION" and data and relayable(data).strip():
                return True, relayable(data).strip()
        return False, None
    relayed = relayable(text)
    return False, relayed if relayed.strip() else None
