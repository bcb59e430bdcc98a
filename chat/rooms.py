"""The chat domain: who is online, in which room, and who receives what.

Nothing here knows about sockets or lines. A front end (the line protocol,
or a test) implements :class:`Client` and drives the :class:`Registry`.

Fan-out is batched: what is said in a room within :data:`FLUSH_DELAY` is
delivered to each member as one :class:`~chat.events.Batch` (one write per
member, however many messages), then or as soon as anything else is
delivered, whichever comes first. Every recipient
therefore sees every event in the one order in which the registry handled
them. Without a clock, :meth:`Registry.flush` delivers.

In a crowded room (more than ``crowd`` members) join and leave notices are
gathered for ``crowd_delay`` seconds and announced together, so that a
thousand people arriving cost a few notices, not a million.
"""

from __future__ import annotations

import re
import time
from typing import Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from chat.events import (
    Action,
    Batch,
    Event,
    Message,
    Notice,
    Past,
    Private,
    PrivateSent,
    Said,
    Sent,
)
from chat.history import History
from chat.text import fold, nickname_problem, visible

LOBBY = "lobby"

FLUSH_DELAY = 0.0005
"""Seconds what is said waits, gathered, before it is sent: half a millisecond
turns many small writes per member into one, for a delay no one sees."""
ROOM_MAX = 32
_ROOM_NAME = re.compile(rf"#?([A-Za-z0-9_-]{{1,{ROOM_MAX}}})")
NAMES_SHOWN = 5

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

    __slots__ = ("arrived", "departed", "key", "members", "name", "pending_notice")

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = fold(name)
        self.members: dict[str, Member] = {}
        self.arrived: list[str] = []
        self.departed: list[str] = []
        self.pending_notice: IDelayedCall | None = None

    def nicks(self) -> list[str]:
        """Nicknames of the members, in the order they came in."""
        return [member.nick for member in self.members.values()]


def room_name(text: str) -> str:
    """The room name in ``text`` (a leading ``#`` is allowed), or ChatError."""
    match = _ROOM_NAME.fullmatch(text)
    if match is None:
        raise ChatError(
            f'room name "{visible(text)}" is invalid: use 1 to {ROOM_MAX} letters, digits, _ or -'
        )
    return match.group(1)


def _as_seen_by(member: Member, sender: Member | None, event: Event) -> Event | None:
    """What ``member`` gets of ``event``: of its own messages only their ids."""
    if sender is not member:
        return event
    if isinstance(event, Message | Action):
        return Sent(event.id)
    return None


def _people(count: int) -> str:
    return "1 user" if count == 1 else f"{count} users"


def _names(nicks: list[str]) -> str:
    shown = ", ".join(nicks[:NAMES_SHOWN])
    rest = len(nicks) - NAMES_SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown


class Registry:
    """Every member and room of one chat server."""

    def __init__(
        self,
        history: History | None = None,
        clock: IReactorTime | None = None,
        *,
        replay: int = 20,
        crowd: int = 100,
        crowd_delay: float = 1.0,
    ) -> None:
        self.members: dict[str, Member] = {}
        self.rooms: dict[str, Room] = {}
        self.history = history if history is not None else History()
        self.clock = clock
        self.replay = replay
        self.crowd = crowd if clock is not None else 0
        self.crowd_delay = crowd_delay
        self._pending: dict[Room, list[tuple[Member | None, Event]]] = {}
        self._flush_call: IDelayedCall | None = None

    def __len__(self) -> int:
        return len(self.members)

    def _now(self) -> float:
        return self.clock.seconds() if self.clock is not None else time.time()

    def find(self, nick: str) -> Member | None:
        """The member with this nickname, ignoring case, if any."""
        return self.members.get(fold(nick))

    def join(
        self, nick: str, client: Client, room: str = LOBBY, after: int | None = None
    ) -> Member:
        """Make ``client`` a member under ``nick`` and put it in ``room``.

        The new member is welcomed and shown the room's recent history, or
        everything after message ``after`` when it is given.
        """
        self._claim(nick)
        target = self._room(room)
        member = Member(nick, client)
        self.members[member.key] = member
        others = len(target.members)
        where = (
            f"You are in {target.name} with {others} other{'s' if others > 1 else ''}"
            if others else f"You are the first in {target.name}"
        )
        client.deliver(Batch((Notice(
            f"Welcome, {nick}! {where}; {len(self.members)} online. Type /help for the commands."
        ),)))
        self._enter(member, target, after)
        return member

    def rename(self, member: Member, nick: str) -> None:
        """Change a member's nickname; the room hears of it."""
        if nick == member.nick:
            raise ChatError(f"you are already {nick}")
        self._claim(nick, allow=member)
        old = member.nick
        log.info("{old} is now known as {new}", old=old, new=nick)
        del self.members[member.key]
        member.nick, member.key = nick, fold(nick)
        self.members[member.key] = member
        room = self._room_of(member)
        del room.members[fold(old)]
        room.members[member.key] = member
        self._publish(room, None, Notice(f"{old} is now known as {nick}"))

    def leave(self, member: Member, reason: str) -> None:
        """Remove a member; the room hears that it left and why."""
        if self.members.get(member.key) is not member:
            return
        del self.members[member.key]
        if member.room is not None:
            self._exit(member, f"({reason})")

    def move(self, member: Member, room: str, after: int | None = None) -> int:
        """Take a member to another room; both rooms hear of it.

        Returns how many history entries the member was shown there.
        """
        target = self._room(room)
        current = self._room_of(member)
        if target is current:
            if after is None:
                raise ChatError(f"you are already in {current.name}")
            return self._replay(member, target, after)
        self._exit(member, f"(went to {target.name})")
        others = len(target.members)
        member.client.deliver(Batch((Notice(
            f"you are now in {target.name} with {others} other{'' if others == 1 else 's'}"
        ),)))
        return self._enter(member, target, after)

    def room_list(self) -> list[tuple[str, int]]:
        """Every room with its member count, the lobby first, then by name."""
        rooms = sorted(self.rooms.values(), key=lambda room: (room.name != LOBBY, room.key))
        return [(room.name, len(room.members)) for room in rooms]

    def show_history(self, member: Member, count: int) -> int:
        """Show a member the last ``count`` entries of its room; returns how many there were."""
        room = self._room_of(member)
        self.flush()
        entries = self.history.recent(room.key, count)
        if not entries:
            member.client.deliver(Batch((Notice(f"{room.name} has no history yet"),)))
            return 0
        self._send_history(member, room, entries, dropped=False)
        return len(entries)

    def clear(self) -> None:
        """Forget every member and room at once, telling no one (the server stops)."""
        self.flush()
        for room in self.rooms.values():
            if room.pending_notice is not None and room.pending_notice.active():
                room.pending_notice.cancel()
        for member in self.members.values():
            member.room = None
        self.members.clear()
        self.rooms.clear()

    def say(self, member: Member, text: str) -> None:
        """Send a message to every other member of the member's room."""
        room = self._room_of(member)
        said = Message(member.nick, text, self.history.next_id(), self._now())
        self.history.record(room.key, said)
        self._publish(room, member, said)

    def act(self, member: Member, text: str) -> None:
        """Send an action (``/me``) to every other member of the room."""
        room = self._room_of(member)
        said = Action(member.nick, text, self.history.next_id(), self._now())
        self.history.record(room.key, said)
        self._publish(room, member, said)

    def whisper(self, member: Member, nick: str, text: str) -> None:
        """Send a private message to one member, in any room."""
        target = self.find(nick)
        if target is None:
            raise ChatError(f'no user is called "{visible(nick)}"')
        self.flush()
        target.client.deliver(Batch((Private(member.nick, text),)))
        member.client.deliver(Batch((PrivateSent(target.nick, text),)))

    def flush(self) -> None:
        """Deliver the events collected so far.

        Each member receives one batch per room: everything said there since
        the last flush, less what the member said itself.
        """
        if self._flush_call is not None:
            if self._flush_call.active():
                self._flush_call.cancel()
            self._flush_call = None
        pending, self._pending = self._pending, {}
        for room, said in pending.items():
            everything = Batch(tuple(event for _, event in said))
            senders = {sender for sender, _ in said if sender is not None}
            for member in room.members.values():
                if member not in senders:
                    member.client.deliver(everything)
            if senders:
                self._deliver_to_senders(room, said, senders)

    @staticmethod
    def _deliver_to_senders(
        room: Room, said: list[tuple[Member | None, Event]], senders: set[Member]
    ) -> None:
        """Give each sender what others said, and only the ids of what it said.

        The events are cut into runs by sender; each run is one batch shared
        by every sender's view, so it is rendered once however many senders
        there are.
        """
        runs: list[tuple[Member | None, Batch, Batch | None]] = []
        start = 0
        for end in range(1, len(said) + 1):
            if end == len(said) or said[end][0] is not said[start][0]:
                sender = said[start][0]
                events = tuple(event for _, event in said[start:end])
                acks = None
                if sender is not None:
                    seen = (_as_seen_by(sender, sender, event) for event in events)
                    acks = Batch(tuple(event for event in seen if event is not None))
                runs.append((sender, Batch(events), acks))
                start = end
        for member in senders:
            if member.room is not room:
                continue
            parts: list[Batch] = []
            for who, run, acks in runs:
                if who is not member:
                    parts.append(run)
                elif acks is not None and acks.events:
                    parts.append(acks)
            if parts:
                member.client.deliver(Batch.joined(tuple(parts)))

    def _claim(self, nick: str, allow: Member | None = None) -> None:
        problem = nickname_problem(nick)
        if problem is not None:
            raise ChatError(problem)
        holder = self.members.get(fold(nick))
        if holder is not None and holder is not allow:
            raise ChatError(f'nickname "{nick}" is taken')

    def _room(self, name: str) -> Room:
        name = room_name(name)
        room = self.rooms.get(fold(name))
        if room is None:
            room = self.rooms[fold(name)] = Room(name)
        return room

    @staticmethod
    def _room_of(member: Member) -> Room:
        if member.room is None:
            raise ChatError("you are not in a room")
        return member.room

    def _enter(self, member: Member, room: Room, after: int | None) -> int:
        self.flush()
        room.members[member.key] = member
        member.room = room
        self._announce(room, member, arrived=True)
        return self._replay(member, room, after)

    def _exit(self, member: Member, why: str) -> None:
        room = self._room_of(member)
        self.flush()
        del room.members[member.key]
        member.room = None
        self._announce(room, member, arrived=False, why=why)
        if not room.members and room.key != LOBBY and room.pending_notice is None:
            del self.rooms[room.key]

    def _replay(self, member: Member, room: Room, after: int | None) -> int:
        if after is None:
            entries, dropped = self.history.recent(room.key, self.replay), False
        else:
            entries, dropped = self.history.since(room.key, after)
        if entries or dropped:
            self._send_history(member, room, entries, dropped)
        return len(entries)

    @staticmethod
    def _send_history(member: Member, room: Room, entries: list[Said], dropped: bool) -> None:
        events: list[Event] = []
        if dropped:
            events.append(Notice(f"older messages of {room.name} are no longer kept"))
        if entries:
            last = "last message" if len(entries) == 1 else f"last {len(entries)} messages"
            events.append(Notice(f"history of {room.name}, {last}:"))
            events.extend(Past(said) for said in entries)
            events.append(Notice("end of history"))
        member.client.deliver(Batch(tuple(events)))

    def _announce(self, room: Room, member: Member, arrived: bool, why: str = "") -> None:
        if self.crowd and len(room.members) > self.crowd:
            if arrived:
                room.arrived.append(member.nick)
            else:
                room.departed.append(f"{member.nick} {why}")
            if room.pending_notice is None:
                assert self.clock is not None
                room.pending_notice = self.clock.callLater(
                    self.crowd_delay, self._announce_gathered, room
                )
            return
        verb = "has joined" if arrived else f"has left {why}"
        self._publish(room, member, Notice(f"{member.nick} {verb}"))

    def _announce_gathered(self, room: Room) -> None:
        room.pending_notice = None
        arrived, departed = room.arrived, room.departed
        room.arrived, room.departed = [], []
        if arrived:
            self._publish(room, None, Notice(f"{_people(len(arrived))} joined: {_names(arrived)}"))
        if departed:
            self._publish(room, None, Notice(f"{_people(len(departed))} left: {_names(departed)}"))
        self.flush()
        if not room.members and room.key != LOBBY and self.rooms.get(room.key) is room:
            del self.rooms[room.key]

    def _publish(self, room: Room, sender: Member | None, event: Event) -> None:
        said = self._pending.get(room)
        if said is None:
            said = self._pending[room] = []
            if self._flush_call is None and self.clock is not None:
                self._flush_call = self.clock.callLater(FLUSH_DELAY, self.flush)
        said.append((sender, event))
