"""Accounts in the SQLite database: the blocking store, and the reactor's facade over it.

:class:`AccountStore` keeps registered nicknames in the ``accounts`` table
of the server's database (``--db``, the same file as the history). It
takes no lock of its own: with WAL and a busy timeout, the administrator's
command (:mod:`chat.admin`) uses it while a server runs on the
same file. Every call blocks on the disk.

:class:`Accounts` is what the server uses: every store call, and every
password hash and check, runs on one worker thread of its own (the
store's connection lives on that thread, so ``:memory:`` works too), and
answers with a Deferred. Every guest's login asks whether its nickname is
registered, so :class:`Accounts` keeps the set of registered (folded)
names in memory and answers that at once, without the thread, while the
file that every commit changes (the ``-wal``, or the database file if it
is not in WAL mode) has the inode, size and modification time it had
when the set was read; once it has changed, by the administrator's
command or anything else, the set is read again on the worker thread
before the answer, so what the administrator changes is seen by the next
call. While the reactor runs, the file is looked at once per turn of the
reactor, by the first call of the turn, and the calls after it in that
turn (a join storm reads many nicknames in one turn) use that look: a
nickname read in a later turn sees the change. The accounts themselves
are always read from the store.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.python.failure import Failure

from chat.accounts.passwords import (
    PasswordRefusedError,
    hash_password,
    password_fault,
    verify_password,
)
from chat.domain.errors import NicknameInvalidError
from chat.storage import StoreError
from chat.text import fold, nickname_fault
from chat.worker import StoreThread

_R = TypeVar("_R")

_COLUMNS = ["key", "name", "hash", "created", "operator"]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    created REAL NOT NULL,
    operator INTEGER NOT NULL
)
"""
BUSY_TIMEOUT = 5.0
"""Seconds a call waits for the server (or another administrator) to finish writing."""
_monotonic = time.monotonic

RACY_SECONDS = 2.0
"""A file modified this recently, when the registered names were read from it, may
change again within the same tick of the file system's clock without its size or
modification time showing it: those names are used, and read once more when this
many seconds have passed since."""

FileState = tuple[int, int, int] | None
"""A file's inode, size and modification time (ns); None: there is no such file."""
KeysRead = tuple[tuple[FileState, ...], frozenset[str], bool]
"""The files' state, the names of the accounts, and whether the files had settled."""


@dataclass(frozen=True, slots=True)
class Account:
    """A registered nickname: ``name`` as registered, ``key`` the folded form it is found by."""

    name: str
    key: str
    created: float
    """When it was registered, in seconds since the epoch."""
    operator: bool
    """Whether it is a server operator."""
    external: bool = False
    """Known to an administrator's ``--auth`` checker, not to the database: its
    password is not tcpchat's to change."""


class AccountExistsError(Exception):
    """An account with this nickname (ignoring case) exists already."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class NoSuchAccountError(Exception):
    """No account has this nickname (ignoring case)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class AccountStore:
    """The ``accounts`` table of the database at ``path``; every method blocks.

    Opening fails with :class:`~chat.storage.StoreError`, in one line, for a
    folder, a file that is not SQLite or whose ``accounts`` table is not
    tcpchat's; the table is made if it is missing.
    """

    def __init__(
        self, path: str, *, busy_timeout: float = BUSY_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._clock = clock
        self.write_ahead = False
        """Whether commits go to the ``-wal`` file (else straight to the database file)."""
        self._db = self._connect(busy_timeout)

    def _error(self, problem: str) -> StoreError:
        return StoreError(f"tcpchat: cannot use --db {self.path}: {problem}")

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        self._check_file()
        try:
            db = sqlite3.connect(self.path, timeout=busy_timeout)
        except sqlite3.Error as error:
            problem = str(error)
            raise self._error(
                "not an SQLite database" if "not a database" in problem else problem
            ) from None
        try:
            self._prepare(db)
        except BaseException:
            db.close()
            raise
        return db

    def _check_file(self) -> None:
        # Only what SQLite itself reads: opening and closing the file here would
        # drop the POSIX locks of this process's other connections to it (the
        # history's), and another process could then delete their WAL.
        if os.path.isdir(self.path):
            raise self._error("it is a folder")

    def _prepare(self, db: sqlite3.Connection) -> None:
        try:
            found = [row[1] for row in db.execute("PRAGMA table_info(accounts)")]
            if found and found != _COLUMNS:
                raise self._error(
                    f"its accounts table is not tcpchat's (columns: {', '.join(found)})"
                )
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self.write_ahead = str(mode).lower() == "wal"
            with db:
                db.execute(_SCHEMA)
        except sqlite3.Error as error:
            problem = str(error)
            raise self._error(
                "not an SQLite database" if "not a database" in problem else problem
            ) from None

    def find(self, name: str) -> tuple[Account, str] | None:
        """The account of ``name`` (ignoring case) and its stored hash, or None."""
        row = self._db.execute(
            "SELECT name, key, created, operator, hash FROM accounts WHERE key = ?",
            (fold(name),),
        ).fetchone()
        if row is None:
            return None
        return _account(row[:4]), str(row[4])

    def add(self, name: str, password_hash: str, operator: bool = False) -> Account:
        """Register ``name`` with ``password_hash``; :class:`AccountExistsError` if taken."""
        account = Account(name, fold(name), self._clock(), operator)
        try:
            with self._db:
                self._db.execute(
                    "INSERT INTO accounts VALUES (?, ?, ?, ?, ?)",
                    (account.key, account.name, password_hash, account.created, int(operator)),
                )
        except sqlite3.IntegrityError:
            raise AccountExistsError(name) from None
        return account

    def remove(self, name: str) -> None:
        """Delete the account of ``name``; :class:`NoSuchAccountError` if there is none."""
        self._change(name, "DELETE FROM accounts WHERE key = ?", ())

    def set_hash(self, name: str, password_hash: str) -> None:
        """Store a new password hash for ``name``; :class:`NoSuchAccountError` if none."""
        self._change(name, "UPDATE accounts SET hash = ? WHERE key = ?", (password_hash,))

    def set_operator(self, name: str, flag: bool) -> None:
        """Make ``name`` a server operator, or no longer; :class:`NoSuchAccountError` if none."""
        self._change(name, "UPDATE accounts SET operator = ? WHERE key = ?", (int(flag),))

    def _change(self, name: str, statement: str, values: tuple[object, ...]) -> None:
        with self._db:
            changed = self._db.execute(statement, (*values, fold(name))).rowcount
        if changed == 0:
            raise NoSuchAccountError(name)

    def keys(self) -> frozenset[str]:
        """The folded nickname of every account."""
        return frozenset(row[0] for row in self._db.execute("SELECT key FROM accounts"))

    def accounts(self) -> list[Account]:
        """Every account, by folded nickname."""
        rows = self._db.execute(
            "SELECT name, key, created, operator FROM accounts ORDER BY key"
        ).fetchall()
        return [_account(row) for row in rows]

    def close(self) -> None:
        self._db.close()


def _account(row: tuple[str, str, float, int]) -> Account:
    name, key, created, operator = row
    return Account(name, key, float(created), bool(operator))


class Accounts:
    """The accounts as the reactor sees them: each call answers with a Deferred.

    Every call runs on one worker thread, started by :meth:`start` (which
    opens the store there) and ended by :meth:`stop`.
    """

    def __init__(
        self, path: str, reactor: IReactorFromThreads | None, *,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self.path = path
        self._thread = StoreThread("tcpchat-accounts", reactor)
        """With no reactor every call runs at once, on the caller's thread (the
        in-memory harness of :mod:`chat.testing`, which has no reactor to come back to)."""
        self._busy_timeout = busy_timeout
        self._store: AccountStore | None = None
        self._dummy_hash = ""
        """Checked against when a nickname has no account, so the time taken does not tell."""
        self._keys: frozenset[str] = frozenset()
        """The folded names of the accounts, as last read."""
        self._keys_state: tuple[FileState, ...] | None = None
        """The database files as they were when :attr:`_keys` was read; None: read again."""
        self._keys_read_again_at: float | None = None
        """When names read from files modified just before must be read once more."""
        self._waiting_for_keys: list[defer.Deferred[frozenset[str]]] = []
        self._turns: IReactorTime | None = reactor if IReactorTime.providedBy(reactor) else None
        """The reactor whose turns a look at the files lasts, while it runs."""
        self._looked: tuple[FileState, ...] | None = None
        """The files' state as looked at in this turn of the reactor (None: not yet)."""
        self._watched: tuple[str, ...] = () if path in ("", ":memory:") else (path, path + "-wal")
        """The files every commit changes: once the store is open, only the ``-wal`` of a
        database in WAL mode (the database file then changes only when checkpointed)."""

    def start(self) -> defer.Deferred[None]:
        """Start the worker thread and open the store on it (fails with StoreError)."""
        return self._thread.start(self._open)

    def stop(self) -> defer.Deferred[None]:
        """Close the store and end the worker thread, once the calls before are done."""
        return self._thread.stop(self._close)

    def registered(self, nick: str) -> defer.Deferred[bool]:
        """Whether ``nick`` (ignoring case) has an account."""
        answer = self.registered_now(nick)
        return defer.succeed(answer) if isinstance(answer, bool) else answer

    def registered_now(self, nick: str) -> bool | defer.Deferred[bool]:
        """:meth:`registered`, answered at once while the names in memory are current
        (every guest's login asks, so no Deferred is made for it); else a Deferred."""
        keys = self._current_keys()
        if keys is not None:
            return fold(nick) in keys
        key = fold(nick)
        return self._keys_read_again().addCallback(lambda keys: key in keys)

    def find(self, nick: str) -> defer.Deferred[Account | None]:
        """The account of ``nick`` (ignoring case), or None."""
        key = fold(nick)

        def look_up(keys: frozenset[str]) -> defer.Deferred[Account | None]:
            return self._thread.call(self._find, nick) if key in keys else defer.succeed(None)

        keys = self._current_keys()
        if keys is not None:
            return look_up(keys)
        return self._keys_read_again().addCallback(look_up)

    def check(self, nick: str, password: str) -> defer.Deferred[Account | None]:
        """The account of ``nick`` if ``password`` is its password; None if not or no account."""
        return self._thread.call(self._check, nick, password)

    def register(
        self, nick: str, password: str, operator: bool = False
    ) -> defer.Deferred[Account]:
        """Make an account; fails with NicknameInvalidError, PasswordRefusedError or
        AccountExistsError."""
        fault = nickname_fault(nick)
        if fault is not None:
            return defer.fail(NicknameInvalidError(nick, fault))
        refused = _refusal(password)
        if refused is not None:
            return defer.fail(refused)
        registered = self._thread.call(self._register, nick, password, operator)
        return registered.addBoth(self._keys_changed)

    def change_password(self, nick: str, old: str, new: str) -> defer.Deferred[bool]:
        """Replace the password if ``old`` is right: whether it was (fails with
        PasswordRefusedError for a ``new`` that cannot be used)."""
        refused = _refusal(new)
        if refused is not None:
            return defer.fail(refused)
        return self._thread.call(self._change_password, nick, old, new)

    def unregister(self, nick: str, password: str) -> defer.Deferred[bool]:
        """Delete the account if ``password`` is right: whether it was."""
        return self._thread.call(self._unregister, nick, password).addBoth(self._keys_changed)

    def set_operator(self, nick: str, flag: bool) -> defer.Deferred[None]:
        """Make the account a server operator, or no longer (fails with NoSuchAccountError)."""
        return self._thread.call(self._set_operator, nick, flag)

    def _current_keys(self) -> frozenset[str] | None:
        """The folded names of the accounts, as read while the files are unchanged
        since; None: they must be read again."""
        state = self._keys_state
        if state is None:
            return None
        looked = self._looked
        if looked is None:
            looked = self._look()
        if state != looked:
            return None
        again_at = self._keys_read_again_at
        if again_at is not None and _monotonic() >= again_at:
            return None
        return self._keys

    def _keys_read_again(self) -> defer.Deferred[frozenset[str]]:
        """The folded names of the accounts, read on the worker thread (one read at a
        time, for every caller waiting)."""
        waiting: defer.Deferred[frozenset[str]] = defer.Deferred()
        self._waiting_for_keys.append(waiting)
        if len(self._waiting_for_keys) == 1:
            self._thread.call(self._read_keys).addBoth(self._keys_read)
        return waiting

    def _keys_read(self, result: KeysRead | Failure) -> None:
        waiting, self._waiting_for_keys = self._waiting_for_keys, []
        if isinstance(result, Failure):
            for caller in waiting:
                caller.errback(result)
            return
        states, self._keys, settled = result
        self._keys_state = states
        self._keys_read_again_at = None if settled else _monotonic() + RACY_SECONDS
        for caller in waiting:
            caller.callback(self._keys)

    def _keys_changed(self, result: _R) -> _R:
        """This server has written an account: read the names again. (The one worker
        thread answers in order, so a read that answers after this one ran after it.)"""
        self._keys_state = None
        return result

    def _look(self) -> tuple[FileState, ...]:
        """The files' state now, kept for the rest of this turn while the reactor runs."""
        looked = tuple(map(_file_state, self._watched))
        turns = self._turns
        if turns is not None and getattr(turns, "running", False):
            self._looked = looked
            turns.callLater(0, self._turn_ended)
        return looked

    def _turn_ended(self) -> None:
        self._looked = None

    def _file_states(self) -> tuple[FileState, ...]:
        """The state of the files a commit changes; none for a database in memory."""
        return tuple(map(_file_state, self._watched))

    # On the worker thread

    def _open(self) -> None:
        self._store = AccountStore(self.path, busy_timeout=self._busy_timeout)
        if self._watched and self._store.write_ahead:
            self._watched = (self.path + "-wal",)
        self._dummy_hash = hash_password(secrets.token_urlsafe(16))

    def _close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _opened(self) -> AccountStore:
        if self._store is None:
            raise RuntimeError("the accounts are not open")
        return self._store

    def _read_keys(self) -> KeysRead:
        """The files' state (taken first: a change while reading shows as a change),
        the names, and whether the files had settled (not modified just now)."""
        states = self._file_states()
        now = time.time_ns()
        settled = all(
            state is None or now - state[2] > RACY_SECONDS * 1e9 for state in states
        )
        return states, self._opened().keys(), settled

    def _find(self, nick: str) -> Account | None:
        found = self._opened().find(nick)
        return None if found is None else found[0]

    def _check(self, nick: str, password: str) -> Account | None:
        found = self._opened().find(nick)
        if found is None:
            verify_password(password, self._dummy_hash)
            return None
        account, stored = found
        return account if verify_password(password, stored) else None

    def _register(self, nick: str, password: str, operator: bool) -> Account:
        return self._opened().add(nick, hash_password(password), operator)

    def _change_password(self, nick: str, old: str, new: str) -> bool:
        if self._check(nick, old) is None:
            return False
        try:
            self._opened().set_hash(nick, hash_password(new))
        except NoSuchAccountError:
            return False
        return True

    def _unregister(self, nick: str, password: str) -> bool:
        if self._check(nick, password) is None:
            return False
        try:
            self._opened().remove(nick)
        except NoSuchAccountError:
            return False
        return True

    def _set_operator(self, nick: str, flag: bool) -> None:
        self._opened().set_operator(nick, flag)


def _file_state(path: str) -> FileState:
    try:
        found = _stat(path)
    except OSError:
        return None
    return (found.st_ino, found.st_size, found.st_mtime_ns)


_stat = os.stat


def _refusal(password: str) -> PasswordRefusedError | None:
    fault = password_fault(password)
    return None if fault is None else PasswordRefusedError(fault)
