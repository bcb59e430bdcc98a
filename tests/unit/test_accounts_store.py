"""The blocking account store: the accounts table, its rules, and sharing the server's database."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chat.accounts.store import Account, AccountExistsError, AccountStore, NoSuchAccountError
from chat.storage import SQLiteHistoryStore, StoreError
from tests.support.history_support import ThreadedClock

HASH = "scrypt$16384$8$1$c2FsdA==$a2V5"
OTHER_HASH = "scrypt$16384$8$1$c2FsdA==$b3RoZXI="


class Opened:
    """Stores opened in a test on one database file, all closed at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stores: list[AccountStore] = []

    def open(self, **options: Any) -> AccountStore:
        store = AccountStore(str(self.path), **options)
        self.stores.append(store)
        return store


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Opened]:
    stores = Opened(tmp_path / "chat.db")
    yield stores
    for store in stores.stores:
        store.close()


@pytest.fixture
def store(opened: Opened) -> AccountStore:
    return opened.open(clock=lambda: 1234.5)


def test_the_accounts_table_is_made_with_its_columns(store: AccountStore, opened: Opened) -> None:
    """Opening a new file makes accounts(key, name, hash, created, operator)."""
    with sqlite3.connect(opened.path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(accounts)")]
    assert columns == ["key", "name", "hash", "created", "operator"]


def test_the_database_is_in_wal_mode(store: AccountStore, opened: Opened) -> None:
    """The file is switched to WAL, so readers and one writer do not block each other."""
    with sqlite3.connect(opened.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_added_account_is_found_with_its_hash(store: AccountStore) -> None:
    """find gives the account added and the hash it was added with."""
    added = store.add("alice", HASH)
    assert store.find("alice") == (added, HASH)


def test_an_account_keeps_its_name_as_registered_and_its_folded_key(store: AccountStore) -> None:
    """The name is kept as typed, the key is its folded form, created comes from the clock."""
    assert store.add("Alice", HASH) == Account("Alice", "alice", 1234.5, False)


def test_an_account_is_found_ignoring_case(store: AccountStore) -> None:
    """find("ALICE") finds the account registered as Alice."""
    store.add("Alice", HASH)
    found = store.find("ALICE")
    assert found is not None and found[0].name == "Alice"


def test_a_nickname_without_an_account_is_not_found(store: AccountStore) -> None:
    """find gives None for a nickname nobody registered."""
    assert store.find("nobody") is None


def test_an_account_may_be_added_as_an_operator(store: AccountStore) -> None:
    """add(..., operator=True) makes a server operator."""
    assert store.add("root", HASH, operator=True).operator


def test_adding_a_taken_nickname_in_any_case_fails(store: AccountStore) -> None:
    """A second account for the same nickname, even in another case, is AccountExistsError."""
    store.add("alice", HASH)
    with pytest.raises(AccountExistsError):
        store.add("ALICE", OTHER_HASH)


def test_a_removed_account_is_gone(store: AccountStore) -> None:
    """remove deletes the account, whatever the case it is named in."""
    store.add("alice", HASH)
    store.remove("Alice")
    assert store.find("alice") is None


def test_removing_a_missing_account_fails(store: AccountStore) -> None:
    """remove of a nickname with no account is NoSuchAccountError."""
    with pytest.raises(NoSuchAccountError):
        store.remove("nobody")


def test_set_hash_replaces_the_hash(store: AccountStore) -> None:
    """set_hash stores the new hash for the account."""
    store.add("alice", HASH)
    store.set_hash("ALICE", OTHER_HASH)
    found = store.find("alice")
    assert found is not None and found[1] == OTHER_HASH


def test_set_hash_of_a_missing_account_fails(store: AccountStore) -> None:
    """set_hash of a nickname with no account is NoSuchAccountError."""
    with pytest.raises(NoSuchAccountError):
        store.set_hash("nobody", HASH)


def test_set_operator_grants_and_revokes(store: AccountStore) -> None:
    """set_operator True makes an operator, False makes it no longer one."""
    store.add("alice", HASH)
    store.set_operator("alice", True)
    granted = store.find("alice")
    store.set_operator("alice", False)
    revoked = store.find("alice")
    assert granted is not None and revoked is not None
    assert (granted[0].operator, revoked[0].operator) == (True, False)


def test_set_operator_of_a_missing_account_fails(store: AccountStore) -> None:
    """set_operator of a nickname with no account is NoSuchAccountError."""
    with pytest.raises(NoSuchAccountError):
        store.set_operator("nobody", True)


def test_accounts_lists_every_account_by_folded_name(store: AccountStore) -> None:
    """accounts() gives all of them, ordered by key."""
    for name in ["carol", "Bob", "alice"]:
        store.add(name, HASH)
    assert [account.name for account in store.accounts()] == ["alice", "Bob", "carol"]


def test_accounts_persist_across_opening_again(store: AccountStore, opened: Opened) -> None:
    """An account added is there when the file is opened again."""
    store.add("alice", HASH)
    store.close()
    opened.stores.remove(store)
    assert opened.open().find("alice") is not None


def test_a_change_by_another_store_is_seen_at_once(store: AccountStore, opened: Opened) -> None:
    """What another connection (the administrator's command) adds is found by the next call."""
    assert store.find("alice") is None
    opened.open().add("alice", HASH)
    assert store.find("alice") is not None


def test_a_write_waits_for_another_writer_within_the_busy_timeout(opened: Opened) -> None:
    """While another connection holds the write lock briefly, add waits for it and succeeds."""
    store = opened.open(busy_timeout=5.0)
    holder = sqlite3.connect(opened.path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.2, holder.execute, ["COMMIT"])
    release.start()
    try:
        store.add("alice", HASH)
    finally:
        release.join()
        holder.close()
    assert store.find("alice") is not None


def test_a_write_gives_up_after_the_busy_timeout(opened: Opened) -> None:
    """A write lock held longer than the busy timeout makes add fail as locked."""
    store = opened.open(busy_timeout=0.05)
    holder = sqlite3.connect(opened.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            store.add("alice", HASH)
    finally:
        holder.close()
    assert time.monotonic() - started < 1.0


def test_the_store_takes_no_lock_file(store: AccountStore, opened: Opened) -> None:
    """Opening the store makes no <db>.lock: that is the history server's."""
    assert not Path(f"{opened.path}.lock").exists()


def test_the_store_works_while_a_history_store_holds_the_file(opened: Opened) -> None:
    """With the server's history store open (and its lock held), accounts are added and found."""
    clock = ThreadedClock()
    history = SQLiteHistoryStore(str(opened.path), clock)
    history.open()
    try:
        store = opened.open()
        store.add("alice", HASH)
        assert store.find("alice") is not None
    finally:
        clock.result(history.close())


def test_a_history_store_opens_a_file_with_accounts(store: AccountStore, opened: Opened) -> None:
    """The server's history store accepts the database the account store made."""
    store.add("alice", HASH)
    clock = ThreadedClock()
    history = SQLiteHistoryStore(str(opened.path), clock)
    history.open()
    clock.result(history.close())


@pytest.mark.parametrize("path", ["", ":memory:"])
def test_a_database_in_memory_works(path: str) -> None:
    """With --db '' or :memory:, accounts live in the connection's private database."""
    store = AccountStore(path)
    try:
        store.add("alice", HASH)
        assert store.find("alice") is not None
    finally:
        store.close()


def test_a_folder_is_refused(tmp_path: Path) -> None:
    """A folder as the database is refused in one line saying so."""
    with pytest.raises(StoreError, match="it is a folder"):
        AccountStore(str(tmp_path))


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    """A file of another kind is refused, and left as it was."""
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n")
    with pytest.raises(StoreError, match="not an SQLite database"):
        AccountStore(str(path))
    assert path.read_text() == "not a database\n"


def test_another_programs_accounts_table_is_refused(tmp_path: Path) -> None:
    """An accounts table with other columns is refused, naming its columns."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE accounts (id INTEGER, email TEXT)")
    with pytest.raises(StoreError, match="columns: id, email"):
        AccountStore(str(path))
