"""SQLite storage of room history, written off the reactor thread.

Entries are gathered for up to 50 ms and handed, as one batch, to a
writer thread that stores each batch in one transaction: the reactor never
waits on the disk. History is read once, at start-up.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from typing import Any

from twisted.logger import Logger

from chat.events import Action, Message, Said

log = Logger()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY,
    room TEXT NOT NULL,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_room ON history (room, id);
"""

_Row = tuple[int, str, float, str, str, str]

HAND_OVER_EVERY = 0.05
"""Seconds entries wait, gathered, before the writer thread gets them."""


class SQLiteHistoryStore:
    """History in one SQLite file (``--db``)."""

    def __init__(self, path: str, reactor: Any) -> None:
        self.path = path
        self._reactor = reactor
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._rows: list[_Row] = []
        self._batches: queue.SimpleQueue[list[_Row] | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name="tcpchat-history", daemon=True)
        self._writer.start()
        self._closed = False

    def load(self, keep: int) -> tuple[int, dict[str, list[Said]], dict[str, int]]:
        last_id = self._db.execute("SELECT coalesce(max(id), 0) FROM history").fetchone()[0]
        rooms: dict[str, list[Said]] = {}
        by_age = (
            "(SELECT *, row_number() OVER (PARTITION BY room ORDER BY id DESC) AS age"
            " FROM history)"
        )
        forgotten = dict(self._db.execute(
            f"SELECT room, max(id) FROM {by_age} WHERE age > ? GROUP BY room", (keep,)
        ).fetchall())
        rows = self._db.execute(
            f"SELECT id, room, time, kind, sender, text FROM {by_age} WHERE age <= ? ORDER BY id",
            (keep,),
        )
        for id_, room, time, kind, sender, text in rows:
            said_type = Action if kind == "action" else Message
            rooms.setdefault(room, []).append(said_type(sender, text, id_, time))
        log.info(
            "history: {count} rooms loaded from {path}, last message id {last}",
            count=len(rooms), path=self.path, last=last_id,
        )
        return int(last_id), rooms, forgotten

    def append(self, room: str, said: Said) -> None:
        if self._closed:
            return
        if not self._rows:
            self._reactor.callLater(HAND_OVER_EVERY, self._hand_over)
        kind = "action" if isinstance(said, Action) else "message"
        self._rows.append((said.id, room, said.time, kind, said.sender, said.text))

    def _hand_over(self) -> None:
        rows, self._rows = self._rows, []
        if rows:
            self._batches.put(rows)

    def _write(self) -> None:
        while True:
            rows = self._batches.get()
            if rows is None:
                return
            try:
                with self._db:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?)", rows
                    )
            except sqlite3.Error as error:
                log.error("history: could not write {count} entries: {error}",
                          count=len(rows), error=error)

    def close(self) -> None:
        if self._closed:
            return
        self._hand_over()
        self._closed = True
        self._batches.put(None)
        self._writer.join(timeout=10)
        self._db.close()
