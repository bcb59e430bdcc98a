"""The chat domain: who is online, in which rooms, and who receives what.

Nothing here knows about sockets, lines or wording. A front end (the line
protocol, or a test) implements :class:`~chat.domain.outbox.Client`, drives
the :class:`Registry` and renders the :mod:`~chat.domain.events` it is
given; refusals are the typed :mod:`~chat.domain.errors`. Everything a
member is shown goes through its :class:`~chat.domain.outbox.Outbox`, in
order.

What a cluster of servers would share is reached through the ports of
:mod:`chat.ports`: message ids from a :class:`~chat.ports.Sequencer`,
history in a :class:`~chat.ports.HistoryStore` (read with Deferreds: the
history a member is shown keeps its place in the outbox until it is read),
and a room's events through a :class:`~chat.ports.Bus`, to which the
registry subscribes each room that has members here. Nickname claims (the
:class:`~chat.ports.Directory`) are made before a member is created, by
:mod:`chat.session.login`; the registry only keeps its own members apart.

When the chat spans several processes, a bus tells each room's subscriber
who is in the room elsewhere (:class:`~chat.domain.events.Present`, then
the joins and leaves of other processes' members): :attr:`Room.elsewhere`,
shown by :meth:`Room.nicks` and counted by :meth:`Registry.room_list`. A
private message to a nickname nobody here holds goes through the
:class:`~chat.ports.Courier` given as ``courier``, to whichever process
serves it; with none (one process), such a nickname is nobody. When the
bus cannot take what a member says (:class:`~chat.ports.BusUnavailableError`)
the member is refused with :class:`~chat.domain.errors.BackboneUnavailableError`.

A member may be in several rooms (:attr:`Member.rooms`, in the order it
entered them) and hears each of them; the one it entered last is its
current room (:attr:`Member.room`), where :meth:`Registry.say` speaks when
no room is named. The line protocol keeps one room per member by moving
(:meth:`Registry.move`) rather than joining more.

Fan-out is batched: what is said in a room within :data:`FLUSH_DELAY` is
delivered to each member as one :class:`~chat.domain.events.Batch` (one
write per member, however many messages), then or as soon as anything
else is delivered, whichever comes first. Every recipient therefore sees
every event in the one order in which the registry handled them: a member
in several rooms too, because the events of a room with such members are
not gathered past those of another room. Without a clock,
:meth:`Registry.flush` delivers.

In a crowded room (more than ``crowd`` members) join and leave events are
gathered for ``crowd_delay`` seconds and told together
(:class:`~chat.domain.events.CrowdJoined`, :class:`~chat.domain.events.CrowdLeft`),
so that a thousand people arriving cost a few events, not a million.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable
from typing import Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.domain.errors import (
    AlreadyInRoomError,
    AlreadyNamedError,
    BackboneUnavailableError,
    InvalidRoomError,
    NicknameInvalidError,
    NicknameTakenError,
    NoSuchUserError,
    NotInRoomError,
)
from chat.domain.events import (
    Action,
    Arrived,
    Attendee,
    Away,
    AwayChanged,
    Batch,
    CrowdJoined,
    CrowdLeft,
    Departure,
    Entered,
    Event,
    HistoryEnd,
    HistoryMissed,
    HistoryStart,
    Joined,
    LeaveReason,
    Left,
    Message,
    Moved,
    NoHistory,
    Noticed,
    Past,
    Present,
    Private,
    PrivateNotice,
    PrivateSent,
    Renamed,
    Said,
    Sent,
    Topic,
    Welcome,
    WentTo,
)
from chat.domain.outbox import Client, Outbox, Reservation
from chat.history import History
from chat.local.bus import LocalBus
from chat.local.sequencer import LocalSequencer
from chat.ports.bus import Bus, BusUnavailableError, Census, Courier
from chat.ports.history import CatchUp, HistoryStore
from chat.ports.sequencer import Sequencer
from chat.text import fold, nickname_fault

LOBBY = "lobby"

PICTURE_WAIT = 2.0
"""Seconds a member entering a room this process only starts to serve waits, at most, for
the bus to say who is in it elsewhere (:class:`Present`) before it is told the room's size."""
FLUSH_DELAY = 0.0005
"""Seconds what is said waits, gathered, before it is sent: half a millisecond
turns many small writes per member into one, for a delay no one sees."""
ROOM_MAX = 32
_ROOM_NAME = re.compile(rf"#?([A-Za-z0-9_-]{{1,{ROOM_MAX}}})")

log = Logger()


RoomEvent = tuple[str | None, Event]
"""What goes over the bus: the id of the member who said it (None: nobody), and the event."""

_member_ids = itertools.count(1)


class RoomRules(Protocol):
    """What the registry asks about a room beyond its members (moderation answers it)."""

    def topic(self, room: str) -> Topic | None:
        """The topic shown to whoever enters the room called ``room``, if it has one."""

    def keeps(self, room_key: str) -> bool:
        """Whether the room keyed ``room_key`` stays when nobody is in it."""


class NoRules:
    """Rooms without topics, each forgotten once empty (the lobby excepted)."""

    def topic(self, room: str) -> Topic | None:
        return None

    def keeps(self, room_key: str) -> bool:
        return False


class Member:
    """One user who has chosen a nickname."""

    __slots__ = ("active", "away", "id", "key", "nick", "outbox", "room", "rooms", "since")

    def __init__(self, member_id: str, nick: str, outbox: Outbox, since: float = 0.0) -> None:
        self.id = member_id
        """Unique among the members of every registry on the same bus, ever."""
        self.nick = nick
        self.key = fold(nick)
        self.outbox = outbox
        self.rooms: dict[str, Room] = {}
        """The rooms the member is in, by key, in the order it entered them."""
        self.room: Room | None = None
        """The room it entered last, of those it is still in."""
        self.since = since
        """When it joined, in seconds since the epoch."""
        self.active = since
        """When it last said something (or joined)."""
        self.away: str | None = None
        """Why it is away (:class:`Away` answers private messages), or None."""

    @property
    def client(self) -> Client:
        """The member's front end."""
        return self.outbox.client

    def __repr__(self) -> str:
        return f"<Member {self.nick}>"


class Room:
    """Members who receive each other's messages."""

    __slots__ = (
        "arrived", "awaiting", "departed", "elsewhere", "key", "members", "name",
        "pending_notice", "picture_due", "pictured", "shared",
    )

    def __init__(self, name: str, pictured: bool = True) -> None:
        self.name = name
        self.key = fold(name)
        self.members: dict[str, Member] = {}
        self.elsewhere: dict[str, Attendee] = {}
        """Members of the room served by the chat's other processes, by nickname key."""
        self.shared = 0
        """How many of the members are in other rooms too."""
        self.arrived: list[str] = []
        self.departed: list[Departure] = []
        self.pending_notice: IDelayedCall | None = None
        self.pictured = pictured
        """Whether :attr:`elsewhere` is known (a bus that tells :class:`Present` tells it
        some time after this process starts to serve the room)."""
        self.awaiting: list[Callable[[], None]] = []
        """What waits for the room to be pictured (members entering it meanwhile are told
        of its size in their place), called then."""
        self.picture_due: IDelayedCall | None = None

    def nicks(self) -> list[str]:
        """Nicknames of the members, in the order they came in: those served here, then
        those served elsewhere."""
        return [member.nick for member in self.members.values()] + [
            attendee.nick for attendee in self.elsewhere.values()
        ]

    @property
    def size(self) -> int:
        """How many members the room has, here and elsewhere."""
        return len(self.members) + len(self.elsewhere)

    def _mirror(self, event: Event) -> None:
        """Keep :attr:`elsewhere` as another process's news of the room tells it."""
        match event:
            case Present(_, attendees):
                self.elsewhere = {
                    key: attendee for attendee in attendees
                    if (key := fold(attendee.nick)) not in self.members
                }
            case Joined(nick):
                if fold(nick) not in self.members:
                    self.elsewhere[fold(nick)] = Attendee(nick)
            case CrowdJoined(_, nicks):
                for nick in nicks:
                    if fold(nick) not in self.members:
                        self.elsewhere[fold(nick)] = Attendee(nick)
            case Left(nick):
                self.elsewhere.pop(fold(nick), None)
            case CrowdLeft(_, departures):
                for departure in departures:
                    self.elsewhere.pop(fold(departure.nick), None)
            case Renamed(old, new):
                attendee = self.elsewhere.pop(fold(old), None)
                if attendee is not None:
                    self.elsewhere[fold(new)] = Attendee(new, attendee.away)
            case AwayChanged(nick, message):
                attendee = self.elsewhere.get(fold(nick))
                if attendee is not None:
                    self.elsewhere[fold(nick)] = Attendee(attendee.nick, message)


def room_name(text: str) -> str:
    """The room name in ``text`` (a leading ``#`` is allowed), or :class:`InvalidRoomError`."""
    match = _ROOM_NAME.fullmatch(text)
    if match is None:
        raise InvalidRoomError(text)
    return match.group(1)


def _others(room: Room, member: Member) -> int:
    """How many members ``room`` has besides ``member``."""
    return room.size - (room.members.get(member.key) is member)


def _as_seen_by(member: Member, sender: Member | None, event: Event) -> Event | None:
    """What ``member`` gets of ``event``: of its own messages only their ids."""
    if sender is not member:
        return event
    if isinstance(event, Message | Action):
        return Sent(event.id)
    return None


class Registry:
    """Every member and room of one chat server."""

    def __init__(
        self,
        history: HistoryStore | None = None,
        clock: IReactorTime | None = None,
        *,
        sequencer: Sequencer | None = None,
        bus: Bus[RoomEvent] | None = None,
        replay: int = 20,
        crowd: int = 100,
        crowd_delay: float = 1.0,
        rules: RoomRules | None = None,
        courier: Courier[Event] | None = None,
        census: Census | None = None,
        picture_wait: float = PICTURE_WAIT,
        population: Callable[[], int] | None = None,
    ) -> None:
        self.members: dict[str, Member] = {}
        self.most_members = 0
        """The most members online at once since the server started."""
        self.rooms: dict[str, Room] = {}
        self.history: HistoryStore = history if history is not None else History()
        self.sequencer: Sequencer = sequencer if sequencer is not None else LocalSequencer()
        self.bus: Bus[RoomEvent] = bus if bus is not None else LocalBus()
        self.clock = clock
        self.replay = replay
        self.crowd = crowd if clock is not None else 0
        self.crowd_delay = crowd_delay
        self.rules: RoomRules = rules if rules is not None else NoRules()
        self.courier = courier
        self.census = census
        self.picture_wait = picture_wait
        self.population = population
        """How many members the whole chat has, as last known (None: those here), for the
        number online a welcome tells."""
        self._pictures_later = self.clock is not None and getattr(bus, "tells_present", False)
        """Whether a room starts unpictured: the bus tells :class:`Present` some time after
        a subscription, not during it."""
        if courier is not None:
            courier.receive(self._received)
        self._by_id: dict[str, Member] = {}
        self._origin = secrets.token_hex(8)
        """Makes this registry's member ids differ from those of other processes."""
        self._gather = self.flush
        """What every member's outbox calls before it delivers: one bound method for all."""
        self._pending: dict[Room, list[tuple[Member | None, Event]]] = {}
        self._last_pending: Room | None = None
        self._flush_call: IDelayedCall | None = None

    def __len__(self) -> int:
        return len(self.members)

    def online(self) -> int:
        """How many members the chat has, here and (with a ``population``) elsewhere."""
        here = len(self.members)
        return here if self.population is None else max(here, self.population())

    def _now(self) -> float:
        return self.clock.seconds() if self.clock is not None else time.time()

    def find(self, nick: str) -> Member | None:
        """The member with this nickname, ignoring case, if any."""
        return self.members.get(fold(nick))

    def find_elsewhere(self, nick: str) -> tuple[Attendee, list[str]] | None:
        """The member with this nickname served by another process, and its rooms that
        have members here, if any of them does."""
        key = fold(nick)
        found: Attendee | None = None
        rooms: list[str] = []
        for room in self.rooms.values():
            attendee = room.elsewhere.get(key)
            if attendee is not None:
                found = attendee
                rooms.append(room.name)
        return None if found is None else (found, rooms)

    def broadcast(self, event: Event) -> None:
        """Tell every member here of ``event`` (news of the server itself)."""
        batch = Batch((event,))
        for member in list(self.members.values()):
            member.outbox.put(batch)

    def check_nickname(self, nick: str, allow: Member | None = None) -> None:
        """Refuse ``nick`` if it is not well formed or another member here has it."""
        fault = nickname_fault(nick)
        if fault is not None:
            raise NicknameInvalidError(nick, fault)
        holder = self.members.get(fold(nick))
        if holder is not None and holder is not allow:
            raise NicknameTakenError(nick)

    def join(
        self, nick: str, client: Client, room: str | None = LOBBY, after: int | None = None
    ) -> Member:
        """Make ``client`` a member under ``nick`` and put it in ``room``.

        The new member gets :class:`Welcome`, then the room's recent history,
        or everything after message ``after`` when it is given; the others
        there get :class:`Joined`. With ``room`` None it is in no room and
        gets :class:`Arrived` (its front end joins rooms with :meth:`join_room`).
        """
        self.check_nickname(nick)
        target = None if room is None else self._room(room)
        member = Member(
            f"{self._origin}.{next(_member_ids)}", nick, Outbox(client, self._gather), self._now()
        )
        self.members[member.key] = member
        self.most_members = max(self.most_members, len(self.members))
        self._by_id[member.id] = member
        if target is None:
            member.outbox.put(Batch((Arrived(nick, self.online()),)))
            return member
        if target.pictured:
            welcome = Welcome(nick, target.name, target.size, self.online())
            member.outbox.put(Batch(self._with_topic(welcome, target)))
        else:
            self._once_pictured(member, target, lambda: Welcome(
                nick, target.name, _others(target, member), self.online()
            ))
        shown = self._enter(member, target, after)
        if not isinstance(shown, int):  # a Deferred (isinstance of one, an ABC, costs a call)
            shown.addErrback(self._replay_failed, member)
        return member

    def rename(self, member: Member, nick: str) -> None:
        """Change a member's nickname; each of its rooms, and the member, get :class:`Renamed`."""
        if nick == member.nick:
            raise AlreadyNamedError(nick)
        self.check_nickname(nick, allow=member)
        old = member.nick
        log.info("{old} is now known as {new}", old=old, new=nick)
        del self.members[member.key]
        member.nick, member.key = nick, fold(nick)
        self.members[member.key] = member
        renamed = Renamed(old, nick)
        for room in member.rooms.values():
            del room.members[fold(old)]
            room.members[member.key] = member
            self._publish(room, None, renamed)
        if not member.rooms:
            member.outbox.put(Batch((renamed,)))

    def leave(self, member: Member, reason: LeaveReason) -> None:
        """Remove a member from the chat; each of its rooms gets :class:`Left`."""
        if self.members.get(member.key) is not member:
            return
        del self.members[member.key]
        del self._by_id[member.id]
        for room in list(member.rooms.values()):
            self._exit(member, room, reason)

    def join_room(self, member: Member, room: str, after: int | None = None) -> defer.Deferred[int]:
        """Put a member in one more room, which becomes its current one.

        The member gets :class:`Entered` and the room's history (everything
        after message ``after`` if given); the others there get :class:`Joined`.
        Already in the room, it is only shown what came after ``after``, or
        refused (:class:`AlreadyInRoomError`) if that is not given. Fires with
        how many history entries the member was shown.
        """
        target = self._room(room)
        if target.key in member.rooms:
            return self._replay_again(member, target, after)
        if target.pictured:
            member.outbox.put(Batch(self._with_topic(Entered(target.name, target.size), target)))
        else:
            self._once_pictured(
                member, target, lambda: Entered(target.name, _others(target, member))
            )
        return _deferred(self._enter(member, target, after))

    def part_room(self, member: Member, room: str, reason: LeaveReason) -> None:
        """Take a member out of one of its rooms; the others there get :class:`Left`."""
        target = self.rooms.get(fold(room_name(room)))
        if target is None or member.rooms.get(target.key) is not target:
            raise NotInRoomError(room_name(room))
        self._exit(member, target, reason)

    def move(
        self, member: Member, room: str, after: int | None = None,
        reason: LeaveReason | None = None,
    ) -> defer.Deferred[int]:
        """Take a member out of every room it is in and into ``room`` instead.

        The rooms it leaves get :class:`Left` for ``reason`` (by default
        :class:`WentTo`); the member
        gets :class:`Moved`, then the history of ``room``; the others there
        get :class:`Joined`. Moving to its only room shows what came after
        ``after``, or is refused when that is not given. Fires with how many
        history entries the member was shown.
        """
        target = self._room(room)
        staying = target.key in member.rooms
        if staying and len(member.rooms) == 1:
            return self._replay_again(member, target, after)
        went = WentTo(target.name) if reason is None else reason
        for old in list(member.rooms.values()):
            if old is not target:
                self._exit(member, old, went)
        if target.pictured:
            moved = Moved(target.name, target.size - staying)
            member.outbox.put(Batch(self._with_topic(moved, target)))
        else:
            self._once_pictured(
                member, target, lambda: Moved(target.name, _others(target, member))
            )
        if staying:
            member.room = target
            return _deferred(self._replay(member, target, after))
        return _deferred(self._enter(member, target, after))

    def open_room(self, name: str) -> None:
        """Make the room called ``name`` exist, empty (a room kept while nobody is in it)."""
        self._room(name)

    def tidy_room(self, room: str) -> None:
        """Forget the room called ``room`` if nobody is in it and it is no longer kept."""
        target = self.rooms.get(fold(room_name(room)))
        if target is not None and not target.members and target.pending_notice is None:
            self._drop_room(target)

    def announce(self, room: str, event: Event) -> None:
        """Tell everyone in the room called ``room`` of ``event`` (news from nobody in it)."""
        target = self.rooms.get(fold(room_name(room)))
        if target is not None:
            self._publish(target, None, event)

    def _once_pictured(self, member: Member, room: Room, told: Callable[[], Event]) -> None:
        """Keep ``member``'s place for what ``told`` makes of ``room`` (and its topic) once
        the bus has said who is in it elsewhere, or :data:`PICTURE_WAIT` seconds have passed."""
        place = member.outbox.reserve()
        self._when_pictured(
            room, lambda: member.outbox.fill(place, Batch(self._with_topic(told(), room)))
        )

    def _when_pictured(self, room: Room, then: Callable[[], None]) -> None:
        room.awaiting.append(then)
        if room.picture_due is None and self.clock is not None:
            room.picture_due = self.clock.callLater(self.picture_wait, self._pictured, room)

    def anyone_elsewhere(self, room: str) -> defer.Deferred[bool]:
        """Whether the room called ``room`` has members served by other processes, once this
        process knows (at once, unless it has only just started to serve the room)."""
        target = self.rooms.get(fold(room_name(room)))
        if target is None:
            return defer.succeed(False)
        if target.pictured:
            return defer.succeed(bool(target.elsewhere))
        known: defer.Deferred[bool] = defer.Deferred()
        self._when_pictured(target, lambda: known.callback(bool(target.elsewhere)))
        return known

    def _pictured(self, room: Room) -> None:
        """``room``'s members elsewhere are known (or waited for long enough): tell those
        who entered meanwhile what they were waiting for."""
        room.pictured = True
        if room.picture_due is not None:
            if room.picture_due.active():
                room.picture_due.cancel()
            room.picture_due = None
        awaiting, room.awaiting = room.awaiting, []
        for then in awaiting:
            then()

    def _with_topic(self, event: Event, room: Room) -> tuple[Event, ...]:
        topic = self.rules.topic(room.name)
        return (event,) if topic is None else (event, topic)

    def room_list(self) -> list[tuple[str, int]]:
        """Every room with members here (or kept), with its member count, the lobby first,
        then by name."""
        rooms = sorted(self.rooms.values(), key=lambda room: (room.name != LOBBY, room.key))
        return [(room.name, room.size) for room in rooms]

    def rooms_everywhere(self) -> defer.Deferred[list[tuple[str, int]]]:
        """Every room with members on any process of the chat (or kept here), with its
        member count, ordered as :meth:`room_list`; with no ``census``, :meth:`room_list`.
        A room with no member here is named by its key."""
        if self.census is None:
            return defer.succeed(self.room_list())

        def merged(counts: dict[str, int]) -> list[tuple[str, int]]:
            here = {room.key: room for room in self.rooms.values()}
            keys = sorted(set(here) | set(counts), key=lambda key: (key != LOBBY, key))
            return [
                (here[key].name if key in here else key,
                 counts.get(key, here[key].size if key in here else 0))
                for key in keys
            ]

        return self.census.count_rooms().addCallback(merged)

    def show_history(
        self, member: Member, count: int, room: str | None = None
    ) -> defer.Deferred[int]:
        """Show a member the last ``count`` entries of ``room`` (by default its current
        one), or :class:`NoHistory`; fires with how many entries there were."""
        target = self._room_of(member, room)
        place, upto = member.outbox.reserve(), self.sequencer.last_id
        return self.history.read_recent(target.key, count).addCallbacks(
            self._show_entries, self._show_nothing,
            callbackArgs=(member, target, place, upto), errbackArgs=(member, place),
        )

    @staticmethod
    def _replay_failed(failure: Failure, member: Member) -> None:
        log.failure("history of {nick}'s room could not be read", failure, nick=member.nick)

    @staticmethod
    def _show_entries(
        entries: list[Said], member: Member, room: Room, place: Reservation, upto: int
    ) -> int:
        entries = _said_by(entries, upto)
        if not entries:
            member.outbox.fill(place, Batch((NoHistory(room.name),), room.name))
            return 0
        member.outbox.fill(place, _history_batch(room, CatchUp(entries, False)))
        return len(entries)

    @staticmethod
    def _show_nothing(failure: Failure, member: Member, place: Reservation) -> Failure:
        """A read failed: what waits behind it goes on, and the caller hears why."""
        member.outbox.fill(place, None)
        return failure

    def clear(self) -> None:
        """Forget every member and room at once, telling no one (the server stops)."""
        self.flush()
        for room in self.rooms.values():
            if room.pending_notice is not None and room.pending_notice.active():
                room.pending_notice.cancel()
            self.bus.unsubscribe(room.key, self._heard)
        for member in self.members.values():
            member.rooms.clear()
            member.room = None
        self.members.clear()
        self._by_id.clear()
        self.rooms.clear()

    def say(
        self, member: Member, text: str, room: str | None = None, outside: bool = False
    ) -> None:
        """Send a :class:`Message` to every other member of ``room`` (by default the
        member's current room); the member gets its id as :class:`Sent`. With ``outside``
        the member need not be in ``room`` (a room that allows it: the caller's rule), which
        must have members here."""
        target = self._speech_room(member, room, outside)
        said = Message(member.nick, text, self.sequencer.next_id(), self._now())
        self._speak(target, member, said)

    def act(
        self, member: Member, text: str, room: str | None = None, outside: bool = False
    ) -> None:
        """Send an :class:`Action` (``/me``) to every other member of ``room``, as
        :meth:`say` does."""
        target = self._speech_room(member, room, outside)
        said = Action(member.nick, text, self.sequencer.next_id(), self._now())
        self._speak(target, member, said)

    def _speech_room(self, member: Member, room: str | None, outside: bool) -> Room:
        """Where ``member`` speaks: one of its rooms, or with ``outside`` any room here."""
        if room is None and member.room is not None:
            return member.room  # its current room, as with every message said
        if outside and room is not None:
            found = self.rooms.get(fold(room_name(room)))
            if found is None:
                raise NotInRoomError(room_name(room))
            return found
        return self._room_of(member, room)

    def _speak(self, room: Room, member: Member, said: Said) -> None:
        try:
            self.bus.publish(room.key, (member.id, said))
        except BusUnavailableError:
            raise BackboneUnavailableError() from None
        member.active = said.time
        self.history.record(room.key, said)

    def whisper(self, member: Member, nick: str, text: str) -> defer.Deferred[None] | None:
        """Send a :class:`Private` message to one member, in any room; the sender
        gets :class:`PrivateSent`, or :class:`NoSuchUserError` is raised.

        To a nickname nobody here holds, with a ``courier``, the message goes to
        whichever process serves it: the Deferred returned fires once it is on its
        way, or fails with :class:`NoSuchUserError`.
        """
        target = self.find(nick)
        if target is None:
            if self.courier is None:
                raise NoSuchUserError(nick)
            return self._send_elsewhere(member, nick, Private(member.nick, text), text)
        target.outbox.put(Batch((Private(member.nick, text),)))
        sent = PrivateSent(target.nick, text)
        away = target.away
        member.outbox.put(Batch((sent,) if away is None else (sent, Away(target.nick, away))))
        return None

    def _send_elsewhere(
        self, member: Member, nick: str, event: Event, text: str | None
    ) -> defer.Deferred[None]:
        """Give ``event`` to the courier for ``nick``; the sender gets :class:`PrivateSent`
        for ``text`` (None: nothing) once the courier has found the recipient."""
        assert self.courier is not None
        try:
            sent = self.courier.send(nick, event)
        except BusUnavailableError:
            raise BackboneUnavailableError() from None

        def found(spelled: str | None) -> None:
            if spelled is None:
                raise NoSuchUserError(nick)
            if text is not None:
                member.outbox.put(Batch((PrivateSent(spelled, text),)))

        return sent.addCallback(found)

    def _received(self, nick: str, event: Event) -> None:
        """What another process sent to ``nick``: given to the member, if still here."""
        target = self.find(nick)
        if target is not None:
            target.outbox.put(Batch((event,)))

    def notice(
        self, member: Member, text: str, room: str | None = None, outside: bool = False
    ) -> None:
        """Send a :class:`Noticed` to every other member of ``room`` (by default the
        member's current room): not numbered, not kept, not acknowledged (``outside``: as
        :meth:`say`)."""
        target = self._speech_room(member, room, outside)
        try:
            self.bus.publish(target.key, (member.id, Noticed(member.nick, text, self._now())))
        except BusUnavailableError:
            raise BackboneUnavailableError() from None

    def notify(self, member: Member, nick: str, text: str) -> defer.Deferred[None] | None:
        """Send a :class:`PrivateNotice` to one member, or raise :class:`NoSuchUserError`
        (with a ``courier``, to a nickname nobody here holds, as :meth:`whisper` does)."""
        target = self.find(nick)
        if target is None:
            if self.courier is None:
                raise NoSuchUserError(nick)
            return self._send_elsewhere(member, nick, PrivateNotice(member.nick, text), None)
        target.outbox.put(Batch((PrivateNotice(member.nick, text),)))
        return None

    def set_away(self, member: Member, message: str | None) -> None:
        """Mark a member away with ``message`` (None: back); its rooms get
        :class:`AwayChanged` if that changes anything."""
        message = message or None
        if message == member.away:
            return
        member.away = message
        changed = AwayChanged(member.nick, message)
        for room in member.rooms.values():
            self._publish(room, member, changed)

    def flush(self) -> None:
        """Deliver the events collected so far.

        Each member receives one batch per room: everything said there since
        the last flush, less what the member said itself.
        """
        if self._flush_call is not None:
            if self._flush_call.active():
                self._flush_call.cancel()
            self._flush_call = None
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        self._last_pending = None
        for room, said in pending.items():
            everything = Batch(tuple(event for _, event in said), room.name)
            senders = {sender for sender, _ in said if sender is not None}
            for member in room.members.values():
                if member not in senders:
                    member.outbox.deliver(everything)
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
                    acks = Batch(tuple(event for event in seen if event is not None), room.name)
                runs.append((sender, Batch(events, room.name), acks))
                start = end
        for member in senders:
            if room.members.get(member.key) is not member:
                continue
            parts: list[Batch] = []
            for who, run, acks in runs:
                if who is not member:
                    parts.append(run)
                elif acks is not None and acks.events:
                    parts.append(acks)
            if parts:
                member.outbox.deliver(Batch.joined(tuple(parts), room.name))

    def _room(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is not None:
            return room  # ``name`` is the key of a room (a valid name, folded): the lobby
        name = room_name(name)
        room = self.rooms.get(fold(name))
        if room is None:
            room = self.rooms[fold(name)] = Room(name, not self._pictures_later)
            self.bus.subscribe(room.key, self._heard)
        return room

    def _drop_room(self, room: Room) -> None:
        """Forget a room nobody here is in any more (the lobby stays)."""
        if room.key != LOBBY and self.rooms.get(room.key) is room and not self.rules.keeps(
            room.key
        ):
            del self.rooms[room.key]
            self.bus.unsubscribe(room.key, self._heard)
            if room.awaiting or room.picture_due is not None:
                self._pictured(room)  # those who entered and left meanwhile are not held up

    @staticmethod
    def _room_of(member: Member, name: str | None = None) -> Room:
        """The member's current room, or the one of its rooms called ``name``."""
        if name is None:
            if member.room is None:
                raise NotInRoomError()
            return member.room
        room = member.rooms.get(fold(room_name(name)))
        if room is None:
            raise NotInRoomError(room_name(name))
        return room

    def _enter(self, member: Member, room: Room, after: int | None) -> int | defer.Deferred[int]:
        self.flush()
        room.members[member.key] = member
        member.rooms[room.key] = member.room = room
        if len(member.rooms) > 1:
            room.shared += 1
            if len(member.rooms) == 2:
                for other in member.rooms.values():
                    if other is not room:
                        other.shared += 1
        self._announce(room, member, None)
        return self._replay(member, room, after)

    def _exit(self, member: Member, room: Room, reason: LeaveReason) -> None:
        self.flush()
        del room.members[member.key]
        del member.rooms[room.key]
        if member.rooms:
            room.shared -= 1
            if len(member.rooms) == 1:
                for other in member.rooms.values():
                    other.shared -= 1
        if member.room is room:
            member.room = next(reversed(member.rooms.values()), None)
        self._announce(room, member, reason)
        if not room.members and room.pending_notice is None:
            self._drop_room(room)

    def _replay_again(self, member: Member, room: Room, after: int | None) -> defer.Deferred[int]:
        """A member asked to enter a room it is in: only a catch-up makes sense."""
        if after is None:
            raise AlreadyInRoomError(room.name)
        return _deferred(self._replay(member, room, after))

    def _replay(self, member: Member, room: Room, after: int | None) -> int | defer.Deferred[int]:
        """Show the member the room's recent history, or what came after ``after``,
        in its place: before anything said in the room from now on. Answers how many
        entries it showed, at once when the store has answered already (no Deferred
        made: a join storm's welcomes need none), else as a Deferred."""
        upto = self.sequencer.last_id
        if after is None:
            at_once = self.history.recent_now(room.key, self.replay)
            if at_once is not None:
                # The store has it (history in memory): shown now, no place held for it.
                entries = _said_by(at_once, upto) if at_once else at_once
                if entries:
                    member.outbox.put(_history_batch(room, CatchUp(entries, False)))
                return len(entries)
            recent = self.history.read_recent(room.key, self.replay)
            place = member.outbox.reserve()
            return recent.addCallbacks(
                self._show_recent, self._show_nothing,
                callbackArgs=(member, room, place, upto), errbackArgs=(member, place),
            )
        place = member.outbox.reserve()
        read = self.history.read_since(room.key, after)
        return read.addCallbacks(
            self._show_catch_up, self._show_nothing,
            callbackArgs=(member, room, place, upto), errbackArgs=(member, place),
        )

    @staticmethod
    def _show_recent(
        entries: list[Said], member: Member, room: Room, place: Reservation, upto: int
    ) -> int:
        return Registry._show_catch_up(CatchUp(entries, False), member, room, place, upto)

    @staticmethod
    def _show_catch_up(
        catch_up: CatchUp, member: Member, room: Room, place: Reservation, upto: int
    ) -> int:
        shown, batch = _catch_up_shown(room, catch_up, upto)
        member.outbox.fill(place, batch)
        return shown

    def _announce(self, room: Room, member: Member, reason: LeaveReason | None) -> None:
        """Tell the room that ``member`` came in (``reason`` None) or left."""
        if self.crowd and len(room.members) > self.crowd:
            if reason is None:
                room.arrived.append(member.nick)
            else:
                room.departed.append(Departure(member.nick, reason))
            if room.pending_notice is None:
                assert self.clock is not None
                room.pending_notice = self.clock.callLater(
                    self.crowd_delay, self._announce_gathered, room
                )
            return
        event = Joined(member.nick, room.name) if reason is None else Left(
            member.nick, room.name, reason
        )
        self._publish(room, member, event)

    def _announce_gathered(self, room: Room) -> None:
        room.pending_notice = None
        arrived, departed = room.arrived, room.departed
        room.arrived, room.departed = [], []
        if arrived:
            self._publish(room, None, CrowdJoined(room.name, tuple(arrived)))
        if departed:
            self._publish(room, None, CrowdLeft(room.name, tuple(departed)))
        self.flush()
        if not room.members:
            self._drop_room(room)

    def _publish(self, room: Room, sender: Member | None, event: Event) -> None:
        """Put ``event`` on the bus for everyone in ``room``, here and elsewhere (news that
        the bus cannot take now reaches nobody: what it tells has happened here anyway)."""
        try:
            self.bus.publish(room.key, (None if sender is None else sender.id, event))
        except BusUnavailableError:
            log.warn("{room}: {event!r} not told: the bus is unavailable", room=room.name,
                     event=event)

    def _heard(self, room_key: str, published: RoomEvent) -> None:
        """What the bus carries for a room with members here: gathered for them."""
        room = self.rooms.get(room_key)
        if room is None:
            return
        origin, event = published
        sender = None if origin is None else self._by_id.get(origin)
        if sender is None and type(event) in _NEWS_OF_MEMBERS:
            if isinstance(event, Joined | Left) and self._about_one_here(room, origin, event):
                if isinstance(event, Left):
                    room._mirror(event)  # one who left elsewhere and came back here
                return
            room._mirror(event)
            if type(event) is Present:
                if not room.pictured:
                    self._pictured(room)
                return
        said = self._pending.get(room)
        if said is None or (room.shared and room is not self._last_pending):
            said = self._pending_list(room)
        said.append((sender, event))

    def _about_one_here(self, room: Room, origin: str | None, event: Joined | Left) -> bool:
        """Whether ``event``, from another process or from nobody, says that a member
        this process serves in ``room`` came or went (news of a member here is its own:
        another node that took this one for dead, or this one putting back what Redis
        lost, does not tell the room here that it left or came)."""
        ours = origin is not None and origin.startswith(self._origin + ".")
        return not ours and fold(event.nick) in room.members

    def _pending_list(self, room: Room) -> list[tuple[Member | None, Event]]:
        """Where the next event of ``room`` is gathered.

        A room with members who are in other rooms too is gathered only
        while it is the last room that got an event: otherwise what is
        pending is delivered first, so that those members see both rooms'
        events in the order they happened.
        """
        if room.shared and self._pending and room is not self._last_pending:
            self.flush()
        said = self._pending.get(room)
        if said is None:
            said = self._pending[room] = []
            if self._flush_call is None and self.clock is not None:
                self._flush_call = self.clock.callLater(FLUSH_DELAY, self.flush)
        self._last_pending = room
        return said


_NEWS_OF_MEMBERS = frozenset(
    {Present, Joined, CrowdJoined, Left, CrowdLeft, Renamed, AwayChanged}
)
"""What, heard from another process, changes who is in a room elsewhere."""


def _deferred(shown: int | defer.Deferred[int]) -> defer.Deferred[int]:
    """How many entries were shown, as a Deferred for the callers that wait on it."""
    return shown if isinstance(shown, defer.Deferred) else defer.succeed(shown)


def _catch_up_shown(room: Room, catch_up: CatchUp, upto: int) -> tuple[int, Batch | None]:
    """How many entries of ``catch_up`` a member is shown (those up to ``upto``), and the
    batch showing them (None: nothing to show)."""
    catch_up = CatchUp(_said_by(catch_up.entries, upto), catch_up.missed)
    shown = catch_up.entries or catch_up.missed
    return len(catch_up.entries), _history_batch(room, catch_up) if shown else None


def _history_batch(room: Room, catch_up: CatchUp) -> Batch:
    """The entries of ``catch_up`` as a member is shown them, after a gap if one was missed."""
    events: list[Event] = []
    if catch_up.missed:
        events.append(HistoryMissed(room.name))
    if catch_up.entries:
        events.append(HistoryStart(room.name, len(catch_up.entries)))
        events.extend(Past(said) for said in catch_up.entries)
        events.append(HistoryEnd(room.name))
    return Batch(tuple(events), room.name)


def _said_by(entries: list[Said], upto: int) -> list[Said]:
    """The entries numbered up to ``upto``: those after it reach the member live, as
    it is in the room by then (a store may answer after later messages were recorded)."""
    if not entries or entries[-1].id <= upto:
        return entries
    return [said for said in entries if said.id <= upto]
