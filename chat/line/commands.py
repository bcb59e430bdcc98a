"""The slash commands a member can use, dispatched by name.

Each command is one ``command_NAME`` method whose docstring's first line
is its usage, ``/name ARGS: what it does``; ``/help`` is built from those
lines. Adding a command is adding one method.

Commands get their arguments as typed, so that a nickname is checked as
typed: what a command relays it passes through :func:`~chat.text.relayable`,
what it echoes in an error through :func:`~chat.text.visible`. A refusal of
the domain (:class:`~chat.domain.errors.ChatError`) is answered with its
line from :func:`~chat.line.render.describe_error`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from chat.domain.errors import ChatError, NotInRoomError, NotJoinedError
from chat.domain.events import Batch, LeaveReason, Quit
from chat.domain.registry import Member, Registry, room_name
from chat.line.render import describe_error, describe_whois, until_text
from chat.moderation import target_text
from chat.session.connection import Connection
from chat.session.login import ChatSession
from chat.session.moderator import Moderator
from chat.text import fold, number, relayable, visible

CommandHandler = Callable[[str], "Deferred[Any] | None"]
"""A command: done when it returns, or when the Deferred it returns fires."""


class UsageError(Exception):
    """A command was used the wrong way; its usage line says the right way."""


def usage_of(handler: CommandHandler) -> str:
    """The usage line of a command: the first line of its docstring."""
    return (handler.__doc__ or "").strip().splitlines()[0]


class Commands:
    """Commands of one member's session, for a front end to mix in.

    The front end provides the member, the registry, its connection, the
    four ways of answering below and the pacing of what a command costs.
    A command whose work waits (a nickname claim, a history read) returns
    a Deferred; its refusal is answered when it comes.
    """

    registry: Registry
    connection: Connection

    def member_or_none(self) -> Member | None:
        raise NotImplementedError

    def notify(self, text: str) -> None:
        raise NotImplementedError

    def refuse(self, text: str) -> None:
        raise NotImplementedError

    def quit(self, reason: LeaveReason) -> None:
        raise NotImplementedError

    def charge_history(self, shown: int) -> None:
        """Count ``shown`` history lines just sent against the member's flood pacing."""
        raise NotImplementedError

    def run_command(self, line: str) -> None:
        """Carry out ``line``, a command without its leading slash."""
        name, _, args = line.partition(" ")
        handler = self.handler_for(name)
        if handler is None:
            self.refuse(f"unknown command /{visible(name)}; type /help for the list of commands")
            return
        try:
            done = handler(args.strip())
        except UsageError:
            self.refuse("usage: " + usage_of(handler).partition(":")[0])
        except ChatError as error:
            self.refuse(describe_error(error))
        else:
            if done is not None:
                done.addErrback(self._refused)

    def _refused(self, failure: Failure) -> None:
        if failure.check(ChatError):
            self.refuse(describe_error(failure.value))  # type: ignore[arg-type]
        else:
            self.connection.internal_error(failure)

    def handler_for(self, name: str) -> CommandHandler | None:
        """The handler of command ``name`` (any case), if there is one."""
        if not (name.isascii() and name.isalpha()):
            return None
        handler: CommandHandler | None = getattr(self, "command_" + name.lower(), None)
        return handler

    @classmethod
    def known_commands(cls) -> list[str]:
        """Every command's name, in alphabetical order."""
        return sorted(
            attribute.removeprefix("command_")
            for attribute in dir(cls)
            if attribute.startswith("command_")
        )

    def _member(self) -> Member:
        member = self.member_or_none()
        if member is None:
            raise NotJoinedError()
        return member

    def command_help(self, args: str) -> None:
        """/help [COMMAND]: lists the commands, or explains one"""
        if args:
            handler = self.handler_for(args.removeprefix("/"))
            if handler is None:
                self.refuse(f"no command is called {visible(args)}; type /help for the list")
                return
            self.notify(usage_of(handler))
            return
        self.notify("Commands (type /help COMMAND for one):")
        for name in self.known_commands():
            self.notify("  " + usage_of(self.handler_for(name)))  # type: ignore[arg-type]
        self.notify("Anything else you type is sent to the room; start it with // to send /.")

    def _session(self) -> ChatSession:
        session = self.connection.session
        if session is None:
            raise NotJoinedError()
        return session

    @property
    def moderator(self) -> Moderator:
        return self.connection.server.moderator

    def command_nick(self, args: str) -> Deferred[None]:
        """/nick NEW: changes your nickname"""
        if not args:
            raise UsageError
        session = self._session()
        self.moderator.check_speech(session.member, None)
        return session.rename(args)

    def command_who(self, args: str) -> None:
        """/who: lists the members of your room"""
        if args:
            raise UsageError
        member = self._member()
        room = member.room
        if room is None:
            raise NotInRoomError()
        nicks = room.nicks()
        people = "1 user" if len(nicks) == 1 else f"{len(nicks)} users"
        self.notify(f"{people} in {room.name}: {', '.join(nicks)}")

    def command_me(self, args: str) -> None:
        """/me ACTION: tells the room what you are doing"""
        action = relayable(args).strip()
        if not action:
            raise UsageError
        member = self._member()
        self.moderator.check_speech(member)
        self.registry.act(member, action)

    def command_msg(self, args: str) -> Deferred[None] | None:
        """/msg NICK TEXT: sends a private message to one user"""
        nick, _, text = args.partition(" ")
        text = relayable(text).strip()
        if not nick or not text:
            raise UsageError
        session = self._session()
        self.moderator.check_speech(session.member, None)
        return session.whisper(nick, text)

    def command_join(self, args: str) -> Deferred[None]:
        """/join ROOM [KEY]: moves you to ROOM, made if nobody is there (with its KEY, if any)"""
        words = args.split(" ")
        if not args or len(words) > 2:
            raise UsageError
        room, join_key = words[0], words[1] if len(words) > 1 else ""
        session = self._session()
        self.moderator.check_room(session, room, join_key)
        created = self.registry.rooms.get(fold(room_name(room))) is None
        moved = self.registry.move(session.member, room)
        self.moderator.entered(session, room_name(room), created)
        return moved.addCallback(self.charge_history)

    def command_rooms(self, args: str) -> Deferred[None]:
        """/rooms: lists the rooms and how many are in each"""
        if args:
            raise UsageError
        member = self._member()

        def listed(everywhere: list[tuple[str, int]]) -> None:
            rooms = [
                (name, count) for name, count in everywhere
                if not self.moderator.hidden(member, fold(name))
            ]
            names = ", ".join(f"{name} ({count})" for name, count in rooms)
            self.notify(f"{len(rooms)} rooms: {names}" if len(rooms) != 1 else f"1 room: {names}")

        return self.registry.rooms_everywhere().addCallback(listed)

    def command_history(self, args: str) -> Deferred[None] | None:
        """/history [N]: shows the last N messages of your room (default 50)"""
        limit = self.registry.history.keep
        count = number(args) if args else min(50, limit)
        if count is None or not 1 <= count <= limit:
            self.refuse(f"usage: /history [N], with N from 1 to {limit}")
            return None
        return self.registry.show_history(self._member(), count).addCallback(self.charge_history)

    def command_register(self, args: str) -> Deferred[None]:
        """/register PASSWORD: registers your nickname; next time it asks for the password"""
        if not args:
            raise UsageError
        session = self._session()
        return session.register(args).addCallback(
            lambda _: self.notify(
                f"{session.member.nick} is registered: from now on it asks for its password"
            )
        )

    def command_password(self, args: str) -> Deferred[None]:
        """/password OLD NEW: changes the password of your account"""
        words = args.split(" ")
        if len(words) != 2 or not all(words):
            raise UsageError
        return self._session().change_password(*words).addCallback(
            lambda _: self.notify("password changed")
        )

    def command_unregister(self, args: str) -> Deferred[None]:
        """/unregister PASSWORD: deletes your account; your nickname is then free for anyone"""
        if not args:
            raise UsageError
        session = self._session()
        return session.unregister(args).addCallback(
            lambda _: self.notify(f"{session.member.nick} is no longer registered")
        )

    # Moderation

    def command_kick(self, args: str) -> None:
        """/kick NICK [REASON]: puts NICK out of your room, back to the lobby (operators)"""
        nick, _, reason = args.partition(" ")
        if not nick:
            raise UsageError
        self.moderator.kick(self._session(), nick, relayable(reason).strip())

    def command_ban(self, args: str) -> None:
        """/ban TARGET [DURATION] [REASON]: bans a nickname, account or address from your room"""
        target, _, rest = args.partition(" ")
        if not target:
            raise UsageError
        duration, _, reason = rest.strip().partition(" ")
        if not duration[:1].isdigit():
            # No duration: the reason starts there. One that starts with a digit
            # is meant as a duration, and refused if it is none.
            duration, reason = "", rest
        self.moderator.ban(self._session(), target, duration, relayable(reason).strip())

    def command_unban(self, args: str) -> None:
        """/unban TARGET: lifts a ban of your room (the lobby: of the server)"""
        if not args or " " in args:
            raise UsageError
        self.moderator.unban(self._session(), args)

    def command_bans(self, args: str) -> None:
        """/bans: lists the bans of your room (the lobby: of the server)"""
        if args:
            raise UsageError
        where, bans = self.moderator.bans(self._session())
        place = "the server" if where is None else where
        if not bans:
            self.notify(f"nobody is banned from {place}")
            return
        self.notify(f"{len(bans)} banned from {place}:")
        for ban in bans:
            why = f": {ban.reason}" if ban.reason else ""
            self.notify(f"  {target_text(ban.target)} by {ban.by} {until_text(ban.until)}{why}")

    def command_mute(self, args: str) -> None:
        """/mute NICK [DURATION]: nothing NICK says reaches anyone in your room"""
        nick, _, duration = args.partition(" ")
        if not nick or " " in duration.strip():
            raise UsageError
        self.moderator.mute(self._session(), nick, duration.strip())

    def command_unmute(self, args: str) -> None:
        """/unmute NICK: lifts a mute of your room (the lobby: of the server)"""
        if not args or " " in args:
            raise UsageError
        self.moderator.unmute(self._session(), args)

    def command_topic(self, args: str) -> None:
        """/topic [TEXT]: shows the topic of your room, or sets it (/topic - clears it)"""
        session = self._session()
        text = relayable(args).strip()
        if not text:
            self.connection.tell(Batch((self.moderator.topic(session),)))
            return
        self.moderator.set_topic(session, "" if text == "-" else text)

    def command_topicops(self, args: str) -> None:
        """/topicops on|off: whether only operators may set the topic of your room (operators)"""
        if args.lower() not in ("on", "off"):
            raise UsageError
        session = self._session()
        self.moderator.topic_ops_only(session, args.lower() == "on")
        room = session.member.room.name if session.member.room else ""
        who = "only its operators" if args.lower() == "on" else "anyone in it"
        self.notify(f"the topic of {room} may now be set by {who}")

    def command_op(self, args: str) -> None:
        """/op NICK: makes NICK an operator of your room (its owner and server operators)"""
        if not args or " " in args:
            raise UsageError
        if not self.moderator.op(self._session(), args, grant=True):
            self.notify(f"{args} is an operator of your room already")

    def command_deop(self, args: str) -> None:
        """/deop NICK: takes operator status in your room from NICK"""
        if not args or " " in args:
            raise UsageError
        if not self.moderator.op(self._session(), args, grant=False):
            self.notify(f"{args} is not an operator of your room (an owner stays one)")

    def command_whois(self, args: str) -> None:
        """/whois NICK: who NICK is: account, since when, idle time, room, away"""
        if not args or " " in args:
            raise UsageError
        self.notify(describe_whois(self.moderator.whois(args)))

    def command_away(self, args: str) -> None:
        """/away [MESSAGE]: marks you away with MESSAGE, or back without one"""
        message = relayable(args).strip()
        Moderator.set_away(self._session(), message or None)
        self.notify(f"you are marked as away: {message}" if message else "you are back")

    def command_quit(self, args: str) -> None:
        """/quit [REASON]: leaves the chat"""
        reason = relayable(args).strip()
        self.quit(Quit(reason))
