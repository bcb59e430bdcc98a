"""What the client knows of where the user is, read from the server's notices.

The server says it in sentences (the protocol page's examples): the
welcome and ``you are now in ROOM with N others`` give the room and how
many are in it, joins and leaves change that, ``/who`` and ``/rooms``
answers give the members and the rooms, ``/away`` and ``/register``
answers the user's own state, topic lines the topic. :class:`Roster`
follows them for the status line and for completion; it does no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from chat.client.lines import LOBBY, Kind, ServerLine
from chat.text import NICK_MAX

_NICK = rf"[A-Za-z0-9_-]{{1,{NICK_MAX}}}"
_ROOM = r"[A-Za-z0-9_-]{1,32}"

_WELCOME = re.compile(
    rf"Welcome, (?P<nick>{_NICK})! You are (?:in (?P<room>{_ROOM}) with (?P<others>[0-9]+) "
    rf"others?|the first in (?P<first>{_ROOM}))"
)
_MOVED = re.compile(rf"you are now in (?P<room>{_ROOM}) with (?P<others>[0-9]+) others?")
_JOINED = re.compile(rf"(?P<nick>{_NICK}) has joined")
_LEFT = re.compile(rf"(?P<nick>{_NICK}) has left \(.*\)")
_CROWD_JOINED = re.compile(r"(?P<count>[0-9]+) users? joined: (?P<names>.*)")
_CROWD_LEFT = re.compile(r"(?P<count>[0-9]+) users? left: (?P<names>.*)")
_RENAMED = re.compile(rf"(?P<old>{_NICK}) is now known as (?P<new>{_NICK})")
WHO_ANSWER = re.compile(rf"(?P<count>[0-9]+) users? in (?P<room>{_ROOM}): (?P<names>.*)")
ROOMS_ANSWER = re.compile(r"(?P<count>[0-9]+) rooms?: (?P<rooms>.*)")
_ROOM_COUNT = re.compile(rf"(?P<room>{_ROOM}) \((?P<count>[0-9]+)\)")
AWAY_ANSWER = re.compile(r"you are marked as away: (?P<message>.*)")
_BACK = "you are back"
REGISTERED_SUFFIX = " is registered: from now on it asks for its password"
_REGISTERED = re.compile(rf"(?P<nick>{_NICK}){re.escape(REGISTERED_SUFFIX)}")
_UNREGISTERED = re.compile(rf"(?P<nick>{_NICK}) is no longer registered")
_KICKED = re.compile(r"you were kicked out of .*; you are back in the lobby")
_TOPIC = re.compile(rf"topic of (?P<room>{_ROOM}): (?P<text>.*?)(?: \(set by .*\))?")
_NO_TOPIC = re.compile(rf"(?P<room>{_ROOM}) has no topic")
_TOPIC_SET = re.compile(rf"{_NICK} set the topic of (?P<room>{_ROOM}): (?P<text>.*)")
_TOPIC_CLEARED = re.compile(rf"{_NICK} cleared the topic of (?P<room>{_ROOM})")
_NAMES_ONLY = re.compile(rf"{_NICK}")


def kicked_to_lobby(error_text: str) -> bool:
    """Whether an error's text says the user was kicked out of a room, back to the lobby."""
    return _KICKED.fullmatch(error_text) is not None


@dataclass
class Roster:
    """The room the user is in, who is there, the rooms known, and the user's own state.

    ``users`` is None when the server has not said (after a kick to the
    lobby, until the next ``/who``). Nicknames keep the case the server
    gave them.
    """

    room: str = LOBBY
    users: int | None = None
    members: dict[str, str] = field(default_factory=dict)  # folded nickname: as spelled
    rooms: dict[str, str] = field(default_factory=dict)  # folded name: as spelled
    topic: str = ""
    away: str | None = None
    account: str | None = None

    def welcomed(self, line_text: str) -> bool:
        """Take in the welcome's notice text; whether it was one."""
        match = _WELCOME.match(line_text)
        if match is None:
            return False
        first = match["first"]
        self._entered(first or match["room"], 0 if first else int(match["others"]))
        self._add(match["nick"])
        return True

    def take(self, said: ServerLine, own_nick: str | None) -> bool:
        """Take in a line the server sent while chatting; whether anything known changed."""
        if said.stamp is not None:
            return False
        if said.kind in (Kind.MESSAGE, Kind.ACTION) and said.nick is not None:
            return self._add(said.nick)
        if said.kind is Kind.ERROR and kicked_to_lobby(said.text):
            self._entered(LOBBY, None)
            return True
        if said.kind is not Kind.NOTICE:
            return False
        return self._notice(said.text, own_nick)

    def _notice(self, text: str, own_nick: str | None) -> bool:
        if (match := _MOVED.fullmatch(text)) is not None:
            self._entered(match["room"], int(match["others"]))
            if own_nick is not None:
                self._add(own_nick)
        elif (match := _JOINED.fullmatch(text)) is not None:
            if self._add(match["nick"]):
                self._count(+1)
        elif (match := _LEFT.fullmatch(text)) is not None:
            if self.members.pop(match["nick"].lower(), None) is not None:
                self._count(-1)
        elif (match := _CROWD_JOINED.fullmatch(text)) is not None:
            for nick in _NAMES_ONLY.findall(match["names"].split(" and ")[0]):
                self._add(nick)
            self._count(int(match["count"]))
        elif (match := _CROWD_LEFT.fullmatch(text)) is not None:
            for nick in re.findall(rf"({_NICK}) \(", match["names"]):
                self.members.pop(nick.lower(), None)
            self._count(-int(match["count"]))
        elif (match := _RENAMED.fullmatch(text)) is not None:
            if self.members.pop(match["old"].lower(), None) is not None:
                self._add(match["new"])
        else:
            return self._answer(text, own_nick)
        return True

    def _answer(self, text: str, own_nick: str | None) -> bool:
        """Answers to commands: /who, /rooms, /away, /register, topics."""
        own = (own_nick or "").lower()
        if (match := WHO_ANSWER.fullmatch(text)) is not None:
            self.members = {nick.lower(): nick for nick in match["names"].split(", ") if nick}
            if match["room"].lower() == self.room.lower():
                self.users = int(match["count"])
        elif (match := ROOMS_ANSWER.fullmatch(text)) is not None:
            for listed in _ROOM_COUNT.finditer(match["rooms"]):
                self.rooms[listed["room"].lower()] = listed["room"]
                if listed["room"].lower() == self.room.lower():
                    self.users = int(listed["count"])
        elif (match := AWAY_ANSWER.fullmatch(text)) is not None:
            self.away = match["message"]
        elif text == _BACK:
            self.away = None
        elif (match := _REGISTERED.fullmatch(text)) is not None and match["nick"].lower() == own:
            self.account = match["nick"]
        elif (match := _UNREGISTERED.fullmatch(text)) is not None and match["nick"].lower() == own:
            self.account = None
        elif (match := _TOPIC.fullmatch(text) or _TOPIC_SET.fullmatch(text)) is not None:
            return self._topic(match["room"], match["text"])
        elif (match := _NO_TOPIC.fullmatch(text) or _TOPIC_CLEARED.fullmatch(text)) is not None:
            return self._topic(match["room"], "")
        else:
            return False
        return True

    def _topic(self, room: str, text: str) -> bool:
        self.rooms.setdefault(room.lower(), room)
        if room.lower() != self.room.lower():
            return False
        self.topic = text
        return True

    def _entered(self, room: str, others: int | None) -> None:
        self.room = room
        self.rooms.setdefault(room.lower(), room)
        self.users = None if others is None else others + 1
        self.members = {}
        self.topic = ""

    def _add(self, nick: str) -> bool:
        if nick.lower() in self.members:
            return False
        self.members[nick.lower()] = nick
        return True

    def _count(self, change: int) -> None:
        if self.users is not None:
            self.users = max(self.users + change, 1)
