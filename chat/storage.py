"""SQLite storage of room history, written off the reactor thread, and ids reserved durably.

:class:`SQLiteHistoryStore` is the :class:`~chat.history.Archive` behind
:class:`~chat.history.History` with ``--db`` (together they are the SQLite
:class:`~chat.ports.HistoryStore`); :class:`SQLiteSequencer` is the
:class:`~chat.ports.Sequencer` that takes its ids from the same store.

Entries are gathered for up to 50 ms and handed, as one batch, to a
writer thread that stores each batch in one transaction: the reactor never
waits on the disk to write. A batch that cannot be written (a locked
database, a full disk) is kept and tried again, with backoff, for as long
as the process lives. The same thread prunes the database to its
retention, in small chunks, at start and every minute.

Nothing is read at start-up but two numbers: a room's last entries are read
when it is asked for, by one indexed query on the reactor thread.

``<db>.lock``, beside the database, is held locked (``flock``) by the one
server that uses the database, and holds the ceiling of the message ids
reserved so far: an id is handed out only once the ceiling above it is on
disk, so no crash can make an id be given twice.
"""

from __future__ import annotations

import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from chat.domain.events import Action, Message, Said
from chat.history import RoomHistory

log = Logger()

_COLUMNS = {
    "history": ["id", "room", "time", "kind", "sender", "text"],
    "pruned": ["room", "last_id"],
}
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
CREATE TABLE IF NOT EXISTS pruned (
    room TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL
);
"""
_SQLITE_HEADER = b"SQLite format 3\x00"

_Row = tuple[int, str, float, str, str, str]

HAND_OVER_EVERY = 0.05
"""Seconds entries wait, gathered, before the writer thread gets them."""
ID_BLOCK = 10_000
"""Ids reserved at a time; the next block is reserved when half of one is used."""
RETRY_FIRST, RETRY_LONGEST = 0.1, 30.0
"""Seconds before a failed write is tried again, doubling each time up to the longest."""
READ_TIMEOUT = 0.1
"""Seconds a read on the reactor thread may wait for a lock before it gives up."""
PRUNE_EVERY = 60.0
"""Seconds between two rounds of pruning to the retention."""
PRUNE_CHUNK = 5_000
"""Messages deleted per transaction while pruning."""


class StoreError(Exception):
    """The database cannot be used; the message says which file and why, in one line."""


class SQLiteFile:
    """A store kept in one SQLite file of ``--db``: opened with a one-line
    :class:`StoreError` for a file it cannot use, its tables made or checked by
    :meth:`_prepare`."""

    path: str
    _db: sqlite3.Connection

    def _open(self, path: str, busy_timeout: float) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, timeout=busy_timeout)
        except sqlite3.Error as error:
            raise self._error(str(error)) from None
        try:
            self._prepare()
        except BaseException:
            self._db.close()
            raise

    def _error(self, problem: str) -> StoreError:
        return StoreError(f"tcpchat: cannot use --db {self.path}: {problem}")

    def _prepare(self) -> None:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _Stop:
    """Asks the writer thread to write what is left and end."""


@dataclass(frozen=True, slots=True)
class _Reserve:
    """Asks the writer thread to put the id ceiling this high on disk."""

    ceiling: int


class _IdCeiling:
    """The highest id that may be handed out, kept in the lock file."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        self.durable = int(text) if text.isascii() and text.isdigit() else 0

    def raise_to(self, ceiling: int) -> None:
        """Make ``ceiling`` durable (both threads may call this)."""
        with self._lock:
            if ceiling <= self.durable:
                return
            self.settle(ceiling)

    def settle(self, ceiling: int) -> None:
        """Put ``ceiling`` on disk, even below the one there (the caller knows no id is above)."""
        os.pwrite(self._fd, f"{ceiling:<20d}\n".encode(), 0)
        os.fdatasync(self._fd)
        self.durable = ceiling


class SQLiteSequencer:
    """Ids that no crash can make be given twice: each is below the ceiling in ``<db>.lock``.

    It may be made before ``store`` is opened (the server opens it once
    running, after twistd forks); ids go on from the highest one the store
    may have handed out before (or from ``after``, if higher).
    """

    def __init__(self, store: SQLiteHistoryStore, after: int = 0) -> None:
        self._store = store
        self._after = after
        self._last: int | None = None

    @property
    def last_id(self) -> int:
        """The last id handed out, or the highest one that may have been before this start."""
        if self._last is None:
            return max(self._store.last_id, self._after)
        return self._last

    def next_id(self) -> int:
        """The id after the last one, reserved on disk before it is returned."""
        said_id = self._last = self.last_id + 1
        self._store.reserve(said_id)
        return said_id


class SQLiteHistoryStore:
    """History in one SQLite file (``--db``), opened by :meth:`open` in the running process."""

    def __init__(
        self,
        path: str,
        reactor: Any,
        *,
        retain_messages: int = 0,
        retain_days: float = 0.0,
        busy_timeout: float = 1.0,
        prune_every: float = PRUNE_EVERY,
        prune_chunk: int = PRUNE_CHUNK,
        id_block: int = ID_BLOCK,
    ) -> None:
        self.path = path
        self.last_id = 0
        """The highest id that may have been handed out before this start."""
        self._reactor = reactor
        self._retain_messages = retain_messages
        self._retain_seconds = retain_days * 86400
        self._busy_timeout = busy_timeout
        self._prune_every = prune_every
        self._prune_chunk = prune_chunk
        self._id_block = id_block
        self._lock_fd = -1
        self._reader: sqlite3.Connection | None = None
        self._writer_db: sqlite3.Connection | None = None
        self._ceiling: _IdCeiling | None = None
        self._reserving = 0
        self._given = 0
        self._rows: list[_Row] = []
        self._unsaved: dict[str, dict[int, Said]] = {}
        self._unsaved_lock = threading.Lock()
        self._work: queue.SimpleQueue[list[_Row] | _Reserve | _Stop] = queue.SimpleQueue()
        self._closed: defer.Deferred[None] | None = None

    # Opening

    def check(self) -> None:
        """Raise :class:`StoreError` if :meth:`open` would fail now; take nothing."""
        try:
            self._acquire()
        finally:
            self._release()

    def open(self) -> None:
        """Lock the file, check it, reserve ids and start the writer thread."""
        try:
            self._acquire()
            assert self._reader is not None and self._ceiling is not None
            written = self._reader.execute("SELECT coalesce(max(id), 0) FROM history").fetchone()
            self.last_id = max(int(written[0]), self._ceiling.durable)
            self._ceiling.raise_to(self.last_id + self._id_block)
        except OSError as error:
            self._release()
            raise self._error(error.strerror or str(error)) from None
        except BaseException:
            self._release()
            raise
        threading.Thread(target=self._write, name="tcpchat-history", daemon=True).start()
        log.info(
            "history: using {path}, last message id {last}", path=self.path, last=self.last_id
        )

    def _error(self, problem: str) -> StoreError:
        return StoreError(f"tcpchat: cannot use --db {self.path}: {problem}")

    def _acquire(self) -> None:
        """Check the file, then lock it and connect; nothing is written to a file refused."""
        if os.path.isdir(self.path):
            raise self._error("it is a folder")
        try:
            if os.path.exists(self.path):
                with open(self.path, "r+b") as existing:
                    header = existing.read(len(_SQLITE_HEADER))
                if header and header != _SQLITE_HEADER:
                    raise self._error("not an SQLite database")
            self._reader = sqlite3.connect(self.path, timeout=READ_TIMEOUT)
            self._check_tables(self._reader)
            try:
                self._lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise self._error(f"cannot open {self.path}.lock: {error.strerror}") from None
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._error(
                    f"another tcpchat server is using it (it holds {self.path}.lock)"
                ) from None
            self._ceiling = _IdCeiling(self._lock_fd)
            _tune(self._reader)
            self._reader.executescript(_SCHEMA)
            self._writer_db = sqlite3.connect(
                self.path, timeout=self._busy_timeout, check_same_thread=False
            )
            _tune(self._writer_db)
        except OSError as error:
            raise self._error(error.strerror or str(error)) from None
        except sqlite3.Error as error:
            raise self._error(str(error)) from None

    def _check_tables(self, db: sqlite3.Connection) -> None:
        for table, columns in _COLUMNS.items():
            found = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            if found and found != columns:
                raise self._error(
                    f"its {table} table is not tcpchat's (columns: {', '.join(found)})"
                )

    def _release(self) -> None:
        for db in (self._reader, self._writer_db):
            if db is not None:
                db.close()
        self._reader = self._writer_db = None
        self._ceiling = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    # On the reactor thread

    def reserve(self, said_id: int) -> None:
        """Make sure ``said_id`` may be handed out: it is below the ceiling on disk."""
        assert self._ceiling is not None
        self._given = said_id
        if said_id > self._reserving - self._id_block // 2:
            self._reserving = said_id + self._id_block
            self._work.put(_Reserve(self._reserving))
        if said_id > self._ceiling.durable:
            # Rare: the writer thread has not yet made the next block durable.
            try:
                self._ceiling.raise_to(self._reserving)
            except OSError as error:
                if said_id == self._ceiling.durable + 1:  # once, not for every id after it
                    log.error("history: cannot reserve ids in {path}.lock: {error}; a crash"
                              " could give ids from {id} again", path=self.path, error=error,
                              id=said_id)

    def append(self, room: str, said: Said) -> None:
        """Write one entry, later and without blocking."""
        if self._closed is not None:
            log.error("history: {room} entry {id} came after closing; not written",
                      room=room, id=said.id)
            return
        if not self._rows:
            self._reactor.callLater(HAND_OVER_EVERY, self._hand_over)
        kind = "action" if isinstance(said, Action) else "message"
        self._rows.append((said.id, room, said.time, kind, said.sender, said.text))
        with self._unsaved_lock:
            self._unsaved.setdefault(room, {})[said.id] = said

    def latest(self, room: str, count: int) -> RoomHistory:
        """The last ``count`` entries of ``room``, and its newest id no longer among them."""
        with self._unsaved_lock:
            unsaved = list(self._unsaved.get(room, {}).values())
        assert self._reader is not None
        try:
            rows = self._reader.execute(
                "SELECT id, time, kind, sender, text FROM history WHERE room = ?"
                " ORDER BY id DESC LIMIT ?", (room, count),
            ).fetchall()
            entries = sorted({**{said.id: said for said in map(_said, rows)},
                              **{said.id: said for said in unsaved}}.values(), key=_id)
            kept, older = entries[-count:], entries[:-count]
            forgotten = max([self._newest_pruned(room), *(said.id for said in older)])
            if len(kept) == count:
                forgotten = max(forgotten, self._newest_before(room, kept[0].id))
        except sqlite3.Error as error:
            log.error("history: cannot read {room} from {path}: {error}",
                      room=room, path=self.path, error=error)
            return RoomHistory(sorted(unsaved, key=_id)[-count:], 0, complete=False)
        return RoomHistory(kept, forgotten, complete=True)

    def _newest_pruned(self, room: str) -> int:
        assert self._reader is not None
        row = self._reader.execute("SELECT last_id FROM pruned WHERE room = ?", (room,)).fetchone()
        return int(row[0]) if row else 0

    def _newest_before(self, room: str, said_id: int) -> int:
        assert self._reader is not None
        return int(self._reader.execute(
            "SELECT coalesce(max(id), 0) FROM history WHERE room = ? AND id < ?", (room, said_id)
        ).fetchone()[0])

    def _hand_over(self) -> None:
        rows, self._rows = self._rows, []
        if rows:
            self._work.put(rows)

    def close(self) -> defer.Deferred[None]:
        """Write everything still pending, then stop; fires once the writer thread has ended."""
        if self._closed is None:
            self._closed = defer.Deferred()
            self._hand_over()
            self._work.put(_Stop())
        closed: defer.Deferred[None] = defer.Deferred()
        self._closed.addBoth(lambda result: closed.callback(None))
        return closed

    # In the writer thread

    def _write(self) -> None:
        try:
            _Writer(self).run()
        finally:
            self._reactor.callFromThread(self._stopped)

    def _stopped(self) -> None:
        assert self._ceiling is not None
        try:
            # Every id given is below this one: the next start goes on from here.
            self._ceiling.settle(max(self.last_id, self._given))
        except OSError as error:
            log.error("history: cannot write {path}.lock: {error}", path=self.path, error=error)
        self._release()
        assert self._closed is not None
        self._closed.callback(None)

    def _saved(self, rows: list[_Row]) -> None:
        with self._unsaved_lock:
            for said_id, room, *_ in rows:
                entries = self._unsaved.get(room)
                if entries is not None:
                    entries.pop(said_id, None)
                    if not entries:
                        del self._unsaved[room]

    def _log(self, level: Callable[..., None], format: str, **fields: object) -> None:
        self._reactor.callFromThread(level, format, path=self.path, **fields)


class _Writer:
    """The loop of the writer thread: write batches, retry them, reserve ids, prune."""

    def __init__(self, store: SQLiteHistoryStore) -> None:
        assert store._writer_db is not None and store._ceiling is not None
        self.store = store
        self.db = store._writer_db
        self.ceiling = store._ceiling
        self.unwritten: list[_Row] = []
        self.failing = False
        self.retry_delay = RETRY_FIRST
        self.retry_at = 0.0
        self.prune_at = 0.0
        self.prune_boundary: int | None = None
        self.pruned = 0

    def run(self) -> None:
        stopping = False
        while not stopping:
            stopping = self._take_work(self._wait())
            if self.unwritten and (stopping or time.monotonic() >= self.retry_at):
                self._write_unwritten()
            if not stopping and not self.failing and time.monotonic() >= self.prune_at:
                self._prune_chunk()
        if self.unwritten:
            self.store._log(
                log.critical, "history: {count} entries could not be written to {path}; lost",
                count=len(self.unwritten),
            )

    def _wait(self) -> float | None:
        now = time.monotonic()
        due = [self.prune_at] if not self.failing else []
        if self.unwritten:
            due.append(self.retry_at)
        return max(0.0, min(due) - now) if due else None

    def _take_work(self, timeout: float | None) -> bool:
        """Gather what was asked; whether to stop."""
        work = self.store._work
        try:
            item = work.get(timeout=timeout) if timeout != 0 else work.get_nowait()
        except queue.Empty:
            return False
        stopping = False
        while True:
            if isinstance(item, _Stop):
                stopping = True
            elif isinstance(item, _Reserve):
                self._reserve(item.ceiling)
            else:
                self.unwritten.extend(item)
            try:
                item = work.get_nowait()
            except queue.Empty:
                return stopping

    def _reserve(self, ceiling: int) -> None:
        try:
            self.ceiling.raise_to(ceiling)
        except OSError as error:
            self.store._log(
                log.error, "history: cannot reserve ids in {path}.lock: {error}", error=error
            )

    def _write_unwritten(self) -> None:
        rows = self.unwritten
        try:
            with self.db:
                self.db.executemany(
                    "INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?, ?, ?)", rows
                )
        except sqlite3.Error as error:
            if not self.failing:
                self.store._log(
                    log.error,
                    "history: cannot write to {path}: {error}; {count} entries kept in memory,"
                    " trying again",
                    error=str(error), count=len(rows),
                )
            self.failing = True
            self.retry_at = time.monotonic() + self.retry_delay
            self.retry_delay = min(self.retry_delay * 2, RETRY_LONGEST)
            return
        self.unwritten = []
        self.store._saved(rows)
        if self.failing:
            self.store._log(
                log.info, "history: writing to {path} again: {count} entries written",
                count=len(rows),
            )
        self.failing = False
        self.retry_delay = RETRY_FIRST

    def _prune_chunk(self) -> None:
        """Delete up to one chunk past the retention; the round ends when nothing is left."""
        store = self.store
        try:
            with self.db:
                more = self._delete_chunk()
        except sqlite3.Error as error:
            store._log(log.error, "history: cannot prune {path}: {error}", error=str(error))
            more = False
        if more:
            return
        if self.pruned:
            store._log(log.info, "history: pruned {count} messages from {path}", count=self.pruned)
        self.pruned, self.prune_boundary = 0, None
        self.prune_at = time.monotonic() + store._prune_every

    def _delete_chunk(self) -> bool:
        store = self.store
        if not store._retain_messages and not store._retain_seconds:
            return False
        if self.prune_boundary is None:
            self.prune_boundary = 0
            if store._retain_messages:
                newest_kept = self.db.execute(
                    "SELECT id FROM history ORDER BY id DESC LIMIT 1 OFFSET ?",
                    (store._retain_messages - 1,),
                ).fetchone()
                self.prune_boundary = newest_kept[0] if newest_kept else 0
        too_old = time.time() - store._retain_seconds if store._retain_seconds else 0.0
        oldest = self.db.execute(
            "SELECT id, room, time FROM history ORDER BY id LIMIT ?", (store._prune_chunk,)
        ).fetchall()
        doomed = [(id_, room) for id_, room, when in oldest
                  if id_ < self.prune_boundary or when < too_old]
        if not doomed:
            return False
        self.db.executemany("DELETE FROM history WHERE id = ?", [(id_,) for id_, _ in doomed])
        newest_pruned: dict[str, int] = {}
        for id_, room in doomed:
            newest_pruned[room] = max(id_, newest_pruned.get(room, 0))
        self.db.executemany(
            "INSERT INTO pruned VALUES (?, ?) ON CONFLICT (room)"
            " DO UPDATE SET last_id = max(last_id, excluded.last_id)",
            newest_pruned.items(),
        )
        self.pruned += len(doomed)
        return len(doomed) == len(oldest)


def _tune(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")


def _said(row: tuple[int, float, str, str, str]) -> Said:
    id_, when, kind, sender, text = row
    said_type = Action if kind == "action" else Message
    return said_type(sender, text, id_, when)


def _id(said: Said) -> int:
    return said.id
