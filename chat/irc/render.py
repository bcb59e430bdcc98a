"""The IRC renderer: the lines one IRC user is shown for the chat's events.

What an IRC client is shown depends on it: its nickname is the target of
numerics, the capabilities it enabled decide the tags, and the protocol
has state the domain does not keep (which channels the client believes it
is in; a member who left several shared rooms quits once; echo-message
needs the text of the client's own messages, which the domain acknowledges
by id only). :class:`Viewer` keeps that state for one connection and turns
each :class:`~chat.domain.events.Batch` into lines (:meth:`Viewer.lines`).

A message too long for one IRC line (512 bytes with the source and the
target) is cut into several PRIVMSGs. History shown on joining is, with
``server-time``, the messages themselves with their ``time`` (and with
``batch``, in a ``chathistory`` batch); without it, NOTICEs as the line
front end words them. Events with no IRC form (mutes, kept letters) are
server NOTICEs worded as the line front end words them.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from chat.domain.events import (
    Action,
    Arrived,
    Away,
    AwayChanged,
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
    Noticed,
    Past,
    Private,
    PrivateNotice,
    PrivateSent,
    Quit,
    Reconnected,
    Removed,
    Renamed,
    RoomChanged,
    Said,
    SendQueueExceeded,
    Sent,
    SettingChanged,
    Topic,
    TopicSet,
    Welcome,
    WentTo,
)
from chat.domain.registry import LOBBY
from chat.irc.wire import LINE_MAX, Wire, channel, encode, line, server_time, split_text
from chat.line.render import describe_reason, render
from chat.text import fold

QUITS_REMEMBERED = 256
"""Members whose QUIT this client was shown that are remembered, so that a member who
was in several of its channels quits once (its Left events come one per room, together)."""
NAMES_PER_LINE = 20
"""Nicknames (or nick!user@host, with userhost-in-names) in one RPL_NAMREPLY line."""
TOPIC_MAX = 390
"""Bytes of a topic shown (ISUPPORT TOPICLEN): a longer one, set by a line user, is cut."""

_MODE_OF = {"banned": "+b", "unbanned": "-b", "opped": "+o", "deopped": "-o"}
_batch_ids = itertools.count(1)
_LETTER_OF = {
    "topic_ops_only": "t", "moderated": "m", "secret": "s", "invite_only": "i",
    "outside_messages": "n", "member_limit": "l", "join_key": "k", "voiced": "v",
}


def mode_change(changes: tuple[SettingChanged, ...]) -> list[str]:
    """The mode string and arguments of a MODE line telling ``changes``, ``+tm-k`` style."""
    letters, arguments, last_sign = "", [], ""
    for change in changes:
        value, letter = change.value, _LETTER_OF[change.setting]
        if change.setting == "outside_messages":
            value = not value
        sign = "+" if value not in (False, None, "") else "-"
        letters += letter if sign == last_sign else sign + letter
        last_sign = sign
        if change.nick is not None:
            arguments.append(change.nick)
        elif sign == "+" and letter in "lk":
            arguments.append(str(value))
    return [letters, *arguments]


class Lookup(Protocol):
    """What the renderer asks of the server about others."""

    def names(self, room: str) -> list[str]:
        """The members of ``room`` as RPL_NAMREPLY lists them (``@`` before operators, ``+``
        before voiced members)."""

    def secret(self, room: str) -> bool:
        """Whether ``room`` is secret (+s): RPL_NAMREPLY marks it ``@``, not ``=``."""

    def account_of(self, nick: str) -> str | None:
        """The account ``nick`` is logged in to, if it is online and logged in."""

    def mask_of(self, nick: str) -> str:
        """How ``nick`` is named as a source: ``nick!user@host``."""

    def away_of(self, nick: str) -> str | None:
        """Why ``nick`` is away, if it is online and away."""

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


def batch_reference() -> str:
    """A reference for a new BATCH, unique on this server."""
    return f"b{next(_batch_ids)}"


def ban_mask(target: str) -> str:
    """A ban target as an IRC ban mask: a nickname is ``nick!*@*``; an account, an address
    or a network stays as ``/ban`` writes it."""
    if any(char in target for char in ".:/!@*"):
        return target
    return f"{target}!*@*"


SPEECH_CAPS = frozenset({"server-time", "message-tags", "account-tag"})
"""The capabilities that change how others' messages are shown."""
SPOKEN_KEPT = 256
"""Message batches whose lines are kept, per generation, for their other recipients."""


class SpokenCache:
    """The bytes of batches of others' messages, rendered and encoded once for every
    recipient with the same :data:`SPEECH_CAPS` (such a batch shows the same lines to all
    of them); two generations of :data:`SPOKEN_KEPT` batches, as the line front end's
    RenderCache."""

    def __init__(self, kept: int = SPOKEN_KEPT) -> None:
        self.kept = kept
        self.recent: dict[tuple[int, frozenset[str]], tuple[Batch, bytes]] = {}
        self.older: dict[tuple[int, frozenset[str]], tuple[Batch, bytes]] = {}

    def cached(self, viewer: Viewer, batch: Batch) -> bytes | None:
        """What ``batch`` was rendered to for a viewer like this one, if it was."""
        key = (id(batch), viewer.speech_caps)
        found = self.recent.get(key) or self.older.get(key)
        if found is not None and found[0] is batch:
            return found[1]
        return None

    def render(self, viewer: Viewer, batch: Batch) -> bytes:
        """``batch`` (only speech) as ``viewer`` is shown it, kept for its other recipients."""
        data = encode(viewer.lines(batch))
        if len(self.recent) >= self.kept:
            self.older, self.recent = self.recent, {}
        # The batch is held so that its id is not reused while it is a key.
        self.recent[(id(batch), viewer.speech_caps)] = (batch, data)
        return data


def only_speech(batch: Batch) -> bool:
    """Whether ``batch`` is only messages and actions of a room, shown alike to all."""
    return batch.room is not None and not batch.parts and all(
        type(event) is Message or type(event) is Action for event in batch.events
    )


SPOKEN = SpokenCache()


class Viewer:
    """One IRC client's view of the chat, and the lines it is shown."""

    def __init__(self, lookup: Lookup, server: str) -> None:
        self.lookup = lookup
        self.server = server
        """The server's name, the source of numerics and server notices."""
        self.nick = "*"
        self.caps: set[str] = set()
        self.speech_caps: frozenset[str] = frozenset()
        """Those of :attr:`caps` that change how others' messages are shown (see
        :meth:`caps_changed`)."""
        self.channels: dict[str, str] = {}
        """The rooms the client is in, by key, as named."""
        self.echoes: deque[Echo] = deque()
        self._last_renamed: Renamed | None = None
        self._last_away: AwayChanged | None = None
        self._quit_shown: OrderedDict[str, None] = OrderedDict()
        self._names_due: list[str] = []
        self._history_batch: str | None = None

    def caps_changed(self) -> None:
        """To be called once :attr:`caps` has changed."""
        self.speech_caps = SPEECH_CAPS.intersection(self.caps)

    # Lines from the server

    def reply(self, command: str, *params: str, trailing: bool = False) -> str:
        """A line from the server (CAP, PONG, BATCH...)."""
        return line(command, *params, source=self.server, trailing=trailing)

    def numeric(self, code: str, *params: str) -> str:
        """A numeric reply to this client."""
        return line(code, self.nick, *params, source=self.server, trailing=len(params) > 1)

    def notice(self, text: str, target: str | None = None) -> str:
        """A server NOTICE to this client (or to one of its channels)."""
        return line("NOTICE", self.nick if target is None else target, text, source=self.server,
                    trailing=True)

    def fail(self, command: str, code: str, *context: str) -> str:
        """An IRCv3 standard reply: ``FAIL COMMAND CODE [context...] :description``."""
        return line("FAIL", command, code, *context, source=self.server, trailing=True)

    # Events

    def lines(self, batch: Batch) -> list[str]:
        """Everything ``batch`` shows this client, in order."""
        out: list[str] = []
        for event in batch.events:
            out.extend(self._event(event, batch.room))
        for room in self._names_due:
            out.extend(self.names(room))
        self._names_due.clear()
        return out

    def names(self, room: str) -> list[str]:
        """RPL_NAMREPLY lines and RPL_ENDOFNAMES for ``room``."""
        nicks = self.lookup.names(room)
        if fold(self.nick) not in {fold(nick.lstrip("@+").partition("!")[0]) for nick in nicks}:
            shown = self.lookup.mask_of(self.nick) if "userhost-in-names" in self.caps else None
            nicks.append(shown or self.nick)
        symbol = "@" if self.lookup.secret(room) else "="
        out = [
            self.numeric(
                "353", symbol, channel(room), " ".join(nicks[start : start + NAMES_PER_LINE])
            )
            for start in range(0, len(nicks), NAMES_PER_LINE)
        ]
        return [*out, self.numeric("366", channel(room), "End of /NAMES list")]

    def _event(self, event: Event, room: str | None) -> Iterable[str]:
        match event:
            case Wire(text):
                return text.split("\r\n")
            case Message() | Action():
                return self.said(event, channel(room or LOBBY))
            case Noticed(sender, text, at):
                return self._speech("NOTICE", sender, channel(room or LOBBY), text, 0, at)
            case Past(said):
                if "server-time" in self.caps:
                    return self.said(said, channel(room or LOBBY), self._history_batch)
                return [self.notice(render(event), channel(room or LOBBY))]
            case HistoryStart(history_room):
                if "server-time" not in self.caps:
                    return [self.notice(render(event)[4:], channel(room or LOBBY))]
                if "batch" not in self.caps:
                    return []
                self._history_batch = batch_reference()
                return [self.reply("BATCH", "+" + self._history_batch, "chathistory",
                                   channel(history_room))]
            case HistoryEnd():
                if "server-time" not in self.caps:
                    return [self.notice(render(event)[4:], channel(room or LOBBY))]
                reference, self._history_batch = self._history_batch, None
                return [] if reference is None else [self.reply("BATCH", "-" + reference)]
            case Sent(id):
                return self._echo(id)
            case Private(sender, text):
                return self._speech("PRIVMSG", sender, self.nick, text, 0, self.lookup.now())
            case PrivateNotice(sender, text):
                return self._speech("NOTICE", sender, self.nick, text, 0, self.lookup.now())
            case PrivateSent(recipient, text):
                if "echo-message" not in self.caps:
                    return []
                return self._speech("PRIVMSG", self.nick, recipient, text, 0, self.lookup.now())
            case Away(nick, message):
                return [self.numeric("301", nick, message)]
            case AwayChanged(nick, message):
                if "away-notify" not in self.caps or event is self._last_away:
                    return []
                self._last_away = event
                source = self.lookup.mask_of(nick)
                if message is None:
                    return [line("AWAY", source=source)]
                return [line("AWAY", message, source=source, trailing=True)]
            case Delivered(sender, text, sent_at, action):
                if "server-time" not in self.caps:
                    return [self.notice(render(event))]
                body = f"\x01ACTION {text}\x01" if action else text
                return self._speech("PRIVMSG", sender, self.nick, body, 0, sent_at)
            case Arrived(nick):
                self.nick = nick
                return self.lookup.welcome(nick)
            case Welcome(nick, joined_room):
                self.nick = nick
                return [*self.lookup.welcome(nick), *self._self_joined(joined_room)]
            case Entered(joined_room) | Moved(joined_room):
                parted = [] if isinstance(event, Entered) else self._part_all_but(joined_room)
                return [*parted, *self._self_joined(joined_room)]
            case Topic(topic_room, text, by, at):
                if not text:
                    return []
                out = [self.numeric("332", channel(topic_room), shown_topic(text))]
                if by:
                    out.append(self.numeric("333", channel(topic_room), by, str(int(at or 0))))
                return out
            case Joined(nick, joined_room):
                self._quit_shown.pop(fold(nick), None)
                source = self.lookup.mask_of(nick)
                joined = [line("JOIN", channel(joined_room), source=source)]
                away = self.lookup.away_of(nick) if "away-notify" in self.caps else None
                if away is not None:
                    joined.append(line("AWAY", away, source=source, trailing=True))
                return joined
            case CrowdJoined(joined_room, nicks):
                for nick in nicks:
                    self._quit_shown.pop(fold(nick), None)
                return [line("JOIN", channel(joined_room), source=self.lookup.mask_of(nick))
                        for nick in nicks]
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
                source = self.lookup.mask_of(new).replace(new + "!", old + "!", 1)
                return [line("NICK", new, source=source, trailing=True)]
            case Removed(removed_room, by, reason, banned) if removed_room is not None:
                self.channels.pop(fold(removed_room), None)
                why = reason or ("banned" if banned else by)
                return [line("KICK", channel(removed_room), self.nick, why,
                             source=self.lookup.mask_of(by), trailing=True)]
            case TopicSet(topic_room, text, by):
                return [line("TOPIC", channel(topic_room), shown_topic(text),
                             source=self.lookup.mask_of(by), trailing=True)]
            case RoomChanged(changed_room, by, changes):
                return [line("MODE", channel(changed_room), *mode_change(changes),
                             source=self.lookup.mask_of(by))]
            case Moderated(moderated_room, by, action, target) if action in _MODE_OF:
                where = channel(LOBBY if moderated_room is None else moderated_room)
                shown = ban_mask(target) if action.endswith("banned") else target
                return [line("MODE", where, _MODE_OF[action], shown,
                             source=self.lookup.mask_of(by))]
            case Notice(text) | Error(text):
                return [self.notice(text)]
        return [self.notice(render(event).removeprefix("*** ").removeprefix("!!! "))]

    def said(self, said: Said, target: str, batch: str | None = None) -> list[str]:
        """The PRIVMSG lines of a message or action, with its id and time as tags."""
        if isinstance(said, Action):
            return self._speech("PRIVMSG", said.sender, target, said.text, said.id, said.time,
                                batch, action=True)
        return self._speech("PRIVMSG", said.sender, target, said.text, said.id, said.time, batch)

    def _speech(
        self, command: str, sender: str, target: str, text: str, said_id: int, at: float,
        batch: str | None = None, action: bool = False,
    ) -> list[str]:
        """``command`` lines from ``sender`` to ``target``. A text an IRC client could have
        sent in one line goes in one line, its source added (as Ergo does); a longer one (a
        line user's, up to ``--max-line``) in as many as keep each within 512 bytes. The id
        goes with the first."""
        source = self.lookup.mask_of(sender)
        wrapper = 9 if action else 0  # \x01ACTION and \x01
        unsourced = LINE_MAX - 2 - len(f"{command} {target} ".encode()) - wrapper
        if len(text.encode()) <= unsourced:
            pieces = [text]
        else:
            pieces = split_text(text, unsourced - len(f":{source} ".encode()))
        out = []
        for index, piece in enumerate(pieces):
            tags = self._tags(sender, said_id if index == 0 else 0, at)
            if batch is not None:
                tags["batch"] = batch
            body = f"\x01ACTION {piece}\x01" if action else piece
            out.append(line(command, target, body, source=source, tags=tags, trailing=True))
        return out

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
        action = echo.text.startswith("\x01ACTION ")
        text = echo.text.removeprefix("\x01ACTION ").removesuffix("\x01") if action else echo.text
        return self._speech(echo.command, self.nick, echo.target, text, said_id,
                            self.lookup.now(), action=action)

    def _self_joined(self, room: str) -> list[str]:
        self.channels[fold(room)] = room
        self._names_due.append(room)
        return [line("JOIN", channel(room), source=self.lookup.mask_of(self.nick))]

    def _part_all_but(self, room: str) -> list[str]:
        """A move (an operator put the member back in the lobby) leaves every other room."""
        gone = [key for key in self.channels if key != fold(room)]
        source = self.lookup.mask_of(self.nick)
        return [
            line("PART", channel(self.channels.pop(key)), f"went to {channel(room)}",
                 source=source, trailing=True)
            for key in gone
        ]

    def _left(self, nick: str, room: str, reason: LeaveReason) -> list[str]:
        source = self.lookup.mask_of(nick)
        match reason:
            case WentTo(other):
                return [line("PART", channel(room), f"went to {channel(other)}", source=source,
                             trailing=True)]
            case Kick(by, text, _, False):
                return [line("KICK", channel(room), nick, text or by,
                             source=self.lookup.mask_of(by), trailing=True)]
            case str():
                return [line("PART", channel(room), reason, source=source, trailing=True)]
            case Quit() | ConnectionLost() | SendQueueExceeded() | Reconnected() | Kick():
                if fold(nick) in self._quit_shown:
                    return []
                self._quit_shown[fold(nick)] = None
                if len(self._quit_shown) > QUITS_REMEMBERED:
                    self._quit_shown.popitem(last=False)
                return [line("QUIT", _quit_message(reason), source=source, trailing=True)]
        return []


def shown_topic(text: str) -> str:
    """A topic as IRC users are shown it: at most :data:`TOPIC_MAX` bytes."""
    return split_text(text, TOPIC_MAX)[0] if len(text.encode()) > TOPIC_MAX else text


def _quit_message(reason: LeaveReason) -> str:
    match reason:
        case Quit(text):
            return f"Quit: {text}" if text else "Quit"
        case Kick(by, text):
            return f"Killed by {by}" + (f": {text}" if text else "")
    return describe_reason(reason).capitalize()


__all__ = ["Echo", "Lookup", "Viewer", "ban_mask", "batch_reference", "shown_topic"]
