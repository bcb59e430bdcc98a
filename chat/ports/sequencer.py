"""The sequencer port: message ids, each handed out once, ever.

Every message and action of the chat gets an id from the one
:class:`Sequencer` of the chat (all rooms share it). Ids are what a client
resumes from (``/resume ROOM ID``) and what history is ordered by, so they
must never go backwards or be given twice: not after a restart, and, for a
shared implementation, not by two processes.

Implementations: :class:`chat.local.LocalSequencer` (in memory, from 1 each
start) and :class:`chat.storage.SQLiteSequencer` (reserved durably in
``<db>.lock``, so a crash cannot make an id be given twice).

Several processes agree on a room's order only if a message's id is given
where its place in the room is: :class:`chat.redis.rooms.RedisRooms`, the
sequencer, history store and bus of a node at once, hands out provisional
ids and numbers each message as it publishes it (one Redis call); members
and history only ever see the id it gave.
"""

from __future__ import annotations

from typing import Protocol


class Sequencer(Protocol):
    """Where the ids of messages come from."""

    @property
    def last_id(self) -> int:
        """The highest id this sequencer has handed out, or that may have been
        handed out before it started (0: none)."""

    def next_id(self) -> int:
        """A new id: a positive integer above every id handed out before it.

        Synchronous, as it is on the path of every message: an
        implementation that must ask a remote service reserves ids in blocks,
        ahead of their use, as the SQLite one reserves them in its lock file.
        """
