"""The chat domain: who is online, in which room, and who receives what.

Nothing here knows about sockets or lines. A front end (the line protocol,
or a test) implements :class:`Client` and drives the :class:`Registry`.

Fan-out is batched: consecutive events that one member sends to one room
are collected and delivered as one :class:`~chat.events.Batch` when the
front end calls :meth:`Registry.flush` (at the end of each chunk of input)
or as soon as anything else is delivered. Every recipient therefore sees
every event in the one order in which the registry handled them.
"""

from __future__ import annotations

from typing import Protocol

from twisted.logger import Logger

from chat.events import Action, Batch, Event, Message, Notice, Private, PrivateSent
from chat.text import fold, nickname_problem

LOBBY = "lobby"

log = Logger()


class ChatError(Exception):
    """A request the chat cannot carry out; the message says why."""


class Client(Protocol):
    """The front end of one member: where that member's events go."""

    def deliver(self, batch: Batch) -> None:
        """Show the events of ``batch`` to the member, in order."""


class Member:
    """One user who has chosen a nickname."""

    __slots__ = ("client", "key", "nick", "room")

    def __init__(self, nick: str, client: Client) -> None:
        self.nick = nick
        self.key = fold(nick)
        self.client = client
        self.room: Room | None = None

    def __repr__(self) -> str:
        return f"<Member {self.nick}>"


class Room:
    """Members who receive each other's messages."""

    __slots__ = ("members", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[str, Member] = {}

    def nicks(self) -> list[str]:
        """Nicknames of the members, in the order they came in."""
        return [member.nick for member in self.members.values()]


class Registry:
    """Every member and room of one chat server."""

    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self.rooms: dict[str, Room] = {}
        self._pending: list[Event] = []
        self._pending_room: Room | None = None
        self._pending_sender: Member | None = None

    def __len__(self) -> int:
        return len(self.members)

    def find(self, nick: str) -> Member | None:
        """The member with this nickname, ignoring case, if any."""
        return self.members.get(fold(nick))

    def join(self, nick: str, client: Client) -> Member:
        """Make ``client`` a member under ``nick`` and put it in the lobby."""
        self._claim(nick)
        member = Member(nick, client)
        self.members[member.key] = member
        self._enter(member, self._room(LOBBY))
        return member

    def rename(self, member: Member, nick: str) -> None:
        """Change a member's nickname; the room hears of it."""
        if nick == member.nick:
            raise ChatError(f"you are already {nick}")
        if fold(nick) != member.key:
            self._claim(nick)
        old = member.nick
        log.info("{old} is now known as {new}", old=old, new=nick)
        del self.members[member.key]
        member.nick, member.key = nick, fold(nick)
        self.members[member.key] = member
        if member.room is not None:
            room = member.room
            del room.members[fold(old)]
            room.members[member.key] = member
            self._publish(room, None, Notice(f"{old} is now known as {nick}"))

    def leave(self, member: Member, reason: str) -> None:
        """Remove a member; the room hears that it left and why."""
        if self.members.get(member.key) is not member:
            return
        del self.members[member.key]
        if member.room is not None:
            self._exit(member, f"{member.nick} has left ({reason})")

    def clear(self) -> None:
        """Forget every member and room at once, telling no one (the server stops)."""
        self.flush()
        for member in self.members.values():
            member.room = None
        self.members.clear()
        self.rooms.clear()

    def say(self, member: Member, text: str) -> None:
        """Send a message to every other member of the member's room."""
        self._publish(self._room_of(member), member, Message(member.nick, text))

    def act(self, member: Member, text: str) -> None:
        """Send an action (``/me``) to every other member of the room."""
        self._publish(self._room_of(member), member, Action(member.nick, text))

    def whisper(self, member: Member, nick: str, text: str) -> None:
        """Send a private message to one member, in any room."""
        target = self.find(nick)
        if target is None:
            raise ChatError(f'no user is called "{nick}"')
        self.flush()
        target.client.deliver(Batch((Private(member.nick, text),)))
        member.client.deliver(Batch((PrivateSent(target.nick, text),)))

    def flush(self) -> None:
        """Deliver the events collected so far."""
        room, sender, events = self._pending_room, self._pending_sender, self._pending
        if room is None:
            return
        self._pending_room = self._pending_sender = None
        self._pending = []
        batch = Batch(tuple(events))
        for member in room.members.values():
            if member is not sender:
                member.client.deliver(batch)

    def _claim(self, nick: str) -> None:
        problem = nickname_problem(nick)
        if problem is not None:
            raise ChatError(problem)
        if fold(nick) in self.members:
            raise ChatError(f'nickname "{nick}" is taken')

    def _room(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name)
        return room

    @staticmethod
    def _room_of(member: Member) -> Room:
        if member.room is None:
            raise ChatError("you are not in a room")
        return member.room

    def _enter(self, member: Member, room: Room) -> None:
        self.flush()
        room.members[member.key] = member
        member.room = room
        self._publish(room, member, Notice(f"{member.nick} has joined"))

    def _exit(self, member: Member, notice: str) -> None:
        room = self._room_of(member)
        self.flush()
        del room.members[member.key]
        member.room = None
        self._publish(room, member, Notice(notice))
        if not room.members and room.name != LOBBY:
            del self.rooms[room.name]

    def _publish(self, room: Room, sender: Member | None, event: Event) -> None:
        if room is not self._pending_room or sender is not self._pending_sender:
            self.flush()
            self._pending_room, self._pending_sender = room, sender
        self._pending.append(event)
