"""Room history: what was said in each room, numbered, kept for replay.

:class:`History` keeps the most recent messages and actions of every
room in memory, so replaying them never waits on a disk; a
:class:`HistoryStore` (see :mod:`chat.storage`) makes them outlive the
process.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Protocol

from chat.events import Said


class HistoryStore(Protocol):
    """Where history is written so that it survives a restart."""

    def load(self, keep: int) -> tuple[int, dict[str, list[Said]], dict[str, int]]:
        """The highest id ever given, the last ``keep`` entries of each room, and
        for each room with older entries the newest id left out."""

    def append(self, room: str, said: Said) -> None:
        """Write one entry, later and without blocking."""

    def close(self) -> None:
        """Write everything still pending, then stop."""


class History:
    """The recent messages and actions of every room, by room key."""

    def __init__(self, keep: int = 1000, store: HistoryStore | None = None) -> None:
        self.keep = keep
        self.store = store
        self.last_id = 0
        self._rooms: dict[str, deque[Said]] = {}
        self._forgotten: dict[str, int] = {}
        if store is not None:
            self.last_id, rooms, self._forgotten = store.load(keep)
            for room, entries in rooms.items():
                self._rooms[room] = deque(entries, maxlen=keep)

    def next_id(self) -> int:
        """A new id, higher than every id given before, across restarts."""
        self.last_id += 1
        return self.last_id

    def record(self, room: str, said: Said) -> None:
        """Keep ``said`` as the newest entry of ``room``."""
        entries = self._rooms.get(room)
        if entries is None:
            entries = self._rooms[room] = deque(maxlen=self.keep)
        elif len(entries) == self.keep:
            self._forgotten[room] = entries[0].id
        entries.append(said)
        if self.store is not None:
            self.store.append(room, said)

    def recent(self, room: str, count: int) -> list[Said]:
        """The last ``count`` entries of ``room``, oldest first."""
        entries = self._rooms.get(room)
        if not entries or count <= 0:
            return []
        return list(entries)[-count:]

    def since(self, room: str, after: int) -> tuple[list[Said], bool]:
        """Entries of ``room`` with an id above ``after``, oldest first.

        The flag says whether entries after ``after`` were already dropped
        (the gap is larger than what is kept).
        """
        dropped = self._forgotten.get(room, 0) > after
        entries = self._rooms.get(room)
        if not entries:
            return [], dropped
        return _after(entries, after), dropped

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def _after(entries: Iterable[Said], after: int) -> list[Said]:
    return [said for said in entries if said.id > after]
