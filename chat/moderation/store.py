"""Bans, mutes and room settings in the SQLite database, so that they hold across restarts.

:class:`ModerationStore` keeps them in the ``bans``, ``mutes`` and
``rooms`` tables of the server's database (``--db``, the same file as the
history), made if missing. It takes no lock of its own: with WAL and a
busy timeout it shares the file with the history's writer and with the
administrator's command. Every call blocks on the disk.

:class:`BackgroundModerationStore` is what the reactor side uses: the
:class:`~chat.moderation.rules.Persistence` of a
:class:`~chat.moderation.rules.Moderation`. Its writes return at once and
run, in order, on one worker thread of its own, which owns the store's one
connection (so ``:memory:`` works too); :meth:`~BackgroundModerationStore.stop`
fires once everything asked before it is written. A write that fails is
logged and lost.

Loading forgets, in the database too, every ban and mute that has
expired.
"""

from __future__ import annotations

import ipaddress
import json
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.moderation.rules import Ban, Mute, RoomSettings, Saved
from chat.moderation.targets import AccountTarget, AddressTarget, NickTarget, Target
from chat.storage import SQLiteFile
from chat.worker import StoreThread

_R = TypeVar("_R")

log = Logger()

BUSY_TIMEOUT = 5.0
"""Seconds a call waits for another writer of the database to finish."""

_COLUMNS = {
    "bans": ["kind", "target", "scope", "by_nick", "reason", "since", "until"],
    "mutes": ["nick", "scope", "by_nick", "since", "until"],
    "rooms": ["key", "owner", "topic", "topic_by", "topic_at", "topic_ops_only", "operators",
              "member_limit", "join_key", "invite_only", "voiced", "moderated", "secret",
              "outside_messages"],
}
_ADDED = {
    "rooms": {
        "member_limit": "INTEGER",
        "join_key": "TEXT NOT NULL DEFAULT ''",
        "invite_only": "INTEGER NOT NULL DEFAULT 0",
        "voiced": "TEXT NOT NULL DEFAULT '[]'",
        "moderated": "INTEGER NOT NULL DEFAULT 0",
        "secret": "INTEGER NOT NULL DEFAULT 0",
        "outside_messages": "INTEGER NOT NULL DEFAULT 0",
    },
}
"""Columns added since a table was first made, and how: an older database gains them on
opening, its rows getting the defaults."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS bans (
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    scope TEXT NOT NULL,
    by_nick TEXT NOT NULL,
    reason TEXT NOT NULL,
    since REAL NOT NULL,
    until REAL,
    PRIMARY KEY (kind, target, scope)
);
CREATE TABLE IF NOT EXISTS mutes (
    nick TEXT NOT NULL,
    scope TEXT NOT NULL,
    by_nick TEXT NOT NULL,
    since REAL NOT NULL,
    until REAL,
    PRIMARY KEY (nick, scope)
);
CREATE TABLE IF NOT EXISTS rooms (
    key TEXT PRIMARY KEY,
    owner TEXT,
    topic TEXT NOT NULL,
    topic_by TEXT,
    topic_at REAL,
    topic_ops_only INTEGER NOT NULL,
    operators TEXT NOT NULL,
    member_limit INTEGER,
    join_key TEXT NOT NULL DEFAULT '',
    invite_only INTEGER NOT NULL DEFAULT 0,
    voiced TEXT NOT NULL DEFAULT '[]',
    moderated INTEGER NOT NULL DEFAULT 0,
    secret INTEGER NOT NULL DEFAULT 0,
    outside_messages INTEGER NOT NULL DEFAULT 0
);
"""
_SERVER = ""
"""The scope column of what holds server-wide (no room key is empty)."""


class ModerationStore(SQLiteFile):
    """The moderation tables of the database at ``path``; every method blocks.

    Opening fails with :class:`~chat.storage.StoreError`, in one line, for a
    file that cannot be opened, is not SQLite, or has one of these tables
    with columns that are not tcpchat's.
    """

    def __init__(self, path: str, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self._open(path, busy_timeout)

    def _prepare(self) -> None:
        try:
            for table, columns in _COLUMNS.items():
                found = [row[1] for row in self._db.execute(f"PRAGMA table_info({table})")]
                added = _ADDED.get(table, {})
                missing = columns[len(found):]
                if found and found == columns[:len(found)] and set(missing) <= set(added):
                    with self._db:
                        for column in missing:
                            self._db.execute(
                                f"ALTER TABLE {table} ADD COLUMN {column} {added[column]}"
                            )
                    found = columns
                if found and found != columns:
                    raise self._error(
                        f"its {table} table is not tcpchat's (columns: {', '.join(found)})"
                    )
            self._db.execute("PRAGMA journal_mode=WAL")
            with self._db:
                self._db.executescript(_SCHEMA)
        except sqlite3.Error as error:
            raise self._error(str(error)) from None

    def load_all(self, now: float) -> Saved:
        """Everything still active at ``now``, once what has expired is deleted.

        :class:`~chat.storage.StoreError` for a row that tcpchat cannot read
        (rather than letting in someone it bans).
        """
        with self._db:
            for table in ("bans", "mutes"):
                self._db.execute(
                    f"DELETE FROM {table} WHERE until IS NOT NULL AND until <= ?", (now,)
                )
        bans = self._db.execute(
            "SELECT kind, target, scope, by_nick, reason, since, until FROM bans ORDER BY since"
        ).fetchall()
        mutes = self._db.execute(
            "SELECT nick, scope, by_nick, since, until FROM mutes ORDER BY since"
        ).fetchall()
        rooms = self._db.execute(
            "SELECT key, owner, topic, topic_by, topic_at, topic_ops_only, operators,"
            " member_limit, join_key, invite_only, voiced, moderated, secret, outside_messages"
            " FROM rooms ORDER BY key"
        ).fetchall()
        return Saved(
            tuple(self._ban(row) for row in bans),
            tuple(_mute(row) for row in mutes),
            tuple(self._room(row) for row in rooms),
        )

    def save_ban(self, ban: Ban) -> None:
        """Keep ``ban``, in place of any with the same target and scope."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO bans VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*_target_columns(ban.target), _scope_column(ban.scope),
                 ban.by, ban.reason, ban.since, ban.until),
            )

    def delete_ban(self, target: Target, scope: str | None) -> None:
        """Forget the ban of ``target`` in ``scope``."""
        with self._db:
            self._db.execute(
                "DELETE FROM bans WHERE kind = ? AND target = ? AND scope = ?",
                (*_target_columns(target), _scope_column(scope)),
            )

    def save_mute(self, mute: Mute) -> None:
        """Keep ``mute``, in place of any of the same nickname and scope."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO mutes VALUES (?, ?, ?, ?, ?)",
                (mute.nick_key, _scope_column(mute.scope), mute.by, mute.since, mute.until),
            )

    def delete_mute(self, nick_key: str, scope: str | None) -> None:
        """Forget the mute of ``nick_key`` in ``scope``."""
        with self._db:
            self._db.execute(
                "DELETE FROM mutes WHERE nick = ? AND scope = ?", (nick_key, _scope_column(scope))
            )

    def save_room(self, room: RoomSettings) -> None:
        """Keep the settings of ``room``, in place of those before."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO rooms VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (room.key, room.owner, room.topic, room.topic_by, room.topic_at,
                 int(room.topic_ops_only), json.dumps(sorted(room.operators)),
                 room.member_limit, room.join_key, int(room.invite_only),
                 json.dumps(sorted(room.voiced)), int(room.moderated), int(room.secret),
                 int(room.outside_messages)),
            )

    def delete_room(self, key: str) -> None:
        """Forget the settings of the room keyed ``key``."""
        with self._db:
            self._db.execute("DELETE FROM rooms WHERE key = ?", (key,))

    def close(self) -> None:
        self._db.close()

    def _ban(self, row: tuple[str, str, str, str, str, float, float | None]) -> Ban:
        kind, target, scope, by, reason, since, until = row
        try:
            parsed = _target(kind, target)
        except ValueError:
            raise self._error(
                f"its bans table has a row tcpchat cannot read ({kind} {target!r})"
            ) from None
        return Ban(parsed, _scope(scope), by, reason, since, until)

    def _room(
        self,
        row: tuple[str, str | None, str, str | None, float | None, int, str, int | None, str, int,
                   str, int, int, int],
    ) -> RoomSettings:
        (key, owner, topic, topic_by, topic_at, ops_only, operators, limit, join_key, invite,
         voiced, moderated, secret, outside) = row
        return RoomSettings(key, owner, topic, topic_by, topic_at, bool(ops_only),
                            self._keys(key, "operators", operators), limit, join_key,
                            bool(invite), self._keys(key, "voiced", voiced), bool(moderated),
                            bool(secret), bool(outside))

    def _keys(self, room_key: str, column: str, text: str) -> frozenset[str]:
        """The account or nickname keys stored in ``column`` as a JSON list."""
        try:
            keys = json.loads(text)
            if not (isinstance(keys, list) and all(isinstance(key, str) for key in keys)):
                raise ValueError(text)
        except ValueError:
            raise self._error(
                f"its rooms table has a row tcpchat cannot read ({room_key} {column} {text!r})"
            ) from None
        return frozenset(keys)


class BackgroundModerationStore:
    """A :class:`ModerationStore` on a worker thread of its own: the reactor never waits.

    :meth:`start` opens the store on that thread; every write made after it
    runs there, in order; :meth:`stop` fires once they are all done.
    """

    def __init__(
        self, path: str, reactor: IReactorFromThreads, *, busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._thread = StoreThread("tcpchat-moderation", reactor)
        self._call = self._thread.call
        self._store: ModerationStore | None = None
        self._stopping = False

    def start(self) -> defer.Deferred[None]:
        """Start the worker thread and open the store on it (fails with StoreError)."""
        return self._thread.start(self._open)

    def stop(self) -> defer.Deferred[None]:
        """Write everything asked so far, close the store and end the worker thread."""
        self._stopping = True
        return self._thread.stop(self._close)

    def load_all(self, now: float) -> defer.Deferred[Saved]:
        """What :meth:`ModerationStore.load_all` gives, from the worker thread."""
        return self._call(self._on_store, lambda store: store.load_all(now))

    def save_ban(self, ban: Ban) -> None:
        """Keep ``ban``, later and without blocking."""
        self._write("save a ban", lambda store: store.save_ban(ban))

    def delete_ban(self, target: Target, scope: str | None) -> None:
        """Forget the ban of ``target`` in ``scope``, later and without blocking."""
        self._write("delete a ban", lambda store: store.delete_ban(target, scope))

    def save_mute(self, mute: Mute) -> None:
        """Keep ``mute``, later and without blocking."""
        self._write("save a mute", lambda store: store.save_mute(mute))

    def delete_mute(self, nick_key: str, scope: str | None) -> None:
        """Forget the mute of ``nick_key`` in ``scope``, later and without blocking."""
        self._write("delete a mute", lambda store: store.delete_mute(nick_key, scope))

    def save_room(self, room: RoomSettings) -> None:
        """Keep the settings of ``room``, later and without blocking."""
        self._write("save a room", lambda store: store.save_room(room))

    def delete_room(self, key: str) -> None:
        """Forget the settings of the room keyed ``key``, later and without blocking."""
        self._write("delete a room", lambda store: store.delete_room(key))

    def _write(self, what: str, change: Callable[[ModerationStore], None]) -> None:
        if self._stopping:
            log.error("moderation: cannot {what} after closing {path}; not written",
                      what=what, path=self.path)
            return
        self._call(self._on_store, change).addErrback(self._failed, what)

    def _failed(self, failure: Failure, what: str) -> None:
        log.failure("moderation: cannot {what} in {path}; the change is lost at restart",
                    failure, what=what, path=self.path)

    # On the worker thread

    def _open(self) -> None:
        self._store = ModerationStore(self.path, busy_timeout=self._busy_timeout)

    def _close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _on_store(self, work: Callable[[ModerationStore], _R]) -> _R:
        if self._store is None:
            raise RuntimeError("the moderation store is not open")
        return work(self._store)


def _target_columns(target: Target) -> tuple[str, str]:
    if isinstance(target, NickTarget):
        return "nick", target.key
    if isinstance(target, AccountTarget):
        return "account", target.key
    return "address", target.network.with_prefixlen


def _target(kind: str, value: str) -> Target:
    """The target stored as ``kind`` and ``value``; ValueError if it is none."""
    if kind == "nick":
        return NickTarget(value)
    if kind == "account":
        return AccountTarget(value)
    if kind == "address":
        return AddressTarget(ipaddress.ip_network(value))
    raise ValueError(kind)


def _scope_column(scope: str | None) -> str:
    return _SERVER if scope is None else scope


def _scope(column: str) -> str | None:
    return None if column == _SERVER else column


def _mute(row: tuple[str, str, str, float, float | None]) -> Mute:
    nick, scope, by, since, until = row
    return Mute(nick, _scope(scope), by, since, until)
