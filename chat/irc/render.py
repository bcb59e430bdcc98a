"""The IRC renderer: the lines one IRC user is shown for the chat's events.

What an IRC client is shown depends on it: its nickname is the target of
numerics, the capabilities it enabled decide the tags, and the protocol
has state the domain does not keep (which channels the client believes it
is in; a member who left several shared rooms quits once; echo-message
needs the text of the client's own messages, which the domain acknowledges
by id only). :class:`Viewer` keeps that state for one connection and turns
each :class:`~chat.domain.events.Batch` into lines (:meth:`Viewer.lines`).

Events with no IRC form (mutes, history notes, kept letters) are server
NOTICEs worded as the line front end words them.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from chat.domain.events import (
    Action,
    Away,
    Batch,
    ConnectionLost,
    CrowdJoined,
    CrowdLeft,
    Delivered,
    Entered,
    Error,
    Event,
    HistoryEnd,
    HistoryStart,
    Joined,
    Kick,
    LeaveReason,
    Left,
    Message,
    Moderated,
    Moved,
    Notice,
    Past,
    Private,
    PrivateSent,
    Quit,
    Reconnected,
    Removed,
    Renamed,
    Said,
    SendQueueExceeded,
    Sent,
    Topic,
    TopicSet,
    Welcome,
    WentTo,
)
from chat.domain.registry import LOBBY
from chat.irc.wire import SERVER, Wire, channel, line, mask, server_time
from chat.line.render import describe_reason, render
from chat.text import fold

QUITS_REMEMBERED = 256
"""Members whose QUIT this client was shown that are remembered, so that a member who
was in several of its channels quits once (its Left events come one per room, together)."""
NAMES_PER_LINE = 40
"""Nicknames in one RPL_NAMREPLY line (at most 40 * 22 bytes: well within 512)."""

_MODE_OF = {"banned": "+b", "unbanned": "-b", "opped": "+o", "deopped": "-o"}


class Lookup(Protocol):
    """What the renderer asks of the server about others."""

    def names(self, room: str) -> list[str]:
        """The members of ``room`` as RPL_NAMREPLY lists them (``@`` before operators)."""

    def account_of(self, nick: str) -> str | None:
        """The account ``nick`` is logged in to, if it is online and logged in."""

    def welcome(self, nick: str) -> list[str]:
        """The registration burst for ``nick``: 001 to 005 and the MOTD."""

    def now(self) -> float:
        """Seconds since the epoch."""


@dataclass(frozen=True, slots=True)
class Echo:
    """What the client said to a channel, for echo-message, until its id comes back."""

    command: str
    target: str
    text: str


class Viewer:
    """One IRC client's view of the chat, and the lines it is shown."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.nick = "*"
        self.caps: set[str] = set()
        self.channels: dict[str, str] = {}
        """The rooms the client is in, by key, as named."""
        self.echoes: deque[Echo] = deque()
        self._last_renamed: Renamed | None = None
        self._quit_shown: OrderedDict[str, None] = OrderedDict()
        self._names_due: str | None = None

    def numeric(self, code: str, *params: str) -> str:
        """A numeric reply to this client."""
        return line(code, self.nick, *params, trailing=len(params) > 1)

    def notice(self, text: str, target: str | None = None) -> str:
        """A server NOTICE to this client (or to one of its channels)."""
        return line("NOTICE", self.nick if target is None else target, text, trailing=True)

    def lines(self, batch: Batch) -> list[str]:
        """Everything ``batch`` shows this client, in order."""
        out: list[str] = []
        for event in batch.events:
            out.extend(self._event(event, batch.room))
        if self._names_due is not None:
            out.extend(self.names(self._names_due))
            self._names_due = None
        return out

    def names(self, room: str) -> list[str]:
        """RPL_NAMREPLY lines and RPL_ENDOFNAMES for ``room``."""
        nicks = self.lookup.names(room)
        if fold(self.nick) not in {fold(nick.lstrip("@").partition("!")[0]) for nick in nicks}:
            nicks.append(mask(self.nick) if "userhost-in-names" in self.caps else self.nick)
        out = [
            self.numeric("353", "=", channel(room), " ".join(nicks[start : start + NAMES_PER_LINE]))
            for start in range(0, len(nicks), NAMES_PER_LINE)
        ]
        return [*out, self.numeric("366", channel(room), "End of /NAMES list")]

    def _event(self, event: Event, room: str | None) -> Iterable[str]:
        match event:
            case Wire(text):
                return text.split("\r\n")
            case Message() | Action():
                return [self._said(event, channel(room or LOBBY))]
            case Past(said):
                if "server-time" in self.caps:
                    return [self._said(said, channel(room or LOBBY))]
                return [self.notice(render(event), channel(room or LOBBY))]
            case HistoryStart() | HistoryEnd():
                if "server-time" in self.caps:
                    return []
                return [self.notice(render(event)[4:], channel(room or LOBBY))]
            case Sent(id):
                return self._echo(id)
            case Private(sender, text):
                return [line("PRIVMSG", self.nick, text, source=mask(sender), trailing=True,
                             tags=self._tags(sender, 0, self.lookup.now()))]
            case PrivateSent(recipient, text):
                if "echo-message" not in self.caps:
                    return []
                return [line("PRIVMSG", recipient, text, source=mask(self.nick), trailing=True,
                             tags=self._tags(self.nick, 0, self.lookup.now()))]
            case Away(nick, message):
                return [self.numeric("301", nick, message)]
            case Delivered(sender, text, sent_at, action):
                if "server-time" not in self.caps:
                    return [self.notice(render(event))]
                body = f"\x01ACTION {text}\x01" if action else text
                return [line("PRIVMSG", self.nick, body, source=mask(sender), trailing=True,
                             tags=self._tags(sender, 0, sent_at))]
            case Welcome(nick, joined_room):
                self.nick = nick
                return [*self.lookup.welcome(nick), *self._self_joined(joined_room)]
            case Entered(joined_room) | Moved(joined_room):
                parted = [] if isinstance(event, Entered) else self._part_all_but(joined_room)
                return [*parted, *self._self_joined(joined_room)]
            case Topic(topic_room, text, by, at):
                if not text:
                    return []
                out = [self.numeric("332", channel(topic_room), text)]
                if by:
                    out.append(self.numeric("333", channel(topic_room), by, str(int(at or 0))))
                return out
            case Joined(nick, joined_room):
                self._quit_shown.pop(fold(nick), None)
                return [line("JOIN", channel(joined_room), source=mask(nick))]
            case CrowdJoined(joined_room, nicks):
                for nick in nicks:
                    self._quit_shown.pop(fold(nick), None)
                return [line("JOIN", channel(joined_room), source=mask(nick)) for nick in nicks]
            case Left(nick, left_room, reason):
                return self._left(nick, left_room, reason)
            case CrowdLeft(left_room, departures):
                return [
                    text for gone in departures
                    for text in self._left(gone.nick, left_room, gone.reason)
                ]
            case Renamed(old, new):
                if event == self._last_renamed:
                    return []
                self._last_renamed = event
                if fold(old) == fold(self.nick):
                    self.nick = new
                return [line("NICK", new, source=mask(old))]
            case Removed(removed_room, by, reason, banned) if removed_room is not None:
                self.channels.pop(fold(removed_room), None)
                why = reason or ("banned" if banned else by)
                return [line("KICK", channel(removed_room), self.nick, why, source=mask(by),
                             trailing=True)]
            case TopicSet(topic_room, text, by):
                return [line("TOPIC", channel(topic_room), text, source=mask(by), trailing=True)]
            case Moderated(moderated_room, by, action, target) if action in _MODE_OF:
                where = channel(LOBBY if moderated_room is None else moderated_room)
                return [line("MODE", where, _MODE_OF[action], target, source=mask(by))]
            case Notice(text) | Error(text):
                return [self.notice(text)]
        return [self.notice(render(event).removeprefix("*** ").removeprefix("!!! "))]

    def _said(self, said: Said, target: str) -> str:
        body = f"\x01ACTION {said.text}\x01" if isinstance(said, Action) else said.text
        return line("PRIVMSG", target, body, source=mask(said.sender), trailing=True,
                    tags=self._tags(said.sender, said.id, said.time))

    def _tags(self, sender: str, said_id: int, at: float) -> dict[str, str]:
        tags: dict[str, str] = {}
        if "server-time" in self.caps and at:
            tags["time"] = server_time(at)
        if "message-tags" in self.caps and said_id:
            tags["msgid"] = str(said_id)
        if "account-tag" in self.caps:
            account = self.lookup.account_of(sender)
            if account is not None:
                tags["account"] = account
        return tags

    def _echo(self, said_id: int) -> list[str]:
        if not self.echoes:
            return []
        echo = self.echoes.popleft()
        tags = self._tags(self.nick, said_id, self.lookup.now())
        return [line(echo.command, echo.target, echo.text, source=mask(self.nick), tags=tags,
                     trailing=True)]

    def _self_joined(self, room: str) -> list[str]:
        self.channels[fold(room)] = room
        self._names_due = room
        return [line("JOIN", channel(room), source=mask(self.nick))]

    def _part_all_but(self, room: str) -> list[str]:
        """A move (an operator put the member back in the lobby) leaves every other room."""
        gone = [key for key in self.channels if key != fold(room)]
        return [
            line("PART", channel(self.channels.pop(key)), f"went to {channel(room)}",
                 source=mask(self.nick), trailing=True)
            for key in gone
        ]

    def _left(self, nick: str, room: str, reason: LeaveReason) -> list[str]:
        match reason:
            case WentTo(other):
                return [line("PART", channel(room), f"went to {channel(other)}", source=mask(nick),
                             trailing=True)]
            case Kick(by, text, _, False):
                return [line("KICK", channel(room), nick, text or by, source=mask(by),
                             trailing=True)]
            case str():
                return [line("PART", channel(room), reason, source=mask(nick), trailing=True)]
            case Quit() | ConnectionLost() | SendQueueExceeded() | Reconnected() | Kick():
                if fold(nick) in self._quit_shown:
                    return []
                self._quit_shown[fold(nick)] = None
                if len(self._quit_shown) > QUITS_REMEMBERED:
                    self._quit_shown.popitem(last=False)
                return [line("QUIT", _quit_message(reason), source=mask(nick), trailing=True)]
        return []


def _quit_message(reason: LeaveReason) -> str:
    match reason:
        case Quit(text):
            return f"Quit: {text}" if text else "Quit"
        case Kick(by, text):
            return f"Killed by {by}" + (f": {text}" if text else "")
    return describe_reason(reason).capitalize()


__all__ = ["SERVER", "Echo", "Lookup", "Viewer"]
