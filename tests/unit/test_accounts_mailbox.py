"""Offline private messages: the blocking store, its bounds and expiry, and the reactor's facade.

The facade's worker thread is real; its results come back through a
:class:`~tests.support.history_support.ThreadedClock`, as in
``test_accounts_facade``. The inline facade (no reactor) answers at once.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from twisted.internet import defer
from twisted.internet.interfaces import IReactorFromThreads
from twisted.python.failure import Failure

from chat.accounts.mailbox import Letter, Mailbox, MailboxStore
from chat.accounts.store import AccountStore
from chat.storage import SQLiteHistoryStore, StoreError
from tests.support.history_support import ThreadedClock

T = TypeVar("T")
TIMEOUT = 5.0
NOW = 1_000_000.0
DAY = 86_400.0
HASH = "scrypt$16384$8$1$c2FsdA==$a2V5"


class Now:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.time = NOW

    def __call__(self) -> float:
        return self.time


class Opened:
    """Stores opened in a test on one database file, sharing one clock, all closed at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.now = Now()
        self.stores: list[MailboxStore] = []

    def open(self, **options: Any) -> MailboxStore:
        store = MailboxStore(str(self.path), clock=self.now, **options)
        self.stores.append(store)
        return store


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Opened]:
    stores = Opened(tmp_path / "chat.db")
    yield stores
    for store in stores.stores:
        store.close()


@pytest.fixture
def store(opened: Opened) -> MailboxStore:
    return opened.open(per_user=3, keep_days=2.0)


def _keep(store: MailboxStore, text: str, *, to: str = "alice", sender: str = "Bob",
          sent_at: float = NOW, action: bool = False) -> bool:
    return store.keep(to, sender, text, action=action, sent_at=sent_at)


def _texts(letters: list[Letter]) -> list[str]:
    return [letter.text for letter in letters]


# The table


def test_the_table_is_made_with_its_columns(store: MailboxStore, opened: Opened) -> None:
    """Opening a new file makes offline_messages(id, recipient, sender, text, action, sent_at)."""
    with sqlite3.connect(opened.path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(offline_messages)")]
    assert columns == ["id", "recipient", "sender", "text", "action", "sent_at"]


def test_the_database_is_in_wal_mode(store: MailboxStore, opened: Opened) -> None:
    """The file is switched to WAL, so the history's writer and this one share it."""
    with sqlite3.connect(opened.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_another_programs_table_is_refused_in_one_line(tmp_path: Path) -> None:
    """An offline_messages table with other columns is refused, naming the file and columns."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE offline_messages (id INTEGER, body TEXT)")
    with pytest.raises(StoreError) as refused:
        MailboxStore(str(path))
    assert str(refused.value) == (
        f"tcpchat: cannot use --db {path}: its offline_messages table is not tcpchat's"
        " (columns: id, body)"
    )


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path: Path) -> None:
    """A text file is refused, in one line, and not written to."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"shopping list\n" * 10)
    with pytest.raises(StoreError) as refused:
        MailboxStore(str(path))
    assert "\n" not in str(refused.value) and str(path) in str(refused.value)
    assert path.read_bytes() == b"shopping list\n" * 10


# Keeping and taking


def test_letters_are_taken_oldest_first_as_they_were_sent(store: MailboxStore) -> None:
    """take gives every letter in the order kept, with sender as typed, text, /me and time."""
    _keep(store, "first", sent_at=NOW - 2)
    _keep(store, "waves", sender="carol", sent_at=NOW - 1, action=True)
    _keep(store, "third", sent_at=NOW)
    assert store.take("alice") == [
        Letter("Bob", "first", False, NOW - 2),
        Letter("carol", "waves", True, NOW - 1),
        Letter("Bob", "third", False, NOW),
    ]


def test_order_is_the_order_kept_not_the_time_given(store: MailboxStore) -> None:
    """Two letters with the same time, or a clock gone back, still come in the order kept."""
    _keep(store, "one", sent_at=NOW)
    _keep(store, "two", sent_at=NOW - 1)
    _keep(store, "three", sent_at=NOW - 1)
    assert _texts(store.take("alice")) == ["one", "two", "three"]


def test_take_deletes_what_it_gives(store: MailboxStore) -> None:
    """A second take gives nothing; count is 0."""
    _keep(store, "hello")
    assert _texts(store.take("alice")) == ["hello"]
    assert store.take("alice") == []
    assert store.count("alice") == 0


def test_letters_wait_across_a_restart(store: MailboxStore, opened: Opened) -> None:
    """A letter kept is taken by a store opened later on the same file."""
    _keep(store, "while you were out")
    store.close()
    opened.stores.remove(store)
    assert _texts(opened.open().take("alice")) == ["while you were out"]


def test_a_letter_taken_is_gone_for_another_connection(
    store: MailboxStore, opened: Opened
) -> None:
    """Once taken, a letter is not given again by another store on the file."""
    _keep(store, "once")
    store.take("alice")
    assert opened.open().take("alice") == []


def test_count_says_how_many_wait(store: MailboxStore) -> None:
    """count is the number of letters kept for that recipient."""
    assert store.count("alice") == 0
    _keep(store, "a")
    _keep(store, "b")
    assert store.count("alice") == 2


def test_recipients_are_found_ignoring_case(store: MailboxStore) -> None:
    """A letter kept for Alice is counted and taken as ALICE."""
    _keep(store, "hi", to="Alice")
    assert store.count("aLiCe") == 1
    assert _texts(store.take("ALICE")) == ["hi"]


def test_each_recipient_has_a_box_of_their_own(store: MailboxStore) -> None:
    """Taking alice's letters gives none of carol's and leaves carol's kept."""
    _keep(store, "for alice")
    _keep(store, "for carol", to="carol")
    assert _texts(store.take("alice")) == ["for alice"]
    assert _texts(store.take("carol")) == ["for carol"]


# The bound


def test_a_full_box_refuses_a_letter(store: MailboxStore) -> None:
    """With per_user 3, the fourth keep is False and only the first three are taken."""
    assert [_keep(store, text) for text in ["1", "2", "3", "4"]] == [True, True, True, False]
    assert _texts(store.take("alice")) == ["1", "2", "3"]


def test_a_full_box_does_not_refuse_another_recipient(store: MailboxStore) -> None:
    """alice's full box leaves carol's open."""
    for text in ["1", "2", "3"]:
        _keep(store, text)
    assert _keep(store, "for carol", to="carol") is True


def test_the_bound_ignores_case(store: MailboxStore) -> None:
    """Letters to Alice and ALICE fill one box."""
    for to in ["alice", "Alice", "ALICE"]:
        _keep(store, "x", to=to)
    assert _keep(store, "x", to="aLiCe") is False


def test_a_box_taken_takes_letters_again(store: MailboxStore) -> None:
    """Once the letters of a full box are taken, it keeps new ones."""
    for text in ["1", "2", "3"]:
        _keep(store, text)
    store.take("alice")
    assert _keep(store, "new") is True


def test_per_user_zero_keeps_nothing(opened: Opened) -> None:
    """With per_user 0 offline messages are off: keep is always False, nothing is kept."""
    store = opened.open(per_user=0)
    assert _keep(store, "hello") is False
    assert store.count("alice") == 0


# Expiry


def test_a_letter_older_than_keep_days_is_not_taken(store: MailboxStore) -> None:
    """With keep_days 2, a letter sent more than 2 days ago is dropped, a newer one taken."""
    _keep(store, "old", sent_at=NOW - 2 * DAY - 1)
    _keep(store, "recent", sent_at=NOW - 2 * DAY + 1)
    assert store.count("alice") == 1
    assert _texts(store.take("alice")) == ["recent"]


def test_a_letter_expires_while_it_waits(store: MailboxStore, opened: Opened) -> None:
    """A letter kept now is not taken three days later, and is deleted by that take."""
    _keep(store, "soon stale")
    opened.now.time = NOW + 3 * DAY
    assert store.take("alice") == []
    opened.now.time = NOW
    assert store.take("alice") == []


def test_expired_letters_do_not_fill_a_box(store: MailboxStore, opened: Opened) -> None:
    """A box full of expired letters keeps a new one."""
    for text in ["1", "2", "3"]:
        _keep(store, text)
    opened.now.time = NOW + 3 * DAY
    assert _keep(store, "new", sent_at=NOW + 3 * DAY) is True
    assert _texts(store.take("alice")) == ["new"]


def test_purge_deletes_expired_letters_of_everyone(store: MailboxStore, opened: Opened) -> None:
    """purge(now) deletes what is older than keep_days at now, for every box, and says how many."""
    opened.now.time = NOW - 10 * DAY  # so that keep and take drop nothing themselves
    _keep(store, "old", sent_at=NOW - 3 * DAY)
    _keep(store, "old", to="carol", sent_at=NOW - 3 * DAY)
    _keep(store, "fresh", to="carol", sent_at=NOW)
    assert store.purge(NOW) == 2
    assert store.take("alice") == []
    assert _texts(store.take("carol")) == ["fresh"]


# Limits


@pytest.mark.parametrize(
    ("limits", "named"),
    [({"per_user": -1}, "per_user"), ({"keep_days": 0.0}, "keep_days"),
     ({"keep_days": -1.0}, "keep_days"), ({"keep_days": float("nan")}, "keep_days")],
)
def test_limits_out_of_range_are_refused(
    tmp_path: Path, limits: dict[str, Any], named: str
) -> None:
    """per_user below 0 or keep_days not above 0 is a ValueError naming it, store or facade."""
    with pytest.raises(ValueError, match=named):
        MailboxStore(str(tmp_path / "chat.db"), **limits)
    with pytest.raises(ValueError, match=named):
        Mailbox(str(tmp_path / "chat.db"), None, **limits)


# Sharing the server's database


def test_the_file_is_shared_with_the_history_and_the_accounts(opened: Opened) -> None:
    """With the history store and the account store open on the file, letters are kept and
    taken, accounts added and found; the history store opens the file again afterwards."""
    clock = ThreadedClock()
    history = SQLiteHistoryStore(str(opened.path), clock)
    history.open()
    accounts = AccountStore(str(opened.path))
    try:
        store = opened.open()
        accounts.add("alice", HASH)
        assert _keep(store, "hello") is True
        assert accounts.find("alice") is not None
        assert _texts(store.take("alice")) == ["hello"]
    finally:
        accounts.close()
        clock.result(history.close())
    _keep(opened.stores[0], "later")
    again = SQLiteHistoryStore(str(opened.path), clock)
    again.open()
    clock.result(again.close())


# The facade, inline


def _now(deferred: defer.Deferred[T]) -> T:
    """What ``deferred`` has already fired with."""
    outcome: list[Any] = []
    deferred.addBoth(outcome.append)
    assert outcome, "not fired at once"
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    value: T = outcome[0]
    return value


def test_the_inline_facade_answers_at_once() -> None:
    """Mailbox(':memory:', None) keeps, counts, takes and purges with Deferreds already fired."""
    mailbox = Mailbox(":memory:", None, per_user=1, keep_days=1.0, clock=lambda: NOW)
    _now(mailbox.start())
    try:
        assert _now(mailbox.keep("Alice", "bob", "hi", sent_at=NOW)) is True
        assert _now(mailbox.keep("alice", "bob", "again", sent_at=NOW)) is False
        assert _now(mailbox.count("ALICE")) == 1
        assert _now(mailbox.take("alice")) == [Letter("bob", "hi", False, NOW)]
        assert _now(mailbox.purge(NOW)) == 0
    finally:
        _now(mailbox.stop())


def test_the_inline_facade_fails_before_start() -> None:
    """A call before start fails (the store is not open) rather than keeping nothing quietly."""
    mailbox = Mailbox(":memory:", None)
    with pytest.raises(RuntimeError, match="not open"):
        _now(mailbox.count("alice"))


# The facade, on its worker thread


class Running:
    """A mailbox on a worker thread, and a way to wait for what it answers."""

    def __init__(self, path: str, **options: Any) -> None:
        self.path = path
        self.clock = ThreadedClock()
        self.clock.advance(NOW)
        self.mailbox = Mailbox(path, cast(IReactorFromThreads, self.clock),
                               clock=self.clock.seconds, **options)

    def result(self, deferred: defer.Deferred[T]) -> T:
        value: T = self.clock.result(deferred, TIMEOUT)
        return value


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    started = Running(str(tmp_path / "chat.db"), per_user=2)
    started.result(started.mailbox.start())
    yield started
    started.result(started.mailbox.stop())


def test_the_threaded_facade_keeps_and_takes(running: Running) -> None:
    """keep, count, take and purge answer through the reactor, with the bound applied."""
    mailbox = running.mailbox
    kept = [running.result(mailbox.keep("alice", "bob", text, sent_at=NOW))
            for text in ["1", "2", "3"]]
    assert kept == [True, True, False]
    assert running.result(mailbox.count("Alice")) == 2
    assert _texts(running.result(mailbox.take("ALICE"))) == ["1", "2"]
    assert running.result(mailbox.take("alice")) == []
    assert running.result(mailbox.purge(NOW)) == 0


def test_every_call_runs_on_one_worker_thread(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keep, count and take all run on the same thread, not the caller's."""
    threads: set[int] = set()
    for name in ["keep", "count", "take"]:
        monkeypatch.setattr(MailboxStore, name, _recording(getattr(MailboxStore, name), threads))
    mailbox = running.mailbox
    running.result(mailbox.keep("alice", "bob", "hi", sent_at=NOW))
    running.result(mailbox.count("alice"))
    running.result(mailbox.take("alice"))
    assert len(threads) == 1 and threading.get_ident() not in threads


def _recording(function: Any, threads: set[int]) -> Any:
    """``function``, noting the thread of every call in ``threads``."""

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.add(threading.get_ident())
        return function(*args, **kwargs)

    return recorded


@pytest.mark.parametrize("path", ["", ":memory:"])
def test_a_database_in_memory_keeps_letters_between_calls(path: str) -> None:
    """With --db '' or :memory:, a letter kept is taken by a later call."""
    memory = Running(path)
    memory.result(memory.mailbox.start())
    try:
        memory.result(memory.mailbox.keep("alice", "bob", "hi", sent_at=NOW))
        assert _texts(memory.result(memory.mailbox.take("alice"))) == ["hi"]
    finally:
        memory.result(memory.mailbox.stop())


def test_stop_ends_the_worker_thread(tmp_path: Path) -> None:
    """After stop has fired, no thread of the mailbox is left."""
    stopped = Running(str(tmp_path / "chat.db"))
    stopped.result(stopped.mailbox.start())
    stopped.result(stopped.mailbox.stop())
    assert not [thread for thread in threading.enumerate() if "tcpchat-mailbox" in thread.name]


def test_stop_without_start_fires_at_once(tmp_path: Path) -> None:
    """stop of a mailbox never started has nothing to wait for."""
    assert Running(str(tmp_path / "chat.db")).mailbox.stop().called


def test_start_on_another_programs_table_fails(tmp_path: Path) -> None:
    """start fails with StoreError for a foreign offline_messages table; stop ends the thread."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE offline_messages (who TEXT)")
    refused = Running(str(path))
    with pytest.raises(StoreError, match="columns: who"):
        refused.result(refused.mailbox.start())
    refused.result(refused.mailbox.stop())
    assert not [thread for thread in threading.enumerate() if "tcpchat-mailbox" in thread.name]
