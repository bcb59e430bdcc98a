"""Message ids counted in memory: the :class:`~chat.ports.Sequencer` of a server without ``--db``.

Ids start again from 1 (or from ``after``) each time the process starts,
which is right only while nothing outlives the process that was numbered
by them; with ``--db``, :class:`chat.storage.SQLiteSequencer` is used.
"""

from __future__ import annotations


class LocalSequencer:
    """Ids 1, 2, 3, ... (or from ``after + 1``), in this process only."""

    def __init__(self, after: int = 0) -> None:
        self.last_id = after
        """The last id handed out (0: none)."""

    def next_id(self) -> int:
        """The id after the last one."""
        self.last_id += 1
        return self.last_id
