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
from chat.domain.events import LeaveReason, Quit
from chat.domain.registry import Member, Registry
from chat.line.render import describe_error
from chat.session.connection import Connection
from chat.session.login import ChatSession
from chat.text import number, relayable, visible

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

    def command_nick(self, args: str) -> Deferred[None]:
        """/nick NEW: changes your nickname"""
        if not args:
            raise UsageError
        return self._session().rename(args)

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
        self.registry.act(self._member(), action)

    def command_msg(self, args: str) -> None:
        """/msg NICK TEXT: sends a private message to one user"""
        nick, _, text = args.partition(" ")
        text = relayable(text).strip()
        if not nick or not text:
            raise UsageError
        self.registry.whisper(self._member(), nick, text)

    def command_join(self, args: str) -> Deferred[None]:
        """/join ROOM: moves you to ROOM, creating it if nobody is there"""
        if not args or " " in args:
            raise UsageError
        return self.registry.move(self._member(), args).addCallback(self.charge_history)

    def command_rooms(self, args: str) -> None:
        """/rooms: lists the rooms and how many are in each"""
        if args:
            raise UsageError
        rooms = self.registry.room_list()
        listed = ", ".join(f"{name} ({count})" for name, count in rooms)
        self.notify(f"{len(rooms)} rooms: {listed}" if len(rooms) != 1 else f"1 room: {listed}")

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
        if not args or " " in args:
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
        if not args or " " in args:
            raise UsageError
        session = self._session()
        return session.unregister(args).addCallback(
            lambda _: self.notify(f"{session.member.nick} is no longer registered")
        )

    def command_quit(self, args: str) -> None:
        """/quit [REASON]: leaves the chat"""
        reason = relayable(args).strip()
        self.quit(Quit(reason))
