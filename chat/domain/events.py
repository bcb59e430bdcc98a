"""What members of a chat receive: facts, typed, grouped into batches.

The domain (:mod:`chat.domain.registry`) speaks only in these events and
never in sentences; each front end renders them its own way (the line
protocol, in :mod:`chat.line.render`, as the lines of the wire contract).
Every event is a slotted dataclass whose fields are the whole fact: who,
which room, how many, why; none is changed once made. They are frozen, but
for the events made for every message said (:class:`Message`,
:class:`Action`, :class:`Sent`), which compare and hash the same way but
are not frozen: a frozen dataclass is three to four times slower to make.

:class:`Notice` and :class:`Error` carry free text: they are for a front
end's own wording (greetings, prompts, replies to commands), never made by
the domain.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, unsafe_hash=True)
class Message:
    """Something a member said to a room.

    ``id`` orders every message and action of the server (0: not numbered);
    ``time`` is when it was said, in seconds since the epoch.
    """

    sender: str
    text: str
    id: int = 0
    time: float = 0.0


@dataclass(slots=True, unsafe_hash=True)
class Action:
    """Something a member did (``/me``) in a room."""

    sender: str
    text: str
    id: int = 0
    time: float = 0.0


Said = Message | Action
"""What a room's history keeps."""


@dataclass(frozen=True, slots=True)
class Past:
    """A message or action from a room's history, replayed, not live."""

    said: Said


@dataclass(slots=True, unsafe_hash=True)
class Sent:
    """The id a member's own message or action was given, told to that member."""

    id: int


@dataclass(frozen=True, slots=True)
class Private:
    """A private message, as its addressee receives it."""

    sender: str
    text: str


@dataclass(frozen=True, slots=True)
class PrivateSent:
    """The confirmation of a private message, as its sender receives it."""

    recipient: str
    text: str


@dataclass(frozen=True, slots=True)
class Welcome:
    """To a member who has just chosen ``nick``: it is in ``room`` with ``others``
    other members, and ``online`` members (itself included) are on the server."""

    nick: str
    room: str
    others: int
    online: int


@dataclass(frozen=True, slots=True)
class Arrived:
    """To a member who has just chosen ``nick`` and is in no room yet (a front end whose
    users join rooms themselves, such as IRC); ``online`` members (itself included) are
    on the server."""

    nick: str
    online: int


@dataclass(frozen=True, slots=True)
class Noticed:
    """A notice a member sent to a room (IRC's NOTICE): like a message, but never to be
    answered automatically; it is neither numbered nor kept in the history."""

    sender: str
    text: str
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class PrivateNotice:
    """A notice sent to one member, as its addressee receives it (no confirmation, no
    away reply)."""

    sender: str
    text: str


@dataclass(frozen=True, slots=True)
class AwayChanged:
    """``nick`` marked itself away with ``message``, or back (None), told in its rooms."""

    nick: str
    message: str | None


@dataclass(frozen=True, slots=True)
class Joined:
    """``nick`` came into ``room`` (told to the others there)."""

    nick: str
    room: str


@dataclass(frozen=True, slots=True)
class Quit:
    """The member asked to leave the chat, with ``text`` as its goodbye ("" for none)."""

    text: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The member's connection ended without a goodbye."""


@dataclass(frozen=True, slots=True)
class WentTo:
    """The member moved on to ``room``."""

    room: str


@dataclass(frozen=True, slots=True)
class SendQueueExceeded:
    """The member was cut off: more than ``limit`` bytes waited to be sent to it."""

    limit: int


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The same client came back on a new connection, which replaces this one."""


@dataclass(frozen=True, slots=True)
class Kick:
    """An operator, ``by``, put the member out (of the room, or with ``server`` of the
    server), for ``reason`` ("" for none); ``banned``: because it is banned there."""

    by: str
    reason: str = ""
    banned: bool = False
    server: bool = False


LeaveReason = Quit | ConnectionLost | WentTo | SendQueueExceeded | Reconnected | Kick | str
"""Why a member left a room; a front end may give its own reason as text."""


@dataclass(frozen=True, slots=True)
class Left:
    """``nick`` left ``room``, for ``reason`` (told to the others there)."""

    nick: str
    room: str
    reason: LeaveReason


@dataclass(frozen=True, slots=True)
class Renamed:
    """The member called ``old`` is now called ``new`` (told in each of its rooms,
    to the renamed member too)."""

    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Moved:
    """To a member who left its room for ``room``, where ``others`` are."""

    room: str
    others: int


@dataclass(frozen=True, slots=True)
class Entered:
    """To a member who joined ``room`` as well as the rooms it is in, where ``others`` are."""

    room: str
    others: int


@dataclass(frozen=True, slots=True)
class CrowdJoined:
    """In a crowded room, everyone who came in during a gathering period, in order."""

    room: str
    nicks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Departure:
    """One member who left a crowded room, and why."""

    nick: str
    reason: LeaveReason


@dataclass(frozen=True, slots=True)
class CrowdLeft:
    """In a crowded room, everyone who left during a gathering period, in order."""

    room: str
    departures: tuple[Departure, ...]


@dataclass(frozen=True, slots=True)
class HistoryMissed:
    """Messages of ``room`` older than the ones that follow are no longer kept: some
    that the member asked for (everything after an id) are missing."""

    room: str


@dataclass(frozen=True, slots=True)
class HistoryStart:
    """The next ``count`` events are :class:`Past` entries of ``room``."""

    room: str
    count: int


@dataclass(frozen=True, slots=True)
class HistoryEnd:
    """The history of ``room`` that began with :class:`HistoryStart` is complete."""

    room: str


@dataclass(frozen=True, slots=True)
class NoHistory:
    """History of ``room`` was asked for, and it has none."""

    room: str


@dataclass(frozen=True, slots=True)
class Removed:
    """To a member put out of ``room`` (None: off the server) by ``by``, for ``reason``;
    ``banned``: it may not come back until ``until`` (None: for ever)."""

    room: str | None
    by: str
    reason: str = ""
    banned: bool = False
    until: float | None = None


@dataclass(frozen=True, slots=True)
class Silenced:
    """To a member ``by`` muted in ``room`` (None: everywhere) until ``until`` (None:
    until unmuted): nothing it says reaches anyone."""

    room: str | None
    by: str
    until: float | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    """The topic of ``room`` ("" for none), set by ``by`` at ``time`` (seconds since
    the epoch): shown on entering the room and when asked for."""

    room: str
    text: str
    by: str | None = None
    time: float | None = None


@dataclass(frozen=True, slots=True)
class TopicSet:
    """``by`` made ``text`` the topic of ``room`` ("": cleared it), told to the room."""

    room: str
    text: str
    by: str


@dataclass(frozen=True, slots=True)
class Moderated:
    """``by`` did ``action`` to ``target`` in ``room`` (None: server-wide), told to the room.

    ``action`` is one of ``banned``, ``unbanned``, ``muted``, ``unmuted``,
    ``opped``, ``deopped``; ``target`` is written as ``/ban`` reads it;
    ``until`` is when it ends by itself (None: never).
    """

    room: str | None
    by: str
    action: str
    target: str
    reason: str = ""
    until: float | None = None


@dataclass(frozen=True, slots=True)
class SettingChanged:
    """One setting of a room changed: ``setting`` is now ``value``.

    ``setting`` is a field of :class:`chat.moderation.RoomSettings`
    (``topic_ops_only``, ``moderated``, ``secret``, ``outside_messages``,
    ``invite_only``: a bool; ``member_limit``: a number or None; ``join_key``:
    text, "" for none) or ``voiced``, whether member ``nick`` has voice.
    """

    setting: str
    value: bool | int | str | None
    nick: str | None = None


@dataclass(frozen=True, slots=True)
class RoomChanged:
    """``by`` changed settings of ``room`` (``changes``, in the order made), told to the room."""

    room: str
    by: str
    changes: tuple[SettingChanged, ...]


@dataclass(frozen=True, slots=True)
class Away:
    """``nick``, to whom a private message just went, is away: ``message``."""

    nick: str
    message: str


@dataclass(frozen=True, slots=True)
class Kept:
    """``nick`` is offline: the private message is kept and delivered at its next login."""

    nick: str
    text: str


@dataclass(frozen=True, slots=True)
class Delivered:
    """A private message kept while the member was offline, sent at ``time``."""

    sender: str
    text: str
    time: float
    action: bool = False


@dataclass(frozen=True, slots=True)
class Attendee:
    """A member of a room who is served by another process of the chat."""

    nick: str
    away: str | None = None


@dataclass(frozen=True, slots=True)
class Present:
    """Who is in ``room`` on the chat's other processes, when this process starts to serve it.

    A bus shared between processes gives it to a room's subscribers before
    the room's next event; the registry keeps it (members see the room's
    other members in ``/who``) and delivers it to nobody.
    """

    room: str
    attendees: tuple[Attendee, ...]


@dataclass(frozen=True, slots=True)
class MessagesMissed:
    """Messages of ``room`` did not reach this process before what the chat's processes
    share (Redis) dropped them: the member's view of the room has a gap here."""

    room: str


@dataclass(frozen=True, slots=True)
class BackboneLost:
    """This process cannot reach what the chat's processes share (Redis): what members
    say is refused until :class:`BackboneBack`; members stay connected."""


@dataclass(frozen=True, slots=True)
class BackboneBack:
    """What the chat's processes share is reachable again, after ``down_for`` seconds."""

    down_for: float


@dataclass(frozen=True, slots=True)
class Notice:
    """A front end's own news for its user: a greeting, a prompt, a reply."""

    text: str


@dataclass(frozen=True, slots=True)
class Error:
    """A front end's own refusal, and why, in its words."""

    text: str


Event = (
    Message | Action | Past | Sent | Private | PrivateSent | Noticed | PrivateNotice
    | Welcome | Arrived | Joined | Left | Renamed | Moved | Entered | CrowdJoined | CrowdLeft
    | HistoryMissed | HistoryStart | HistoryEnd | NoHistory
    | Removed | Silenced | Topic | TopicSet | Moderated | RoomChanged | Away | AwayChanged
    | Kept | Delivered
    | Present | MessagesMissed | BackboneLost | BackboneBack | Notice | Error
)


@dataclass(slots=True, eq=False)
class Batch:
    """Events delivered together, in order, to one or more members (not changed once
    made; not frozen, as a frozen dataclass is three times slower to make, and one is
    made for every delivery and every reply).

    ``room`` is where they happened (None for what concerns only the member:
    a welcome, private messages). A batch is shared by all its recipients,
    so a front end can render it once for all of them (compared by identity,
    it can key a cache). A batch made of ``parts`` holds their events, in
    order, so that a front end can render it by joining what its parts
    rendered: parts shared with other batches are then rendered only once.
    """

    events: tuple[Event, ...]
    room: str | None = None
    parts: tuple[Batch, ...] = ()

    @classmethod
    def joined(cls, parts: tuple[Batch, ...], room: str | None = None) -> Batch:
        """One batch holding the events of ``parts``, in order."""
        return cls(tuple(event for part in parts for event in part.events), room, parts)
