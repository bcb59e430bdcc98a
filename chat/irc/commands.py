"""IRC commands of a registered client, dispatched by name: one ``irc_NAME`` method each.

Each method gets the command's parameters as the client sent them and
answers with numerics (:meth:`IRCCommands.send`, through the member's
outbox so that replies keep their place among its events). The chat
does the rest: the :class:`~chat.domain.registry.Registry` for channels
and messages, the server's :class:`~chat.session.moderator.Moderator`
for KICK, MODE, TOPIC, WHOIS and AWAY (each in the channel the command
names), as for every front end. A :class:`~chat.domain.errors.ChatError`
a method raises, or its Deferred fails with, is answered by
:func:`chat.irc.errors.refusal`. CHATHISTORY is :mod:`chat.irc.history`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.words.protocols.irc import ctcpExtract

from chat import __version__
from chat.domain.errors import (
    ChatError,
    InvalidRoomError,
    NotJoinedError,
    WrongPasswordError,
)
from chat.domain.events import Attendee, Batch, Notice, RoomChanged, SettingChanged
from chat.domain.registry import LOBBY, Member, Registry, Room, room_name
from chat.irc.errors import NoSuchNickError, refusal
from chat.irc.render import TOPIC_MAX, Echo, Viewer, ban_mask, shown_topic
from chat.irc.wire import HOST, Wire, channel, line
from chat.moderation import NotPermittedError, target_text
from chat.session.connection import Connection
from chat.session.login import ChatSession
from chat.session.moderator import Moderator, WhoIs
from chat.session.server import ChatServer
from chat.text import fold, relayable

IRCHandler = Callable[[list[str]], "Deferred[Any] | None"]

_SWITCHED = {"t": "topic_ops_only", "m": "moderated", "s": "secret"}
"""The room setting each on/off channel mode letter turns on or off."""
HISTORY_LINES_PER_TOKEN = 10
"""History lines shown that cost as much flood pacing as one line sent (as on the line
front end)."""
KEY_MAX = 23
"""Characters of a channel key kept (RFC 2812's limit)."""
KICK_MAX = 255
"""Bytes of a kick or part reason kept (ISUPPORT KICKLEN)."""


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
    user_modes: set[str]
    """The client's user modes (``i``, ``w``)."""
    pauseProducing: Callable[[], None]
    resumeProducing: Callable[[], None]

    # What the protocol provides

    def mask_of(self, nick: str) -> str:
        raise NotImplementedError

    def identity(self, member: Member) -> tuple[str, str]:
        """The USER name and the realname of ``member``."""
        raise NotImplementedError

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

    def session_member(self) -> Member:
        return self.session().member

    def each(self, targets: str, command: str, act: Callable[[str], None]) -> None:
        """``act`` on each of the comma-separated ``targets``, answering each refusal."""
        for target in filter(None, targets.split(",")):
            try:
                act(target)
            except NoSuchChannelError as error:
                self.send([self.viewer.numeric("403", error.name, "No such channel")])
            except ChatError as error:
                self.refused(error, command, target)

    def channel_room(self, name: str) -> str:
        """The room of channel ``name``, which must exist (else ERR_NOSUCHCHANNEL)."""
        room = self._room_named(name)
        if room is None:
            raise NoSuchChannelError(name)
        return room.name

    def _room_named(self, name: str) -> Room | None:
        try:
            return self.registry.rooms.get(fold(_room(name)))
        except InvalidRoomError:
            return None

    # Channels

    def irc_JOIN(self, params: list[str]) -> None:
        if not params or not params[0]:
            raise NeedMoreParamsError
        if params[0] == "0":
            for room in list(self.viewer.channels.values()):
                self._part(room, "left every channel")
            return
        keys = iter(params[1].split(",") if len(params) > 1 else [])
        self.each(params[0], "JOIN", lambda name: self._join(name, next(keys, "")))

    def _join(self, name: str, join_key: str = "") -> None:
        room = _room(name)
        session = self.session()
        if fold(room) in session.member.rooms:
            return
        self.moderator.check_room(session, room, join_key)
        created = fold(room) not in self.registry.rooms
        joined = self.registry.join_room(session.member, room)
        self.moderator.entered(session, room, created, guest_creator_ops=True)
        joined.addCallback(self.charge_history).addErrback(self.failed, "JOIN", name)

    def irc_PART(self, params: list[str]) -> None:
        if not params:
            raise NeedMoreParamsError
        reason = _reason(params[1]) if len(params) > 1 else ""

        def part(name: str) -> None:
            self.channel_room(name)
            self._part(_room(name), reason)

        self.each(params[0], "PART", part)

    def _part(self, room: str, reason: str) -> None:
        member = self.session().member
        self.registry.part_room(member, room, reason or "parted")
        shown = self.viewer.channels.pop(fold(room), room)
        params = [channel(shown), reason] if reason else [channel(shown)]
        self.send([line("PART", *params, source=self.mask_of(member.nick), trailing=bool(reason))])

    def irc_NAMES(self, params: list[str]) -> None:
        names = params[0] if params else ",".join(map(channel, self.viewer.channels.values()))
        for name in filter(None, names.split(",")):
            room = self._room_named(name)
            if room is None or self.hidden(room.key):
                self.send([self.viewer.numeric("366", name, "End of /NAMES list")])
            else:
                self.send(self.viewer.names(room.name))

    def irc_TOPIC(self, params: list[str]) -> None:
        if not params:
            raise NeedMoreParamsError
        name = params[0]
        room = self.channel_room(name)
        if len(params) > 1:
            text = relayable(params[1]).strip()
            if len(text.encode()) > TOPIC_MAX:
                text = shown_topic(text)
            self.moderator.set_topic(self.session(), text, room=room)
            return
        settings = self.server.moderation.room(fold(room))
        shown = channel(room)
        if not settings.topic:
            self.send([self.viewer.numeric("331", shown, "No topic is set")])
            return
        reply = [self.viewer.numeric("332", shown, shown_topic(settings.topic))]
        if settings.topic_by:
            at = str(int(settings.topic_at or 0))
            reply.append(self.viewer.numeric("333", shown, settings.topic_by, at))
        self.send(reply)

    def irc_LIST(self, params: list[str]) -> Deferred[None]:
        wanted = None
        if params and params[0].startswith("#"):
            wanted = {fold(name.lstrip("#")) for name in params[0].split(",") if name}

        def listed(everywhere: list[tuple[str, int]]) -> None:
            reply = [self.viewer.numeric("321", "Channel", "Users  Name")]
            for name, count in everywhere:
                if (wanted is None or fold(name) in wanted) and not self.hidden(fold(name)):
                    topic = shown_topic(self.server.moderation.room(fold(name)).topic)
                    reply.append(self.viewer.numeric("322", channel(name), str(count), topic))
            reply.append(self.viewer.numeric("323", "End of /LIST"))
            self.send(reply)

        return self.registry.rooms_everywhere().addCallback(listed)

    def hidden(self, room_key: str) -> bool:
        """Whether the room keyed ``room_key`` is secret (+s) and the client not in it."""
        return self.moderator.hidden(self.session_member(), room_key)

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
        action, text = _action_or_text(params[1], command)
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
        echo = "echo-message" in self.viewer.caps
        if target.startswith("#"):
            room = self._room_named(target)
            if room is None:
                raise NoSuchNickError(target)
            outside = room.key not in member.rooms
            self.moderator.check_speech(member, room.name)
            if command == "NOTICE":
                self.registry.notice(member, text, room.name, outside=outside)
                if echo:
                    self.send(self.viewer._speech("NOTICE", member.nick, target, text, 0,
                                                  self.viewer.lookup.now()))
                return None
            if echo:
                body = f"\x01ACTION {text}\x01" if action else text
                self.viewer.echoes.append(Echo(command, target, body))
            (self.registry.act if action else self.registry.say)(
                member, text, room.name, outside=outside
            )
            return None
        self.moderator.check_speech(member, None)
        if command == "NOTICE":
            notified = self.registry.notify(member, target, text)
            if echo:
                self.send(self.viewer._speech("NOTICE", member.nick, target, text, 0,
                                              self.viewer.lookup.now()))
            return notified
        return session.whisper(target, f"* {member.nick} {text}" if action else text)

    # People

    def irc_WHO(self, params: list[str]) -> None:
        wanted = params[0] if params else "*"
        members: list[tuple[Member, Room | None]] = []
        elsewhere: list[str] = []
        if wanted.startswith("#"):
            room = self._room_named(wanted)
            if room is not None and not self.hidden(room.key):
                members = [(member, room) for member in room.members.values()]
                elsewhere = [self._who_line_elsewhere(attendee, room)
                             for attendee in room.elsewhere.values()]
        else:
            found = self.registry.find(wanted)
            if found is not None:
                members = [(found, found.room)]
            elif any(char in wanted for char in "*?"):
                me = self.session().member
                members = [(member, member.room) for member in self.registry.members.values()
                           if self._who_matches(wanted, member)
                           and (not _invisible(member) or member is me
                                or not me.rooms.keys().isdisjoint(member.rooms))]
        reply = [self._who_line(member, room) for member, room in members] + elsewhere
        reply.append(self.viewer.numeric("315", wanted, "End of /WHO list"))
        self.send(reply)

    def _who_matches(self, wanted: str, member: Member) -> bool:
        pattern = fold(wanted)
        user, realname = self.identity(member)
        return any(fnmatchcase(fold(text), pattern) for text in
                   (member.nick, self.mask_of(member.nick), user, realname, HOST))

    def _who_line(self, member: Member, room: Room | None) -> str:
        session = self.server.realm.sessions.get(member.id)
        flags = "G" if member.away else "H"
        if session is not None and session.server_operator:
            flags += "*"
        if room is not None:
            flags += self.prefixes(room, member)
        user, realname = self.identity(member)
        shown = channel(room.name) if room is not None else "*"
        return self.viewer.numeric(
            "352", shown, user, HOST, self.viewer.server, member.nick, flags, f"0 {realname}"
        )

    def _who_line_elsewhere(self, attendee: Attendee, room: Room) -> str:
        """RPL_WHOREPLY for a member another process serves: what this one knows of it."""
        flags = ("G" if attendee.away else "H") + self.prefixes_elsewhere(room, attendee)
        return self.viewer.numeric(
            "352", channel(room.name), attendee.nick, HOST, self.viewer.server, attendee.nick,
            flags, f"0 {attendee.nick}",
        )

    def prefixes_elsewhere(self, room: Room, attendee: Attendee) -> str:
        """The prefixes of a member another process serves, from what its nickname was
        given as a guest or as an account (an account is named as its nickname)."""
        if room.key == LOBBY:
            return ""
        operator, voiced = self.moderator.given_elsewhere(room.key, attendee.nick)
        shown = "@" if operator else ""
        if (not shown or "multi-prefix" in self.viewer.caps) and voiced:
            shown += "+"
        return shown

    def prefixes(self, room: Room, member: Member) -> str:
        """``@`` for an operator of ``room``, ``+`` for a voiced member: both with
        multi-prefix, the highest only without."""
        shown = "@" if self.is_operator(room, member) else ""
        if (not shown or "multi-prefix" in self.viewer.caps) and (
            room.key != LOBBY and self.moderator.is_voiced(member, room.key)
        ):
            shown += "+"
        return shown

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
        if whois.elsewhere:
            self._whois_elsewhere(whois)
            return
        member = self.registry.find(whois.nick)
        if member is None:  # whois found its session: it is online
            return
        user, realname = self.identity(member)
        reply = [numeric("311", whois.nick, user, HOST, "*", realname)]
        rooms = list(member.rooms.values())
        if rooms:
            shown = " ".join(
                self.prefixes(room, member) + channel(room.name)
                for room in rooms if not self.hidden(room.key)
            )
            reply.append(numeric("319", whois.nick, shown))
        reply.append(numeric("312", whois.nick, self.viewer.server, "tcpchat"))
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

    def _whois_elsewhere(self, whois: WhoIs) -> None:
        """WHOIS of a member another process serves: what this one knows of it."""
        numeric = self.viewer.numeric
        reply = [numeric("311", whois.nick, whois.nick, HOST, "*", whois.nick)]
        shown = " ".join(channel(name) for name in whois.rooms if not self.hidden(fold(name)))
        if shown:
            reply.append(numeric("319", whois.nick, shown))
        reply.append(numeric("312", whois.nick, self.viewer.server, "tcpchat (another node)"))
        if whois.away is not None:
            reply.append(numeric("301", whois.nick, whois.away))
        reply.append(numeric("318", whois.nick, "End of /WHOIS list"))
        self.send(reply)

    def irc_WHOWAS(self, params: list[str]) -> None:
        numeric = self.viewer.numeric
        if not params or not params[0]:
            self.send([numeric("431", "No nickname given")])
            return
        nick = params[0]
        count = int(params[1]) if len(params) > 1 and params[1].lstrip("-").isdigit() else 0
        found = self.server.realm.whowas.find(nick, max(count, 0))
        reply = []
        for gone in found:
            reply.append(numeric("314", gone.nick, gone.user, HOST, "*", gone.realname))
            if gone.account is not None:
                reply.append(numeric("330", gone.nick, gone.account, "was logged in as"))
            reply.append(numeric("312", gone.nick, self.viewer.server,
                                 time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(gone.at))))
        if not found:
            reply.append(numeric("406", nick, "There was no such nickname"))
        reply.append(numeric("369", nick, "End of WHOWAS"))
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
                found.append(f"{member.nick}={away}{self.identity(member)[0]}@{HOST}")
        self.send([self.viewer.numeric("302", " ".join(found))])

    # The server

    def irc_MOTD(self, params: list[str]) -> None:
        self.send([text for text in self.motd()])

    def motd(self) -> list[str]:
        numeric = self.viewer.numeric
        lines = self.server.config.motd
        if not lines:
            return [numeric("422", "MOTD File is missing")]
        return [
            numeric("375", f"- {self.viewer.server} Message of the day -"),
            *(numeric("372", f"- {text}") for text in lines),
            numeric("376", "End of /MOTD command."),
        ]

    def irc_LUSERS(self, params: list[str]) -> None:
        numeric = self.viewer.numeric
        users, most = len(self.registry.members), self.registry.most_members
        rooms = len(self.registry.rooms)
        operators = sum(
            1 for session in self.server.realm.sessions.values() if session.server_operator
        )
        self.send([
            numeric("251", f"There are {users} users and 0 invisible on 1 servers"),
            numeric("252", str(operators), "operator(s) online"),
            numeric("253", str(max(0, self.server.admission.served - users)),
                    "unknown connection(s)"),
            numeric("254", str(rooms), "channels formed"),
            numeric("255", f"I have {users} clients and 0 servers"),
            numeric("265", str(users), str(most), f"Current local users {users}, max {most}"),
            numeric("266", str(users), str(most), f"Current global users {users}, max {most}"),
        ])

    def irc_TIME(self, params: list[str]) -> None:
        now = self.server.clock.seconds()
        self.send([self.viewer.numeric(
            "391", self.viewer.server, time.strftime("%A %B %d %Y -- %H:%M:%S UTC",
                                                     time.gmtime(now)),
        )])

    def irc_INFO(self, params: list[str]) -> None:
        self.send([
            self.viewer.numeric("371", f"tcpchat {__version__}: one chat for IRC, telnet, nc "
                                       "and tcpchat-client users"),
            self.viewer.numeric("374", "End of INFO list"),
        ])

    def irc_VERSION(self, params: list[str]) -> None:
        self.send([self.viewer.numeric("351", f"tcpchat-{__version__}", self.viewer.server,
                                       "tcpchat: IRC beside its line protocol")])

    def irc_OPER(self, params: list[str]) -> Deferred[Any] | None:
        if len(params) < 2:
            raise NeedMoreParamsError
        session = self.session()
        numeric = self.viewer.numeric

        def judged(operator: bool) -> None:
            if not operator:
                self.send([numeric("491", f"{params[0]} is not a server operator account")])
                return
            self.send([numeric("381", "You are now an IRC operator"),
                       line("MODE", self.viewer.nick, "+o", source=self.viewer.nick)])

        def refused(failure: Failure) -> None:
            if failure.check(WrongPasswordError):
                self.send([numeric("464", "Password incorrect")])
            else:
                self.failed(failure, "OPER", params[0])

        # What the client sends next is answered after this (irctest relies on it).
        self.pauseProducing()
        checked = session.operate(params[0], params[1]).addCallbacks(judged, refused)
        return checked.addBoth(self._resume_reading)

    def _resume_reading(self, result: Any) -> Any:
        if not self.connection.closing:
            self.resumeProducing()
        return result

    def irc_KILL(self, params: list[str]) -> None:
        if len(params) < 2:
            raise NeedMoreParamsError
        try:
            self.moderator.disconnect(self.session(), params[0], _reason(params[1]))
        except NotPermittedError:
            self.send([self.viewer.numeric("481", "Permission Denied- You're not an IRC operator")])

    # Moderation

    def irc_KICK(self, params: list[str]) -> None:
        if len(params) < 2:
            raise NeedMoreParamsError
        room = self.channel_room(params[0])
        reason = _reason(params[2]) if len(params) > 2 else ""
        self.each(params[1], "KICK",
                  lambda nick: self.moderator.kick(self.session(), nick, reason, room=room))

    def irc_MODE(self, params: list[str]) -> None:
        if not params:
            raise NeedMoreParamsError
        target = params[0]
        if not target.startswith("#"):
            self._user_mode(target, params[1:])
            return
        room = self.channel_room(target)
        if len(params) == 1:
            self._channel_modes(room)
            return
        arguments = iter(params[2:])
        sign = "+"
        session = self.session()
        changed: list[SettingChanged] = []  # told as one MODE line
        try:
            for letter in params[1]:
                if letter in "+-":
                    sign = letter
                elif letter in "lki":
                    setting = self._setting_mode(session, room, sign, letter, arguments)
                    if setting is not None:
                        changed.append(setting)
                elif letter == "b":
                    self._ban_mode(session, room, sign, next(arguments, None))
                elif letter == "o":
                    nick = next(arguments, None)
                    if nick is None:
                        raise NeedMoreParamsError
                    self.moderator.op(session, nick, grant=sign == "+", room=room, in_room=True)
                elif letter == "v":
                    voiced = self._voice_mode(session, room, sign, next(arguments, None))
                    if voiced is not None:
                        changed.append(SettingChanged("voiced", sign == "+", voiced))
                elif letter in "tms":
                    self._switch(letter)(session, sign == "+", room=room)
                    changed.append(SettingChanged(_SWITCHED[letter], sign == "+"))
                elif letter == "n":
                    self.moderator.set_outside_messages(session, sign == "-", room=room)
                    changed.append(SettingChanged("outside_messages", sign == "-"))
                else:
                    self.send([self.viewer.numeric("472", letter, "is unknown mode char to me")])
        finally:
            if changed:
                self.tell_mode(session, room, changed)

    def _switch(self, letter: str) -> Callable[..., None]:
        """What turns the setting of mode ``letter`` (t, m or s) on or off."""
        return {
            "t": self.moderator.topic_ops_only, "m": self.moderator.set_moderated,
            "s": self.moderator.set_secret,
        }[letter]

    def _voice_mode(
        self, session: ChatSession, room: str, sign: str, nick: str | None
    ) -> str | None:
        """+v NICK / -v NICK: the nickname as shown, if its voice changed."""
        if nick is None:
            raise NeedMoreParamsError
        if not self.moderator.voice(session, nick, grant=sign == "+", room=room):
            return None
        member = self.registry.find(nick)
        return nick if member is None else member.nick

    def tell_mode(self, session: ChatSession, room: str, changed: list[SettingChanged]) -> None:
        """Tell the room, on every process, of the changes of one MODE command (its IRC
        members, the actor among them, see them as one MODE line; line users see nothing)."""
        self.registry.announce(room, RoomChanged(room, session.member.nick, tuple(changed)))

    def _channel_modes(self, room: str) -> None:
        """RPL_CHANNELMODEIS (a key shown to members only) and RPL_CREATIONTIME."""
        settings = self.server.moderation.room(fold(room))
        letters, arguments = "" if settings.outside_messages else "n", []
        if settings.topic_ops_only:
            letters += "t"
        if settings.moderated:
            letters += "m"
        if settings.secret:
            letters += "s"
        if settings.invite_only:
            letters += "i"
        if settings.member_limit is not None:
            letters += "l"
            arguments.append(str(settings.member_limit))
        if settings.join_key:
            letters += "k"
            member = self.session_member()
            arguments.append(settings.join_key if fold(room) in member.rooms else "*")
        self.send([
            self.viewer.numeric("324", channel(room), "+" + letters, *arguments),
            self.viewer.numeric("329", channel(room), str(int(self.moderator.created(room)))),
        ])

    def _setting_mode(
        self, session: ChatSession, room: str, sign: str, letter: str, arguments: Any
    ) -> SettingChanged | None:
        """+l N / -l, +k KEY / -k, +i / -i: what changed, or None for a limit or key that is
        none (ignored)."""
        if letter == "i":
            self.moderator.set_invite_only(session, sign == "+", room=room)
            return SettingChanged("invite_only", sign == "+")
        if sign == "-":
            if letter == "k":
                next(arguments, None)  # IRC sends the key back with -k
                self.moderator.set_join_key(session, "", room=room)
                return SettingChanged("join_key", "")
            self.moderator.set_member_limit(session, None, room=room)
            return SettingChanged("member_limit", None)
        if letter == "l":
            text = next(arguments, "")
            if not text.isdigit() or int(text) < 1:
                return None
            self.moderator.set_member_limit(session, int(text), room=room)
            return SettingChanged("member_limit", int(text))
        join_key = relayable(next(arguments, "")).strip().split(" ")[0][:KEY_MAX]
        if not join_key:
            return None
        self.moderator.set_join_key(session, join_key, room=room)
        return SettingChanged("join_key", join_key)

    def irc_INVITE(self, params: list[str]) -> None:
        if not params:
            numeric = self.viewer.numeric
            session = self.session()
            self.send([
                *(numeric("336", channel(room)) for room in self.moderator.invitations(session)),
                numeric("337", "End of /INVITE list"),
            ])
            return
        if len(params) < 2:
            raise NeedMoreParamsError
        nick, name = params[0], params[1]
        room = self.channel_room(name)
        session = self.session()
        if self.registry.find(nick) is None:
            self.send([self.viewer.numeric("401", nick, "No such nick/channel")])
            return
        target = self.moderator.invite(session, nick, room)
        invited = target.member
        self.send([self.viewer.numeric("341", invited.nick, channel(room))])
        if getattr(invited.client, "roomless", False):
            text = line("INVITE", invited.nick, channel(room),
                        source=self.mask_of(session.member.nick))
            invited.outbox.put(Batch((Wire(text),)))
        else:
            invited.outbox.put(Batch((Notice(
                f"{session.member.nick} invites you to {room}: /join {room}"
            ),)))

    def _ban_mode(self, session: ChatSession, room: str, sign: str, target: str | None) -> None:
        if target is None:
            where, bans = self.moderator.bans(session, room=room)
            shown = channel(LOBBY if where is None else where)
            self.send([
                *(self.viewer.numeric("367", shown, ban_mask(target_text(ban.target)), ban.by,
                                      str(int(ban.since))) for ban in bans),
                self.viewer.numeric("368", shown, "End of channel ban list"),
            ])
        elif sign == "+":
            self.moderator.ban(session, _ban_target(target), "", "", room=room)
        else:
            self.moderator.unban(session, _ban_target(target), room=room)

    def _user_mode(self, nick: str, changes: list[str]) -> None:
        if self.registry.find(nick) is None:
            self.send([self.viewer.numeric("401", nick, "No such nick/channel")])
        elif fold(nick) != fold(self.viewer.nick):
            self.send([self.viewer.numeric("502", "Can't change mode for other users")])
        elif not changes:
            self.send([self.viewer.numeric("221", "+" + "".join(sorted(self.user_modes)))])
        elif set(changes[0]) - set("+-iw"):
            self.send([self.viewer.numeric("501", "Unknown MODE flag")])
        else:
            self._change_user_modes(changes[0])

    def _change_user_modes(self, changes: str) -> None:
        """+i (not listed by a WHO mask to those sharing no channel) and +w (wallops)."""
        sign, shown, last_sign = "+", "", ""
        for letter in changes:
            if letter in "+-":
                sign = letter
            elif (letter in self.user_modes) != (sign == "+"):
                if sign == "+":
                    self.user_modes.add(letter)
                else:
                    self.user_modes.discard(letter)
                shown += ("" if sign == last_sign else sign) + letter
                last_sign = sign
        if shown:
            self.send([line("MODE", self.viewer.nick, shown, source=self.viewer.nick)])


def _invisible(member: Member) -> bool:
    """Whether ``member`` is an IRC user with user mode +i."""
    return "i" in getattr(member.client, "user_modes", ())


def _room(name: str) -> str:
    """The room of channel ``name``: it must start with ``#`` (ERR_NOSUCHCHANNEL)."""
    if not name.startswith("#"):
        raise InvalidRoomError(name)
    return room_name(name)


def _reason(text: str) -> str:
    reason = relayable(text).strip()
    encoded = reason.encode()
    return encoded[:KICK_MAX].decode("utf-8", "ignore") if len(encoded) > KICK_MAX else reason


def _ban_target(mask_: str) -> str:
    """What ``/ban`` reads in a ban mask: ``nick!*@*`` is the nickname, a bare word is itself."""
    nick, bang, rest = mask_.partition("!")
    if bang and rest in ("*@*", "*"):
        return nick
    return mask_


def _action_or_text(text: str, command: str) -> tuple[bool, str | None]:
    """Whether ``text`` is a CTCP ACTION, and what to relay (None: another CTCP, or an
    ACTION in a NOTICE: not relayed)."""
    if text.startswith("\x01"):
        extracted = ctcpExtract(text)
        for tag, data in extracted["extended"]:
            if command == "PRIVMSG" and tag.upper() == "ACTION" and data and (
                relayable(data).strip()
            ):
                return True, relayable(data).strip()
        return False, None
    relayed = relayable(text)
    return False, relayed if relayed.strip() else None
