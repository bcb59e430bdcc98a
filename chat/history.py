"""Room history: what was said in each room, numbered, kept for replay.

:class:`History` is the default :class:`~chat.ports.HistoryStore`. It keeps
the recent messages and actions of at most ``cache`` rooms in memory, the
least recently used pushed out first, so that replaying them never waits
on a disk. With an :class:`Archive` (:class:`chat.storage.SQLiteHistoryStore`,
``--db``) history outlives the process, and a room that is not in memory is
read from the archive when it is asked for; without one, a room pushed out
of memory has lost its history.

Recording is synchronous; the port's reads (:meth:`History.read_recent`,
:meth:`History.read_since`) return Deferreds that have already fired, as
this store answers from memory or by one indexed SQLite query.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from twisted.internet import defer

from chat.domain.events import Said
from chat.ports.history import CatchUp


@dataclass(slots=True)
class RoomHistory:
    """The last entries of one room, and what is known of those before them."""

    entries: list[Said]
    forgotten: int = 0
    """The newest id of this room that is no longer among ``entries`` (0: none)."""
    complete: bool = True
    """False when the store could not be read: ``entries`` may miss some."""


@dataclass(slots=True)
class _Cached:
    entries: deque[Said]
    forgotten: int = 0


class Archive(Protocol):
    """Where history is written so that it survives a restart."""

    def append(self, room: str, said: Said) -> None:
        """Write one entry, later and without blocking."""

    def latest(self, room: str, count: int) -> RoomHistory:
        """The last ``count`` entries of ``room``, read now."""

    def close(self) -> defer.Deferred[None]:
        """Write everything still pending, then stop."""


class History:
    """The recent messages and actions of rooms, by room key."""

    def __init__(self, keep: int = 1000, cache: int = 100) -> None:
        self.keep = keep
        self.cache = cache
        self.store: Archive | None = None
        self._rooms: OrderedDict[str, _Cached] = OrderedDict()
        self._lost = 0
        """Without a store: the newest id of the rooms pushed out of memory."""

    def use(self, store: Archive) -> None:
        """Keep history in ``store`` from now on (the server has just started)."""
        self.store = store

    @property
    def cached(self) -> int:
        """Rooms whose history is in memory now."""
        return len(self._rooms)

    def record(self, room: str, said: Said) -> None:
        """Keep ``said`` as the newest entry of ``room``."""
        cached = self._rooms.get(room)
        if cached is None and self.store is None:
            cached = self._remember(room, RoomHistory([], self._lost))
        if cached is not None:
            self._rooms.move_to_end(room)
            if len(cached.entries) == self.keep:
                cached.forgotten = cached.entries[0].id
            cached.entries.append(said)
        if self.store is not None:
            self.store.append(room, said)

    def read_recent(self, room: str, count: int) -> defer.Deferred[list[Said]]:
        """The last ``count`` entries of ``room``, oldest first."""
        return defer.execute(self._recent, room, count)

    def recent_now(self, room: str, count: int) -> list[Said] | None:
        """:meth:`read_recent`'s answer, at once; None if reading it failed (the store could
        not be read: :meth:`read_recent` fails the same way, and says why)."""
        cached = self._rooms.get(room)
        if cached is not None and count > 0:
            self._rooms.move_to_end(room)
            return list(cached.entries)[-count:]
        try:
            return self._recent(room, count)
        except Exception:
            return None

    def read_since(self, room: str, after: int) -> defer.Deferred[CatchUp]:
        """Entries of ``room`` with an id above ``after``, oldest first, and whether
        entries after ``after`` were already dropped (the gap is larger than what is kept)."""
        return defer.execute(self._since, room, after)

    def _recent(self, room: str, count: int) -> list[Said]:
        if count <= 0:
            return []
        return list(self._room(room).entries)[-count:]

    def _since(self, room: str, after: int) -> CatchUp:
        cached = self._room(room)
        return CatchUp(_after(cached.entries, after), cached.forgotten > after)

    def close(self) -> defer.Deferred[None]:
        """Write what is pending and stop the store; fires when it has stopped."""
        if self.store is None:
            return defer.succeed(None)
        return self.store.close()

    def _room(self, room: str) -> _Cached:
        cached = self._rooms.get(room)
        if cached is not None:
            self._rooms.move_to_end(room)
            return cached
        if self.store is None:
            return _Cached(deque(), self._lost)
        read = self.store.latest(room, self.keep)
        if not read.complete:
            return _Cached(deque(read.entries), read.forgotten)
        return self._remember(room, read)

    def _remember(self, room: str, read: RoomHistory) -> _Cached:
        cached = self._rooms[room] = _Cached(deque(read.entries, maxlen=self.keep), read.forgotten)
        while len(self._rooms) > self.cache:
            _, pushed_out = self._rooms.popitem(last=False)
            if self.store is None and pushed_out.entries:
                self._lost = max(self._lost, pushed_out.entries[-1].id)
        return cached


def _after(entries: Iterable[Said], after: int) -> list[Said]:
    return [said for said in entries if said.id > after]
