"""The SQLite history store: refusing bad files, one server per file, retrying writes, pruning."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher

from chat.config import ServerConfig
from chat.domain.events import Message
from chat.history import History, RoomHistory
from chat.history_service import HistoryService, StartUpError
from chat.service import Farewell, make_service
from chat.storage import SQLiteHistoryStore, SQLiteSequencer, StoreError
from tests.support.history_support import ThreadedClock


@pytest.fixture
def clock() -> ThreadedClock:
    return ThreadedClock()


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """Every log line emitted during the test, formatted."""
    lines: list[str] = []

    def formatted(event: LogEvent) -> None:
        lines.append(formatEvent(event))

    observe = cast(ILogObserver, formatted)
    globalLogPublisher.addObserver(observe)
    yield lines
    globalLogPublisher.removeObserver(observe)


class Stores:
    """Stores opened in a test, all closed at the end."""

    def __init__(self, clock: ThreadedClock, path: Path) -> None:
        self.clock = clock
        self.path = str(path)
        self._open: list[SQLiteHistoryStore] = []

    def new(self, **options: Any) -> SQLiteHistoryStore:
        """A store on the file, not opened yet (as make_service makes it before twistd forks)."""
        return SQLiteHistoryStore(self.path, self.clock, **options)

    def open(self, store: SQLiteHistoryStore | None = None, **options: Any) -> SQLiteHistoryStore:
        """Open ``store``, or a new one made with ``options``; it is closed at the end."""
        if store is None:
            store = self.new(**options)
        store.open()
        self._open.append(store)
        return store

    def close(self, store: SQLiteHistoryStore) -> None:
        self._open.remove(store)
        self.clock.result(store.close())


@pytest.fixture
def stores(clock: ThreadedClock, tmp_path: Path) -> Iterator[Stores]:
    opened = Stores(clock, tmp_path / "chat.db")
    yield opened
    for store in list(opened._open):
        opened.close(store)


def refusal(path: Path, clock: ThreadedClock) -> str:
    """The one-line reason why a store on ``path`` cannot be opened."""
    with pytest.raises(StoreError) as refused:
        SQLiteHistoryStore(str(path), clock).open()
    message = str(refused.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def write(store: SQLiteHistoryStore, room: str, ids: range, when: float = 1.0) -> list[int]:
    """Messages numbered ``ids`` in ``room``, each reserved, then handed to the store."""
    for said_id in ids:
        store.reserve(said_id)
        store.append(room, Message("a", f"m{said_id}", said_id, when))
    return list(ids)


def test_a_file_that_is_not_a_database_is_refused_in_one_line(
    tmp_path: Path, clock: ThreadedClock
) -> None:
    """Garbage bytes in --db: one line naming the file and the problem."""
    path = tmp_path / "chat.db"
    path.write_bytes(b"this is not sqlite at all\n" * 100)
    assert "not an SQLite database" in refusal(path, clock)


def test_a_folder_is_refused_in_one_line(tmp_path: Path, clock: ThreadedClock) -> None:
    """--db naming a folder says so."""
    path = tmp_path / "chat.db"
    path.mkdir()
    assert "folder" in refusal(path, clock)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_refused_in_one_line(tmp_path: Path, clock: ThreadedClock) -> None:
    """--db without permission to read and write it says so."""
    path = tmp_path / "chat.db"
    path.write_bytes(b"")
    path.chmod(0)
    assert "ermission denied" in refusal(path, clock)


def test_a_database_of_another_program_is_refused_in_one_line(
    tmp_path: Path, clock: ThreadedClock
) -> None:
    """A SQLite file whose history table is not tcpchat's is left alone."""
    path = tmp_path / "chat.db"
    with sqlite3.connect(path) as foreign:
        foreign.execute("CREATE TABLE history (day TEXT, event TEXT)")
    assert "history table is not tcpchat's" in refusal(path, clock)
    with sqlite3.connect(path) as foreign:
        assert foreign.execute("SELECT count(*) FROM history").fetchone() == (0,)
        assert foreign.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert not (tmp_path / "chat.db.lock").exists()


def test_a_second_store_on_the_same_file_is_refused(
    stores: Stores, tmp_path: Path, clock: ThreadedClock
) -> None:
    """Two servers on one database would overwrite each other's rows: the second may not open."""
    stores.open()
    assert "another tcpchat server is using it" in refusal(tmp_path / "chat.db", clock)


def test_the_check_before_start_leaves_the_file_free(stores: Stores) -> None:
    """The check made before twistd forks releases everything it took."""
    SQLiteHistoryStore(stores.path, stores.clock).check()
    stores.open()


def test_ids_are_reserved_durably_before_they_are_handed_out(
    stores: Stores, tmp_path: Path
) -> None:
    """An id is below the reserved ceiling on disk before anyone is given it."""
    store = stores.open()
    write(store, "lobby", range(1, 4))
    ceiling = int((tmp_path / "chat.db.lock").read_text())
    assert ceiling >= 3


def test_a_reservation_is_renewed_ahead_of_use(stores: Stores, tmp_path: Path) -> None:
    """Ids keep coming past the first block; each is covered by the ceiling on disk."""
    store = stores.open(id_block=10)
    for said_id in range(1, 36):
        write(store, "lobby", range(said_id, said_id + 1))
        assert int((tmp_path / "chat.db.lock").read_text()) >= said_id


def test_a_locked_database_keeps_the_entries_and_writes_them_later(
    stores: Stores, tmp_path: Path, logged: list[str]
) -> None:
    """While another connection holds the database, entries wait in memory; then all are written."""
    store = stores.open(busy_timeout=0.05)
    blocker = sqlite3.connect(tmp_path / "chat.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    ids = write(store, "lobby", range(1, 6))
    stores.clock.advance(1)
    stores.clock.wait(lambda: any("cannot write" in line for line in logged))
    time.sleep(0.5)
    stores.clock.run_pending()
    assert [said.id for said in store.latest("lobby", 10).entries] == ids
    blocker.execute("ROLLBACK")
    blocker.close()
    stores.clock.wait(lambda: any("writing to" in line and "again" in line for line in logged))
    failures = [line for line in logged if "cannot write" in line]
    assert len(failures) == 1, failures
    stores.close(store)
    reopened = stores.open()
    assert [said.id for said in reopened.latest("lobby", 10).entries] == ids


def test_pruning_keeps_the_newest_messages_of_all_rooms(
    stores: Stores, logged: list[str]
) -> None:
    """--retain-messages 5: the database keeps the 5 newest messages, whatever their room."""
    store = stores.open()
    write(store, "a", range(1, 11))
    write(store, "b", range(11, 14))
    stores.close(store)
    pruned = stores.open(retain_messages=5, prune_chunk=2)
    stores.clock.wait(lambda: any("pruned 8 messages" in line for line in logged))
    assert [said.id for said in pruned.latest("a", 100).entries] == [9, 10]
    assert [said.id for said in pruned.latest("b", 100).entries] == [11, 12, 13]


def test_pruned_messages_count_as_a_gap_in_their_room_only(
    stores: Stores, logged: list[str]
) -> None:
    """After pruning, a room whose messages were pruned says so; another room does not."""
    store = stores.open()
    write(store, "a", range(1, 5))
    write(store, "b", range(5, 7))
    stores.close(store)
    pruned = stores.open(retain_messages=3)
    stores.clock.wait(lambda: any("pruned 3 messages" in line for line in logged))
    assert pruned.latest("a", 100) == RoomHistory([Message("a", "m4", 4, 1.0)], forgotten=3)
    assert pruned.latest("b", 100).forgotten == 0


def test_pruning_by_age_removes_old_messages_periodically(
    stores: Stores, logged: list[str]
) -> None:
    """--retain-days: messages older than that go, at start and again while the server runs."""
    store = stores.open(retain_days=1, prune_every=0.1)
    write(store, "a", range(1, 3), when=1000.0)
    write(store, "a", range(3, 6), when=time.time())
    stores.clock.advance(1)
    stores.clock.wait(lambda: any("pruned 2 messages" in line for line in logged))
    assert [said.id for said in store.latest("a", 100).entries] == [3, 4, 5]


def test_the_database_is_opened_when_the_server_starts_not_when_it_is_built(
    tmp_path: Path, clock: ThreadedClock
) -> None:
    """twistd forks between building and starting: only the started server holds the file."""
    path = str(tmp_path / "chat.db")
    top = make_service(clock, [], ServerConfig(db=path))
    SQLiteHistoryStore(path, clock).check()
    top.startService()
    with pytest.raises(StoreError):
        SQLiteHistoryStore(path, clock).check()
    clock.result(top.stopService())
    SQLiteHistoryStore(path, clock).check()


def test_a_database_refused_at_start_ends_twistd_with_one_line(
    tmp_path: Path, clock: ThreadedClock, capfd: pytest.CaptureFixture[str]
) -> None:
    """The reason goes to stderr, alone, and ends twistd with status 1, not a traceback."""
    path = tmp_path / "chat.db"
    path.write_bytes(b"garbage" * 10)
    service = HistoryService(History(), SQLiteHistoryStore(str(path), clock))
    with pytest.raises(SystemExit) as ended:
        service.startService()
    assert ended.value.code == 1
    assert capfd.readouterr().err == f"tcpchat: cannot use --db {path}: not an SQLite database\n"


def test_a_database_refused_in_a_daemon_is_reported_to_twistd(
    tmp_path: Path, clock: ThreadedClock
) -> None:
    """A daemon's twistd catches Exceptions from startService and hands them to its parent."""
    path = tmp_path / "chat.db"
    path.write_bytes(b"garbage" * 10)
    service = HistoryService(History(), SQLiteHistoryStore(str(path), clock))
    with pytest.raises(Exception, match="not an SQLite database") as refused:
        service.startService()
    assert isinstance(refused.value, StartUpError)


def test_a_started_server_numbers_messages_above_its_last_run(
    tmp_path: Path, clock: ThreadedClock
) -> None:
    """The Registry make_service builds takes its ids from the database: a restart goes on above."""
    path = str(tmp_path / "chat.db")
    given: list[list[int]] = []
    for _ in range(2):
        top = make_service(clock, [], ServerConfig(db=path))
        top.startService()
        farewell = next(part for part in top if isinstance(part, Farewell))
        sequencer = farewell.server.registry.sequencer
        given.append([sequencer.next_id() for _ in range(3)])
        clock.result(top.stopService())
    assert min(given[1]) > max(given[0])


def test_a_sequencer_made_before_its_store_is_opened_goes_on_above_the_last_run(
    stores: Stores,
) -> None:
    """make_service makes the sequencer before twistd forks; its first id is read on first use."""
    first_run = stores.open()
    write(first_run, "lobby", range(1, 8))
    stores.close(first_run)
    store = stores.new()
    sequencer = SQLiteSequencer(store)
    stores.open(store)
    assert sequencer.last_id >= 7
    assert sequencer.next_id() > 7


def test_a_sequencer_goes_on_from_after_when_that_is_higher(stores: Stores) -> None:
    """SQLiteSequencer(store, after=N) gives no id at or below N, whatever the store holds."""
    store = stores.open()
    write(store, "lobby", range(1, 4))
    sequencer = SQLiteSequencer(store, after=1000)
    assert sequencer.last_id == 1000
    assert sequencer.next_id() == 1001
    assert sequencer.last_id == 1001
