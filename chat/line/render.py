"""The line renderer: how events and errors look on the wire.

Every domain event (:mod:`chat.domain.events`) and error
(:mod:`chat.domain.errors`) becomes here the exact line of the protocol
contract: ``<alice> hi``, ``*** bob has joined``, ``!!! nickname "bob" is
taken``. No other module words them.

A batch delivered to many members is rendered once: :func:`encode_batch`
keeps the bytes of the batches it rendered last, keyed by the batch
itself, in a :class:`RenderCache` of two generations of
:data:`RENDERED_KEPT` batches (one cache for plain lines, one for lines
with ids). The registry delivers a batch to all its recipients in one go,
so it is still kept for the last of them, and the cache holds on to no
more than twice that many batches however long the server runs. The
event types know nothing of this.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import lru_cache

from chat.domain.errors import (
    AccountRequiredError,
    AccountsUnavailableError,
    AlreadyHereError,
    AlreadyInRoomError,
    AlreadyNamedError,
    AlreadyRegisteredError,
    BackboneUnavailableError,
    BannedError,
    ChatError,
    InvalidRoomError,
    InviteOnlyError,
    MutedError,
    NicknameBannedError,
    NicknameInvalidError,
    NicknameTakenError,
    NoSuchUserError,
    NotHereError,
    NotInRoomError,
    NotJoinedError,
    NotRegisteredError,
    OfflineBoxFullError,
    OperatorNameError,
    PasswordRequiredError,
    PasswordUnusableError,
    RegistrationClosedError,
    RoomFullError,
    RoomKeyError,
    RoomModeratedError,
    WrongPasswordError,
)
from chat.domain.events import (
    Action,
    Arrived,
    Away,
    AwayChanged,
    BackboneBack,
    BackboneLost,
    Batch,
    ConnectionLost,
    CrowdJoined,
    CrowdLeft,
    Delivered,
    Entered,
    Error,
    Event,
    HistoryEnd,
    HistoryMissed,
    HistoryStart,
    Joined,
    Kept,
    Kick,
    LeaveReason,
    Left,
    Message,
    MessagesMissed,
    Moderated,
    Moved,
    NoHistory,
    Notice,
    Noticed,
    Past,
    Present,
    Private,
    PrivateNotice,
    PrivateSent,
    Quit,
    Reconnected,
    Removed,
    Renamed,
    RoomChanged,
    SendQueueExceeded,
    Sent,
    Silenced,
    Topic,
    TopicSet,
    Welcome,
    WentTo,
)
from chat.domain.registry import ROOM_MAX
from chat.moderation import (
    InvalidDurationError,
    InvalidTargetError,
    NotBannedError,
    NotMutedError,
    NotPermittedError,
    Power,
    target_text,
)
from chat.session.moderator import WhoIs
from chat.text import describe_nickname_fault, visible

NOTICE = "*** "
ERROR = "!!! "
ID_TAG = "@id="
NAMES_SHOWN = 5
"""Nicknames listed in a gathered join or leave notice; the rest are counted."""
RENDERED_KEPT = 256
"""Batches per generation of the render cache."""


def render(event: Event) -> str:
    """One event as the line a terminal shows, without its line ending.

    A :class:`Sent` acknowledgement is only for programs that asked for ids:
    it renders as nothing here, and so does :class:`AwayChanged` (``/whois``
    tells who is away). Notices from IRC users (:class:`Noticed`,
    :class:`PrivateNotice`) are ``-nick- text`` and ``-*nick*- text``.
    """
    if type(event) in _JOINS_AND_LEAVES:
        return NOTICE + _news(event)  # every join's welcome: not past a dozen cases first
    match event:
        case Message(sender, text):
            return f"<{sender}> {text}"
        case Action(sender, text):
            return f"* {sender} {text}"
        case Past(said):
            return f"[{_minute(int(said.time // 60))}Z] {render(said)}"
        case Private(sender, text):
            return f"*{sender}* {text}"
        case PrivateSent(recipient, text):
            return f"-> *{recipient}* {text}"
        case Noticed(sender, text):
            return f"-{sender}- {text}"
        case PrivateNotice(sender, text):
            return f"-*{sender}*- {text}"
        case Sent() | AwayChanged() | Present() | RoomChanged():
            return ""
        case Notice(text):
            return NOTICE + text
        case Error(text):
            return ERROR + text
        case Removed():
            return ERROR + _removal(event)
        case Silenced(room, by, until):
            where = "everywhere" if room is None else f"in {room}"
            return f"{ERROR}{by} muted you {where} {until_text(until)}: nobody sees what you say"
        case Delivered(sender, text, sent_at, action):
            line = f"* {sender} {text}" if action else f"*{sender}* {text}"
            return f"[{_minute(int(sent_at // 60))}Z] {line} (sent while you were offline)"
    return NOTICE + _news(event)


_JOINS_AND_LEAVES = frozenset({Welcome, Joined, Left, CrowdJoined, CrowdLeft})
"""Events :func:`render` gives to :func:`_news` at once (none of its cases would take them)."""


def _news(event: Event) -> str:
    """What a ``***`` line says of a domain event."""
    match event:
        case Joined(nick):
            return f"{nick} has joined"
        case Left(nick, _, reason):
            return f"{nick} has left ({describe_reason(reason)})"
        case Renamed(old, new):
            return f"{old} is now known as {new}"
        case Welcome(nick, room, others, online):
            where = (
                f"You are in {room} with {others} other{'s' if others > 1 else ''}"
                if others else f"You are the first in {room}"
            )
            return f"Welcome, {nick}! {where}; {online} online. Type /help for the commands."
        case Arrived(nick, online):
            return f"Welcome, {nick}! You are in no room yet; {online} online."
        case Moved(room, others):
            return f"you are now in {room} with {others} other{'' if others == 1 else 's'}"
        case Entered(room, others):
            return f"you are now also in {room} with {others} other{'' if others == 1 else 's'}"
        case CrowdJoined(_, nicks):
            return f"{_people(len(nicks))} joined: {_names(nicks)}"
        case CrowdLeft(_, departures):
            gone = [f"{gone.nick} ({describe_reason(gone.reason)})" for gone in departures]
            return f"{_people(len(gone))} left: {_names(gone)}"
        case HistoryMissed(room):
            return f"older messages of {room} are no longer kept"
        case MessagesMissed(room):
            return f"some messages of {room} did not reach this server in time and are missing"
        case HistoryStart(room, count):
            last = "last message" if count == 1 else f"last {count} messages"
            return f"history of {room}, {last}:"
        case HistoryEnd():
            return "end of history"
        case NoHistory(room):
            return f"{room} has no history yet"
        case Topic(room, "", _, _):
            return f"{room} has no topic"
        case Topic(room, text, by, at):
            setter = f" (set by {by}{'' if at is None else ' on ' + _minute(int(at // 60)) + 'Z'})"
            return f"topic of {room}: {text}{setter if by else ''}"
        case TopicSet(room, "", by):
            return f"{by} cleared the topic of {room}"
        case TopicSet(room, text, by):
            return f"{by} set the topic of {room}: {text}"
        case Moderated():
            return _moderated(event)
        case Away(nick, message):
            return f"{nick} is away: {message}"
        case Kept(nick, _):
            return f"{nick} is offline: the message is kept and delivered at their next login"
        case BackboneLost():
            return (
                "this server has lost touch with the chat's other servers (Redis is "
                "unreachable): what you say is refused until it is back"
            )
        case BackboneBack(down_for):
            return (
                "this server is back in touch with the chat's other servers after "
                f"{describe_duration(down_for) if down_for >= 1 else 'under a second'}: "
                "you may talk again"
            )
    raise TypeError(f"no line for {event!r}")


def until_text(until: float | None) -> str:
    """When something ends, as a notice says it: ``until 2026-12-02 15:00Z`` or ``for ever``."""
    return "for ever" if until is None else f"until {_minute(int(until // 60))}Z"


def _where(room: str | None) -> str:
    return "the server" if room is None else room


def _removal(event: Removed) -> str:
    why = f": {event.reason}" if event.reason else ""
    if event.banned:
        until = until_text(event.until)
        return f"you are banned from {_where(event.room)} by {event.by} {until}{why}"
    if event.room is None:
        return f"you were disconnected by {event.by}{why}"
    return f"you were kicked out of {event.room} by {event.by}{why}; you are back in the lobby"


_MODERATED = {
    "banned": "banned {target} from {where} {until}",
    "unbanned": "lifted the ban of {target} from {where}",
    "muted": "muted {target} {in_where} {until}",
    "unmuted": "unmuted {target} {in_where}",
    "opped": "made {target} an operator of {where}",
    "deopped": "took operator status from {target} in {where}",
}


def _moderated(event: Moderated) -> str:
    what = _MODERATED[event.action].format(
        target=event.target, where=_where(event.room), until=until_text(event.until),
        in_where="everywhere" if event.room is None else f"in {event.room}",
    )
    return f"{event.by} {what}" + (f": {event.reason}" if event.reason else "")


def describe_reason(reason: LeaveReason) -> str:
    """Why a member left, as the parenthesis of a leave notice says it."""
    match reason:
        case Quit(text):
            return f"quit: {text}" if text else "quit"
        case ConnectionLost():
            return "connection lost"
        case WentTo(room):
            return f"went to {room}"
        case SendQueueExceeded(limit):
            return f"send queue exceeded {limit} bytes"
        case Reconnected():
            return "reconnected"
        case Kick(by, text, banned, server):
            done = "banned" if banned else "kicked off the server" if server else "kicked"
            return f"{done} by {by}: {text}" if text else f"{done} by {by}"
        case str():
            return reason


def describe_error(error: ChatError) -> str:
    """What an ``!!!`` line says of a refusal of the domain."""
    match error:
        case NicknameInvalidError(nick=nick, fault=fault):
            return describe_nickname_fault(nick, fault)
        case NicknameTakenError(nick=nick):
            return f'nickname "{nick}" is taken'
        case AlreadyNamedError(nick=nick):
            return f"you are already {nick}"
        case NoSuchUserError(nick=nick):
            return f'no user is called "{visible(nick)}"'
        case InvalidRoomError(name=name):
            return (
                f'room name "{visible(name)}" is invalid: '
                f"use 1 to {ROOM_MAX} letters, digits, _ or -"
            )
        case AlreadyInRoomError(room=room):
            return f"you are already in {room}"
        case NotInRoomError(room=None):
            return "you are not in a room"
        case NotInRoomError(room=room):
            return f"you are not in {room}"
        case NotJoinedError():
            return "choose a nickname first"
        case PasswordRequiredError(nick=nick):
            return f'nickname "{nick}" is registered: log in as {nick} with its password to use it'
        case WrongPasswordError(nick=nick):
            return f"wrong password for {nick}"
        case AccountRequiredError(nick=nick):
            return (
                f'"{nick}" is not registered, and this server takes registered nicknames only; '
                "ask an administrator for an account"
            )
        case RegistrationClosedError():
            return "registration is closed on this server: accounts are made by an administrator"
        case AlreadyRegisteredError(nick=nick):
            return f"{nick} is registered already"
        case NotRegisteredError(nick=nick):
            return f"{nick} is not registered (or you are not logged in to it)"
        case PasswordUnusableError(reason=reason):
            return f"that password cannot be used: {reason}"
        case AccountsUnavailableError():
            return "this server keeps no accounts"
        case BannedError(room=room, reason=reason, until=until):
            why = f": {reason}" if reason else ""
            return f"you are banned from {_where(room)} {until_text(until)}{why}"
        case NicknameBannedError(nick=nick, until=until):
            return f'nickname "{nick}" is banned on this server {until_text(until)}'
        case RoomModeratedError(room=room):
            return f"{room} is moderated: only its operators and those they give voice may speak"
        case MutedError(room=room, until=until):
            where = "everywhere" if room is None else f"in {room}"
            return f"you are muted {where} {until_text(until)}: nobody sees what you say"
        case NotHereError(nick=nick, room=room):
            return f"{nick} is not in {room}"
        case AlreadyHereError(nick=nick, room=room):
            return f"{nick} is in {room} already"
        case RoomFullError(room=room):
            return f"{room} is full: it lets in no more members"
        case RoomKeyError(room=room):
            return f"{room} has a key: /join {room} KEY"
        case InviteOnlyError(room=room):
            return f"{room} is invite only: an operator of it must invite you"
        case OperatorNameError(nick=nick):
            return (
                f"{nick} is a server operator's name: its account is made by an administrator "
                "(tcpchat-admin add)"
            )
        case OfflineBoxFullError(nick=nick):
            return f"{nick} is offline and has too many kept messages already; try later"
        case NotPermittedError(action=action, room=room):
            return _not_permitted(action, room)
        case NotBannedError(target=target):
            return f"{target_text(target)} is not banned here"
        case NotMutedError(nick=nick):
            return f"{nick} is not muted here"
        case InvalidTargetError(text=text):
            return (
                f'"{visible(text)}" is no nickname, account (account:NAME), address or network '
                "(203.0.113.7, 2001:db8::/64)"
            )
        case BackboneUnavailableError(speech=True):
            return (
                "not sent: this server cannot reach the chat's other servers (Redis is "
                "unreachable); say it again once it is back"
            )
        case BackboneUnavailableError():
            return (
                "not now: this server cannot reach the chat's other servers (Redis is "
                "unreachable); try again once it is back"
            )
        case InvalidDurationError(text=text):
            return (
                f'"{visible(text)}" is no duration: write it as 30s, 10m, 2h, 7d, 1w or 1h30m '
                "(at most ten years)"
            )
    raise TypeError(f"no line for {error!r}")


_POWERS = {
    Power.KICK: "kick from",
    Power.BAN: "ban from",
    Power.MUTE: "mute in",
    Power.SET_TOPIC: "set the topic of",
    Power.CONFIGURE: "change the settings of",
    Power.OP: "grant or take operator status in",
    Power.VOICE: "give or take voice in",
    Power.INVITE: "invite to",
}


_SERVER_WIDE = {
    Power.KICK: "kick someone off the server",
    Power.BAN: "ban server-wide",
    Power.MUTE: "mute server-wide",
    Power.SET_TOPIC: "set the lobby's topic",
    Power.CONFIGURE: "change the lobby's settings",
    Power.OP: "grant or take operator status in the lobby",
    Power.VOICE: "give or take voice in the lobby",
    Power.INVITE: "invite to the lobby",
}


def _not_permitted(action: Power, room: str | None) -> str:
    if action is Power.DISCONNECT:
        return "only a server operator may disconnect someone from the server"
    if room is None:
        return f"only a server operator may {_SERVER_WIDE[action]}"
    who = "its owner" if action is Power.OP else "its operators"
    return f"only {who} and server operators may {_POWERS[action]} {room}"


def describe_whois(whois: WhoIs) -> str:
    """The line ``/whois`` answers with."""
    parts = [
        f"account {whois.account}" if whois.account else "a guest (no account)",
        f"connected since {_minute(int(whois.since // 60))}Z",
        f"idle {describe_duration(whois.idle)}",
    ] if not whois.elsewhere else ["on another server of the chat"]
    if whois.server_operator:
        parts.append("server operator")
    if whois.rooms:
        operator = " (operator)" if whois.room_operator else ""
        parts.append(f"in {', '.join(whois.rooms)}{operator}")
    if whois.away is not None:
        parts.append(f"away: {whois.away}")
    return f"{whois.nick}: " + "; ".join(parts)


def describe_duration(seconds: float) -> str:
    """``3h 5m``, ``42s``: a length of time, to the second, in its two largest units."""
    whole = int(seconds)
    units = [(whole // 86400, "d"), (whole // 3600 % 24, "h"), (whole // 60 % 60, "m"),
             (whole % 60, "s")]
    shown = [f"{count}{unit}" for count, unit in units if count]
    return " ".join(shown[:2]) or "0s"


def _people(count: int) -> str:
    return "1 user" if count == 1 else f"{count} users"


def _names(nicks: Iterable[str]) -> str:
    listed = list(nicks)
    shown = ", ".join(listed[:NAMES_SHOWN])
    rest = len(listed) - NAMES_SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown


@lru_cache(maxsize=1024)
def _minute(minute: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(minute * 60))


def render_with_id(event: Event) -> str:
    """Like :func:`render`, with ``@id=N`` before numbered messages and actions."""
    if isinstance(event, Sent):
        return f"{ID_TAG}{event.id}"
    said = event.said if isinstance(event, Past) else event
    if isinstance(said, Message | Action) and said.id:
        return f"{ID_TAG}{said.id} {render(event)}"
    return render(event)


class RenderCache:
    """The bytes of the batches rendered last in one way, keyed by the batch.

    ``kept`` batches are held in each of two generations: a batch is found
    again until ``kept`` to ``2 * kept`` others have been rendered after it.
    """

    __slots__ = ("kept", "older", "recent", "render_line")

    def __init__(self, render_line: Callable[[Event], str], kept: int = RENDERED_KEPT) -> None:
        self.render_line = render_line
        self.kept = kept
        self.recent: dict[Batch, bytes] = {}
        self.older: dict[Batch, bytes] = {}

    def encode(self, batch: Batch) -> bytes:
        """The bytes of ``batch``, rendered if they are not kept."""
        data = self.recent.get(batch)
        return self.render(batch) if data is None else data

    def render(self, batch: Batch) -> bytes:
        """Render a batch not in :attr:`recent` and keep it there, unless it is made
        of parts: those are each kept, the whole is for one member only."""
        if batch.parts:
            return b"".join(self.encode(part) for part in batch.parts)
        data = self.older.get(batch)
        if data is None:
            data = _encode(map(self.render_line, batch.events))
        if len(self.recent) >= self.kept:
            self.older, self.recent = self.recent, {}
        self.recent[batch] = data
        return data


_PLAIN = RenderCache(render)
_WITH_IDS = RenderCache(render_with_id)


def encode_batch(batch: Batch, with_ids: bool = False) -> bytes:
    """The bytes of a whole batch, rendered once however many receive it."""
    rendered = _WITH_IDS if with_ids else _PLAIN
    data = rendered.recent.get(batch)
    if data is None:
        data = rendered.render(batch)
    return data


def _encode(lines: Iterable[str]) -> bytes:
    # Empty lines (events shown as nothing) are left out; no generator, whose frame
    # would be resumed once per line of every batch.
    text = "\r\n".join(filter(None, lines))
    return (text + "\r\n").encode() if text else b""


def encode_line(text: str) -> bytes:
    """One line of text with the protocol's line ending."""
    return (text + "\r\n").encode()

