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
    AlreadyInRoomError,
    AlreadyNamedError,
    AlreadyRegisteredError,
    ChatError,
    InvalidRoomError,
    NicknameInvalidError,
    NicknameTakenError,
    NoSuchUserError,
    NotInRoomError,
    NotJoinedError,
    NotRegisteredError,
    PasswordRequiredError,
    PasswordUnusableError,
    RegistrationClosedError,
    WrongPasswordError,
)
from chat.domain.events import (
    Action,
    Batch,
    ConnectionLost,
    CrowdJoined,
    CrowdLeft,
    Entered,
    Error,
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
    Notice,
    Past,
    Private,
    PrivateSent,
    Quit,
    Reconnected,
    Renamed,
    SendQueueExceeded,
    Sent,
    Welcome,
    WentTo,
)
from chat.domain.registry import ROOM_MAX
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
    it renders as nothing here.
    """
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
        case Sent():
            return ""
        case Notice(text):
            return NOTICE + text
        case Error(text):
            return ERROR + text
    return NOTICE + _news(event)


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
        case HistoryStart(room, count):
            last = "last message" if count == 1 else f"last {count} messages"
            return f"history of {room}, {last}:"
        case HistoryEnd():
            return "end of history"
        case NoHistory(room):
            return f"{room} has no history yet"
    raise TypeError(f"no line for {event!r}")


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
    raise TypeError(f"no line for {error!r}")


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
    return "".join(line + "\r\n" for line in lines if line).encode()


def encode_line(text: str) -> bytes:
    """One line of text with the protocol's line ending."""
    return (text + "\r\n").encode()

