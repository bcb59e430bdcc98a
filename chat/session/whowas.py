"""Who used a nickname lately: the members who left, newest first (IRC's WHOWAS).

:class:`WhoWas` keeps the last ``--whowas`` departures of this server,
whatever the front end: the nickname, the USER name and realname an IRC
client gave (a line user's are its nickname), the account, and when. It
holds no connection, so what it keeps is bounded by its length alone.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from chat.text import fold


@dataclass(frozen=True, slots=True)
class Departure:
    """One member's leaving."""

    nick: str
    user: str
    realname: str
    account: str | None
    at: float


class WhoWas:
    """The last ``keep`` departures (0: none kept)."""

    def __init__(self, keep: int) -> None:
        self._departures: deque[Departure] = deque(maxlen=keep)

    def record(self, departure: Departure) -> None:
        if self._departures.maxlen:
            self._departures.append(departure)

    def find(self, nick: str, count: int = 0) -> list[Departure]:
        """Who left as ``nick`` (ignoring case), newest first, at most ``count`` (0: all)."""
        key = fold(nick)
        found = [gone for gone in reversed(self._departures) if fold(gone.nick) == key]
        return found[:count] if count > 0 else found
