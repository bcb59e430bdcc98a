"""The history store port: what was said in each room, read back for replay and catch-up.

A :class:`HistoryStore` keeps, per room key, the messages and actions said
there (:data:`chat.domain.events.Said`), each with its id from the
:class:`~chat.ports.sequencer.Sequencer`. Ids are shared by all rooms, so
the ids of one room have gaps; only :attr:`CatchUp.missed` says whether
entries of *this* room are gone.

Recording is on the path of every message and is synchronous (an
implementation writes later, in the background). Reads return Deferreds: a
remote store must wait for them; a store that has a room's recent entries at
once gives them by :meth:`HistoryStore.recent_now` too (a remote one gives
None). A store keeps at most :attr:`keep` entries
of a room ready to read; older ones may be gone.

Implementation: :class:`chat.history.History`, rooms in memory (an LRU of
``--history-cache`` rooms), over SQLite when ``--db`` is given. A store that
is the rooms' bus too (:class:`chat.redis.rooms.RedisRooms`) keeps a message
when it is published and ignores :meth:`HistoryStore.record`.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from twisted.internet import defer

from chat.domain.events import Said


class CatchUp(NamedTuple):
    """A room's entries after an id, and whether some of them are no longer kept."""

    entries: list[Said]
    """The entries with an id above the one asked for that are kept, oldest first."""
    missed: bool
    """True when entries of the room above that id existed but are gone (too old)."""


class HistoryStore(Protocol):
    """Where the history of every room is kept."""

    @property
    def keep(self) -> int:
        """The most entries of one room a read returns."""

    def record(self, room: str, said: Said) -> None:
        """Keep ``said`` as the newest entry of ``room`` (its id is above every
        id recorded before). Synchronous and never failing: a store that cannot
        write now keeps the entry and writes it later."""

    def read_recent(self, room: str, count: int) -> defer.Deferred[list[Said]]:
        """The last ``count`` entries of ``room`` (at most :attr:`keep`), oldest
        first; none for a ``count`` of 0 or less."""

    def recent_now(self, room: str, count: int) -> list[Said] | None:
        """What :meth:`read_recent` would answer, if the store has it at once (its rooms
        in memory), else None: then :meth:`read_recent` must be asked, and waited for.
        Every join shows its room's recent history; this makes no Deferred for it."""

    def read_since(self, room: str, after: int) -> defer.Deferred[CatchUp]:
        """Exactly the kept entries of ``room`` with an id above ``after``, oldest
        first, and whether any entry of ``room`` above ``after`` is gone."""

    def close(self) -> defer.Deferred[None]:
        """Write everything still pending, then stop; fires once stopped."""
