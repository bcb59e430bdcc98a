"""Offline private messages: kept for a registered user who is away, handed over at login.

:class:`MailboxStore` keeps them in the ``offline_messages`` table of the
server's database (``--db``, the same file as the history and the
accounts), made if missing. It takes no lock of its own: with WAL and a
busy timeout it shares the file with the history's writer and with the
administrator's command. Every call blocks on the disk.

Each recipient's box holds at most ``per_user`` letters (0: offline
messages are off); a letter older than ``keep_days`` is never handed
over, and is deleted when its box is written to or taken, and by
:meth:`MailboxStore.purge`.

:class:`Mailbox` is what the server uses: every call runs on one worker
thread of its own (the store's connection lives on that thread, so
``:memory:`` works too), and answers with a Deferred.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet import defer
from twisted.internet.interfaces import IReactorFromThreads

from chat.accounts.store import BUSY_TIMEOUT
from chat.storage import SQLiteFile
from chat.text import fold
from chat.worker import StoreThread

PER_USER = 50
"""Letters a box holds at most, by default."""
KEEP_DAYS = 30.0
"""Days a letter waits for its recipient, by default."""
_DAY = 86_400.0

_COLUMNS = ["id", "recipient", "sender", "text", "action", "sent_at"]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS offline_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    sender TEXT NOT NULL,
    text TEXT NOT NULL,
    action INTEGER NOT NULL,
    sent_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS offline_messages_by_recipient ON offline_messages (recipient, id);
"""


@dataclass(frozen=True, slots=True)
class Letter:
    """A private message kept for its recipient while they were offline."""

    sender: str
    """The sender's nickname as they typed it."""
    text: str
    action: bool
    """Whether it was a ``/me``."""
    sent_at: float
    """When it was sent, in seconds since the epoch."""


def check_limits(per_user: int, keep_days: float) -> None:
    """ValueError, naming the limit, for a ``per_user`` below 0 or a ``keep_days`` not above 0."""
    if per_user < 0:
        raise ValueError(f"per_user must be 0 (off) or more, not {per_user}")
    if not keep_days > 0:
        raise ValueError(f"keep_days must be more than 0, not {keep_days}")


class MailboxStore(SQLiteFile):
    """The ``offline_messages`` table of the database at ``path``; every method blocks.

    Opening fails with :class:`~chat.storage.StoreError`, in one line, for a
    file that cannot be opened, is not SQLite, or whose ``offline_messages``
    table is not tcpchat's; ValueError for limits out of range. Recipients
    are found ignoring case; ``clock`` says what time it is, for expiry.
    """

    def __init__(
        self, path: str, *, per_user: int = PER_USER, keep_days: float = KEEP_DAYS,
        busy_timeout: float = BUSY_TIMEOUT, clock: Callable[[], float] = time.time,
    ) -> None:
        check_limits(per_user, keep_days)
        self.per_user = per_user
        self._keep_seconds = keep_days * _DAY
        self._clock = clock
        self._open(path, busy_timeout)

    def _prepare(self) -> None:
        try:
            found = [row[1] for row in self._db.execute("PRAGMA table_info(offline_messages)")]
            if found and found != _COLUMNS:
                raise self._error(
                    f"its offline_messages table is not tcpchat's (columns: {', '.join(found)})"
                )
            self._db.execute("PRAGMA journal_mode=WAL")
            with self._db:
                self._db.executescript(_SCHEMA)
        except sqlite3.Error as error:
            raise self._error(str(error)) from None

    def _cutoff(self, now: float) -> float:
        """The oldest ``sent_at`` still kept at ``now``."""
        return now - self._keep_seconds

    def keep(
        self, recipient: str, sender: str, text: str, *, action: bool = False, sent_at: float
    ) -> bool:
        """Keep a letter for ``recipient``: False, and nothing kept, if their box is full."""
        key = fold(recipient)
        with self._db:
            self._db.execute(
                "DELETE FROM offline_messages WHERE recipient = ? AND sent_at < ?",
                (key, self._cutoff(self._clock())),
            )
            # The count and the insert are one statement: the bound holds whoever else
            # writes to the file.
            kept = self._db.execute(
                "INSERT INTO offline_messages (recipient, sender, text, action, sent_at)"
                " SELECT ?, ?, ?, ?, ?"
                " WHERE (SELECT count(*) FROM offline_messages WHERE recipient = ?) < ?",
                (key, sender, text, int(action), sent_at, key, self.per_user),
            ).rowcount
        return kept == 1

    def take(self, recipient: str) -> list[Letter]:
        """Every letter still kept for ``recipient``, oldest first, deleted as they are read.

        The read and the delete are one transaction: a letter is handed over
        at most once. It is lost if it is not written out to the recipient
        after this (the server dies, or their connection drops, first).
        """
        cutoff = self._cutoff(self._clock())
        with self._db:
            rows = self._db.execute(
                "DELETE FROM offline_messages WHERE recipient = ?"
                " RETURNING id, sender, text, action, sent_at",
                (fold(recipient),),
            ).fetchall()
        return [
            Letter(sender, text, bool(action), float(sent_at))
            for _, sender, text, action, sent_at in sorted(rows)
            if sent_at >= cutoff
        ]

    def count(self, recipient: str) -> int:
        """How many letters are kept for ``recipient``."""
        row = self._db.execute(
            "SELECT count(*) FROM offline_messages WHERE recipient = ? AND sent_at >= ?",
            (fold(recipient), self._cutoff(self._clock())),
        ).fetchone()
        return int(row[0])

    def purge(self, now: float) -> int:
        """Delete every letter, for anyone, older than ``keep_days`` at ``now``: how many."""
        with self._db:
            return self._db.execute(
                "DELETE FROM offline_messages WHERE sent_at < ?", (self._cutoff(now),)
            ).rowcount

    def close(self) -> None:
        self._db.close()


class Mailbox:
    """The offline messages as the reactor sees them: each call answers with a Deferred.

    Every call runs on one worker thread, started by :meth:`start` (which
    opens the store there) and ended by :meth:`stop`. With ``reactor``
    None, every call runs at once on the caller's thread (the in-memory
    harness of :mod:`chat.testing`). ValueError at once for limits out of
    range.
    """

    def __init__(
        self, path: str, reactor: IReactorFromThreads | None, *,
        per_user: int = PER_USER, keep_days: float = KEEP_DAYS,
        busy_timeout: float = BUSY_TIMEOUT, clock: Callable[[], float] = time.time,
    ) -> None:
        check_limits(per_user, keep_days)
        self.path = path
        self.per_user = per_user
        self.keep_days = keep_days
        self._busy_timeout = busy_timeout
        self._clock = clock
        self._thread = StoreThread("tcpchat-mailbox", reactor)
        self._call = self._thread.call
        self._store: MailboxStore | None = None

    def start(self) -> defer.Deferred[None]:
        """Start the worker thread and open the store on it (fails with StoreError)."""
        return self._thread.start(self._open)

    def stop(self) -> defer.Deferred[None]:
        """Close the store and end the worker thread, once the calls before are done."""
        return self._thread.stop(self._close)

    def keep(
        self, recipient: str, sender: str, text: str, *, action: bool = False, sent_at: float
    ) -> defer.Deferred[bool]:
        """Keep a letter for ``recipient``: False, and nothing kept, if their box is full
        (always, with ``per_user`` 0)."""
        return self._call(self._keep, recipient, sender, text, action, sent_at)

    def take(self, recipient: str) -> defer.Deferred[list[Letter]]:
        """Every letter kept for ``recipient``, oldest first, deleted in the same transaction.

        So a letter is handed over at most once: it is lost if the server
        dies, or the connection drops, before it is written out.
        """
        return self._call(self._take, recipient)

    def count(self, recipient: str) -> defer.Deferred[int]:
        """How many letters are kept for ``recipient``."""
        return self._call(self._count, recipient)

    def purge(self, now: float) -> defer.Deferred[int]:
        """Delete every letter older than ``keep_days`` at ``now``: how many."""
        return self._call(self._purge, now)

    # On the worker thread

    def _open(self) -> None:
        self._store = MailboxStore(
            self.path, per_user=self.per_user, keep_days=self.keep_days,
            busy_timeout=self._busy_timeout, clock=self._clock,
        )

    def _close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _opened(self) -> MailboxStore:
        if self._store is None:
            raise RuntimeError("the mailbox is not open")
        return self._store

    def _keep(self, recipient: str, sender: str, text: str, action: bool, sent_at: float) -> bool:
        return self._opened().keep(recipient, sender, text, action=action, sent_at=sent_at)

    def _take(self, recipient: str) -> list[Letter]:
        return self._opened().take(recipient)

    def _count(self, recipient: str) -> int:
        return self._opened().count(recipient)

    def _purge(self, now: float) -> int:
        return self._opened().purge(now)
