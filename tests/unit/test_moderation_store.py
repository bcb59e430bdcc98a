"""Moderation in the SQLite database: the tables, the worker thread, and state across a restart.

The worker thread is real; its results come back through a
:class:`~tests.support.history_support.ThreadedClock`, which is also the
moderation's clock (advanced to make durations end).
"""

from __future__ import annotations

import ipaddress
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from twisted.internet import defer
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher

from chat.moderation.rules import Ban, Moderation, Mute, RoomSettings, Saved, guest_key
from chat.moderation.store import BackgroundModerationStore, ModerationStore
from chat.moderation.targets import AccountTarget, AddressTarget, NickTarget, Target
from chat.storage import SQLiteHistoryStore, StoreError
from tests.support.history_support import ThreadedClock

T = TypeVar("T")
TIMEOUT = 5.0
NOW = 1_000_000.0
HOUR = 3600.0
V6_NET = AddressTarget(ipaddress.ip_network("2001:db8:1:2::/64"))


class Server:
    """A background store on ``path`` and the clock it and its Moderation run on.

    Every server made is noted in ``opened``, to be stopped at the end of the test.
    """

    def __init__(
        self, path: str, opened: list[Server], clock: ThreadedClock | None = None
    ) -> None:
        self.path = path
        self.opened = opened
        if clock is None:
            clock = ThreadedClock()
            clock.advance(NOW)
        self.clock = clock
        self.store = BackgroundModerationStore(path, cast(IReactorFromThreads, clock))
        opened.append(self)

    def result(self, deferred: defer.Deferred[T]) -> T:
        value: T = self.clock.result(deferred, TIMEOUT)
        return value

    def start(self) -> Moderation:
        """Start the store and load a Moderation from it."""
        self.result(self.store.start())
        return self.result(Moderation.load(self.store, self.clock))

    def stop(self) -> None:
        self.result(self.store.stop())

    def restart(self) -> Moderation:
        """Stop, then load a new Moderation from a new store on the same file and clock."""
        self.stop()
        return Server(self.path, self.opened, self.clock).start()


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "chat.db")


@pytest.fixture
def opened() -> Iterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def server(path: str, opened: list[Server]) -> Server:
    return Server(path, opened)


@pytest.fixture
def store(path: str) -> Iterator[ModerationStore]:
    opened = ModerationStore(path)
    yield opened
    opened.close()


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


def rows(path: str, table: str) -> list[Any]:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT * FROM {table}").fetchall()


# The blocking store


def test_the_tables_are_made_with_their_columns(store: ModerationStore, path: str) -> None:
    """Opening a new file makes the bans, mutes and rooms tables."""
    with sqlite3.connect(path) as db:
        columns = {
            table: [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            for table in ("bans", "mutes", "rooms")
        }
    assert columns == {
        "bans": ["kind", "target", "scope", "by_nick", "reason", "since", "until"],
        "mutes": ["nick", "scope", "by_nick", "since", "until"],
        "rooms": ["key", "owner", "topic", "topic_by", "topic_at", "topic_ops_only", "operators",
                  "member_limit", "join_key", "invite_only", "voiced", "moderated", "secret",
                  "outside_messages"],
    }


def test_a_database_with_the_old_rooms_table_is_upgraded_and_keeps_its_rows(path: str) -> None:
    """A rooms table from before +l, +k and +i gains their columns; its rooms are kept."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE rooms (key TEXT PRIMARY KEY, owner TEXT, topic TEXT NOT NULL,"
            " topic_by TEXT, topic_at REAL, topic_ops_only INTEGER NOT NULL,"
            " operators TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO rooms VALUES ('kitchen', 'alice', 'Soup', 'bob', 1.0, 1, '[\"bob\"]')"
        )
    db.close()
    store = ModerationStore(path)
    try:
        assert store.load_all(NOW).rooms == (
            RoomSettings("kitchen", "alice", "Soup", "bob", 1.0, True, frozenset({"bob"})),
        )
        limited = RoomSettings("kitchen", "alice", member_limit=5, join_key="beer",
                               invite_only=True)
        store.save_room(limited)
        assert store.load_all(NOW).rooms == (limited,)
    finally:
        store.close()


def test_a_rooms_table_from_before_voice_gains_voiced_moderated_and_secret(path: str) -> None:
    """A rooms table with +l, +k and +i but no voice gains voiced, moderated and secret; its
    rooms come back with nobody voiced, neither moderated nor secret, and these are then
    kept."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE rooms (key TEXT PRIMARY KEY, owner TEXT, topic TEXT NOT NULL,"
            " topic_by TEXT, topic_at REAL, topic_ops_only INTEGER NOT NULL,"
            " operators TEXT NOT NULL, member_limit INTEGER, join_key TEXT NOT NULL DEFAULT '',"
            " invite_only INTEGER NOT NULL DEFAULT 0)"
        )
        db.execute(
            "INSERT INTO rooms VALUES ('kitchen', 'alice', '', NULL, NULL, 0, '[]', 3, '', 1)"
        )
    db.close()
    store = ModerationStore(path)
    try:
        old = RoomSettings("kitchen", "alice", member_limit=3, invite_only=True)
        assert store.load_all(NOW).rooms == (old,)
        voiced = replace(old, voiced=frozenset({"bob", guest_key("gus")}), moderated=True,
                         secret=True, outside_messages=True)
        store.save_room(voiced)
        assert store.load_all(NOW).rooms == (voiced,)
    finally:
        store.close()


def test_a_room_whose_voiced_column_is_no_list_of_names_is_refused(path: str) -> None:
    """Opening refuses, in one line, a room whose voiced column is not a JSON list."""
    store = ModerationStore(path)
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO rooms (key, topic, topic_ops_only, operators, voiced)"
                   " VALUES ('kitchen', '', 0, '[]', '{')")
    db.close()
    store = ModerationStore(path)
    try:
        with pytest.raises(StoreError, match="kitchen voiced"):
            store.load_all(NOW)
    finally:
        store.close()


def test_the_database_is_in_wal_mode(store: ModerationStore, path: str) -> None:
    """The file is switched to WAL, so the history's writer and this one share it."""
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_new_database_holds_nothing(store: ModerationStore) -> None:
    """load_all of a new file is empty."""
    assert store.load_all(NOW) == Saved()


@pytest.mark.parametrize(
    "target",
    [NickTarget("bob"), AccountTarget("bob"), V6_NET,
     AddressTarget(ipaddress.ip_network("203.0.113.7/32"))],
)
@pytest.mark.parametrize("scope", [None, "kitchen"])
def test_a_saved_ban_is_loaded_as_it_was(
    store: ModerationStore, target: Target, scope: str | None
) -> None:
    """Every kind of target, server-wide or in a room, comes back equal."""
    ban = Ban(target, scope, "root", "spam", NOW, NOW + HOUR)
    store.save_ban(ban)
    assert store.load_all(NOW).bans == (ban,)


def test_a_ban_for_ever_is_loaded_for_ever(store: ModerationStore) -> None:
    """until None survives as None."""
    ban = Ban(NickTarget("bob"), None, "root", "", NOW, None)
    store.save_ban(ban)
    assert store.load_all(NOW + 100 * HOUR).bans == (ban,)


def test_saving_a_ban_again_replaces_it(store: ModerationStore) -> None:
    """A second ban of the same target and scope takes the row of the first."""
    store.save_ban(Ban(NickTarget("bob"), None, "root", "first", NOW, None))
    second = Ban(NickTarget("bob"), None, "root", "second", NOW, NOW + HOUR)
    store.save_ban(second)
    assert store.load_all(NOW).bans == (second,)


def test_a_deleted_ban_is_not_loaded(store: ModerationStore) -> None:
    """delete_ban removes the row of that target and scope only."""
    kept = Ban(NickTarget("bob"), "kitchen", "alice", "", NOW, None)
    store.save_ban(kept)
    store.save_ban(Ban(NickTarget("bob"), None, "root", "", NOW, None))
    store.delete_ban(NickTarget("bob"), None)
    assert store.load_all(NOW).bans == (kept,)


def test_a_saved_mute_is_loaded_and_a_deleted_one_is_not(store: ModerationStore) -> None:
    """save_mute keeps a mute; delete_mute removes it."""
    kept = Mute("bob", None, "root", NOW, None)
    store.save_mute(kept)
    store.save_mute(Mute("carol", "kitchen", "alice", NOW, NOW + HOUR))
    store.delete_mute("carol", "kitchen")
    assert store.load_all(NOW).mutes == (kept,)


def test_saved_room_settings_are_loaded_and_deleted_ones_are_not(
    store: ModerationStore,
) -> None:
    """save_room keeps every setting; delete_room removes the room's row."""
    kept = RoomSettings("kitchen", "alice", "Soup", "bob", NOW, True, frozenset({"bob", "gus"}),
                        member_limit=10, join_key="beer", invite_only=True)
    store.save_room(kept)
    store.save_room(RoomSettings("garden", topic="Roses"))
    store.delete_room("garden")
    assert store.load_all(NOW).rooms == (kept,)


def test_loading_deletes_what_has_expired(store: ModerationStore, path: str) -> None:
    """Bans and mutes that ended before now are gone from the file, not only from the result."""
    store.save_ban(Ban(NickTarget("bob"), None, "root", "", NOW - HOUR, NOW))
    store.save_mute(Mute("bob", None, "root", NOW - HOUR, NOW))
    assert store.load_all(NOW) == Saved()
    assert (rows(path, "bans"), rows(path, "mutes")) == ([], [])


def test_loading_keeps_what_has_not_expired(store: ModerationStore) -> None:
    """A ban ending a moment after now is still loaded."""
    ban = Ban(NickTarget("bob"), None, "root", "", NOW - HOUR, NOW + 0.5)
    store.save_ban(ban)
    assert store.load_all(NOW).bans == (ban,)


def test_a_ban_row_that_cannot_be_read_fails_the_load(
    store: ModerationStore, path: str
) -> None:
    """An unknown kind of target is a StoreError, not a ban silently dropped."""
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO bans VALUES ('planet', 'mars', '', 'root', '', 0, NULL)")
    with pytest.raises(StoreError, match="bans table"):
        store.load_all(NOW)


def test_a_room_row_that_cannot_be_read_fails_the_load(
    store: ModerationStore, path: str
) -> None:
    """Operators that are not a JSON list of keys are a StoreError."""
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO rooms (key, owner, topic, topic_by, topic_at, topic_ops_only,"
                   " operators) VALUES ('kitchen', NULL, '', NULL, NULL, 0, '{')")
    with pytest.raises(StoreError, match="rooms table"):
        store.load_all(NOW)


def test_a_folder_cannot_be_opened(tmp_path: Path) -> None:
    """--db naming a folder is a StoreError naming it."""
    with pytest.raises(StoreError, match=str(tmp_path)):
        ModerationStore(str(tmp_path))


def test_a_file_that_is_not_sqlite_cannot_be_opened_and_is_left_alone(tmp_path: Path) -> None:
    """A text file is refused and not written to."""
    text = tmp_path / "notes.txt"
    text.write_bytes(b"shopping list\n" * 10)
    with pytest.raises(StoreError):
        ModerationStore(str(text))
    assert text.read_bytes() == b"shopping list\n" * 10


def test_a_bans_table_that_is_not_tcpchats_is_refused(path: str) -> None:
    """A bans table with other columns is a StoreError naming them."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE bans (who TEXT)")
    with pytest.raises(StoreError, match="columns: who"):
        ModerationStore(path)


def test_the_store_works_while_a_history_store_holds_the_file(path: str) -> None:
    """With the server's history store open on the same file, bans are written and read."""
    clock = ThreadedClock()
    history = SQLiteHistoryStore(path, clock)
    history.open()
    try:
        store = ModerationStore(path)
        ban = Ban(NickTarget("bob"), None, "root", "", NOW, None)
        store.save_ban(ban)
        assert store.load_all(NOW).bans == (ban,)
        store.close()
    finally:
        clock.result(history.close())


# The background store


def test_every_write_runs_on_one_worker_thread(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saves and loads all run on the same thread, not the reactor's."""
    threads: set[int] = set()
    for name in ["save_ban", "save_mute", "save_room", "load_all"]:
        monkeypatch.setattr(ModerationStore, name, _recording(getattr(ModerationStore, name),
                                                               threads))
    moderation = server.start()
    moderation.ban(NickTarget("bob"), None, "root")
    moderation.mute("bob", None, "root")
    moderation.set_topic("kitchen", "Soup", "alice")
    server.stop()
    assert len(threads) == 1 and threading.get_ident() not in threads


def _recording(function: Any, threads: set[int]) -> Any:
    """``function``, noting the thread of every call in ``threads``."""

    def recorded(*args: Any) -> Any:
        threads.add(threading.get_ident())
        return function(*args)

    return recorded


def test_writes_return_before_they_are_written(
    server: Server, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ban is made, and holds, while the worker thread is still held back from writing it."""
    moderation = server.start()
    release = threading.Event()
    blocked = ModerationStore.save_ban

    def slow(store: ModerationStore, ban: Ban) -> None:
        release.wait(TIMEOUT / 2)
        blocked(store, ban)

    monkeypatch.setattr(ModerationStore, "save_ban", slow)
    try:
        moderation.ban(NickTarget("bob"), None, "root")
        assert moderation.banned("bob", None, "", None) is not None and rows(path, "bans") == []
    finally:
        release.set()


def test_stop_writes_everything_asked_before_it(server: Server, path: str) -> None:
    """A hundred bans made just before stop are all in the file once it has fired."""
    moderation = server.start()
    for number in range(100):
        moderation.ban(NickTarget(f"n{number}"), None, "root")
    server.stop()
    assert len(rows(path, "bans")) == 100


def test_stop_ends_the_worker_thread(server: Server) -> None:
    """After stop has fired, no thread of the store is left."""
    server.start()
    server.stop()
    assert not [t for t in threading.enumerate() if "tcpchat-moderation" in t.name]


def test_stop_without_start_fires_at_once(server: Server) -> None:
    """stop of a store never started has nothing to wait for."""
    assert server.store.stop().called


def test_a_write_after_stop_is_logged_not_written(
    server: Server, path: str, logged: list[str]
) -> None:
    """A change made once stopping has begun is not written, and the log says so."""
    moderation = server.start()
    server.stop()
    moderation.ban(NickTarget("bob"), None, "root")
    assert rows(path, "bans") == []
    assert any("after closing" in line for line in logged)


def test_a_write_that_fails_is_logged(
    server: Server, monkeypatch: pytest.MonkeyPatch, logged: list[str]
) -> None:
    """A database error while writing is logged, and later writes still go on."""
    moderation = server.start()

    def failing(store: ModerationStore, mute: Mute) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(ModerationStore, "save_mute", failing)
    moderation.mute("bob", None, "root")
    moderation.ban(NickTarget("bob"), None, "root")
    again = server.restart()
    assert any("cannot save a mute" in line for line in logged)
    assert again.banned("bob", None, "", None) is not None


def test_start_on_a_database_that_cannot_be_used_fails(
    tmp_path: Path, opened: list[Server]
) -> None:
    """start fails with StoreError for a folder; stop still ends the thread."""
    refused = Server(str(tmp_path), opened)
    with pytest.raises(StoreError):
        refused.result(refused.store.start())
    refused.stop()
    assert not [t for t in threading.enumerate() if "tcpchat-moderation" in t.name]


@pytest.mark.parametrize("path", ["", ":memory:"])
def test_a_database_in_memory_keeps_changes_on_its_one_connection(
    path: str, opened: list[Server]
) -> None:
    """With --db :memory:, what was written is loaded back through the same store."""
    memory = Server(path, opened)
    memory.start().ban(V6_NET, None, "root")
    saved = memory.result(memory.store.load_all(NOW))
    assert [ban.target for ban in saved.bans] == [V6_NET]


# Across a restart


def test_bans_hold_across_a_restart(server: Server) -> None:
    """Nickname, account and IPv6 network bans, in a room and server-wide, come back."""
    moderation = server.start()
    made = [
        moderation.ban(NickTarget("bob"), "kitchen", "alice", "spam"),
        moderation.ban(AccountTarget("carol"), None, "root", duration=HOUR),
        moderation.ban(V6_NET, None, "root", "flood"),
    ]
    again = server.restart()
    assert again.bans("kitchen") + again.bans(None) == made
    assert again.banned(None, None, "2001:db8:1:2::99", "kitchen") == made[2]


def test_mutes_hold_across_a_restart(server: Server) -> None:
    """A room mute and a server-wide mute come back."""
    moderation = server.start()
    room = moderation.mute("bob", "kitchen", "alice")
    everywhere = moderation.mute("carol", None, "root", duration=HOUR)
    again = server.restart()
    assert (again.muted("bob", "kitchen"), again.muted("carol", None)) == (room, everywhere)


def test_room_settings_hold_across_a_restart(server: Server) -> None:
    """Owner, topic (with who and when), topic_ops_only and operators come back."""
    moderation = server.start()
    moderation.set_owner("kitchen", "alice")
    moderation.set_topic("kitchen", "Soup tonight", "alice")
    moderation.set_topic_ops_only("kitchen", True)
    moderation.grant_op("kitchen", "bob")
    moderation.grant_op("kitchen", guest_key("gus"))
    moderation.grant_voice("kitchen", "carol")
    moderation.grant_voice("kitchen", guest_key("dan"))
    moderation.set_moderated("kitchen", True)
    moderation.set_secret("kitchen", True)
    settings = moderation.room("kitchen")
    again = server.restart()
    assert again.room("kitchen") == settings
    assert again.is_room_operator("kitchen", "gus", None) and again.keeps("kitchen")
    assert again.is_voiced("kitchen", "carol", "carol") and again.is_voiced("kitchen", "dan", None)
    assert again.room("kitchen").moderated and again.room("kitchen").secret


def test_what_was_lifted_stays_lifted_across_a_restart(server: Server) -> None:
    """Unban, unmute, deop and a cleared topic are written too."""
    moderation = server.start()
    moderation.ban(NickTarget("bob"), None, "root")
    moderation.mute("bob", None, "root")
    moderation.grant_op("kitchen", "bob")
    moderation.set_topic("kitchen", "Soup", "alice")
    moderation.unban(NickTarget("bob"), None)
    moderation.unmute("bob", None)
    moderation.revoke_op("kitchen", "bob")
    moderation.set_topic("kitchen", "", "alice")
    again = server.restart()
    assert (again.bans(None), again.muted("bob", None), again.room("kitchen")) == (
        [], None, RoomSettings("kitchen"),
    )


def test_a_room_back_to_its_defaults_leaves_no_row(server: Server, path: str) -> None:
    """Taking the last setting away deletes the room's row."""
    moderation = server.start()
    moderation.set_owner("kitchen", "alice")
    moderation.set_owner("kitchen", None)
    server.stop()
    assert rows(path, "rooms") == []


def test_what_expired_while_stopped_is_gone_after_a_restart(
    server: Server, path: str
) -> None:
    """A ban and a mute for an hour are gone, from memory and file, when the server
    starts again two hours later; a ban for ever is not."""
    moderation = server.start()
    moderation.ban(NickTarget("bob"), None, "root", duration=HOUR)
    moderation.mute("bob", None, "root", duration=HOUR)
    forever = moderation.ban(NickTarget("carol"), None, "root")
    server.clock.advance(2 * HOUR)
    again = server.restart()
    assert (again.bans(None), again.muted("bob", None)) == ([forever], None)
    assert (len(rows(path, "bans")), rows(path, "mutes")) == (1, [])


def test_a_ban_goes_on_ending_at_its_time_after_a_restart(server: Server) -> None:
    """An hour's ban, restarted half-way, ends at the hour, not an hour after the restart."""
    moderation = server.start()
    moderation.ban(NickTarget("bob"), None, "root", duration=HOUR)
    server.clock.advance(HOUR / 2)
    again = server.restart()
    server.clock.advance(HOUR / 2)
    assert again.banned("bob", None, "", None) is None
