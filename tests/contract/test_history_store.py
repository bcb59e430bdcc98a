"""Contract of the HistoryStore port (:mod:`chat.ports.history`), run on every implementation.

An implementation passes :class:`HistoryStoreContract` (and, if history
outlives the process, :class:`DurableHistoryStoreContract`) by a subclass
that says how to make one and, for a remote store, how to wait for a read
(``settle``).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import TypeVar

import pytest
from twisted.internet import defer

from chat.domain.events import Action, Message, Said
from chat.history import History
from chat.ports import CatchUp, HistoryStore
from chat.redis.history import RedisHistory
from chat.storage import SQLiteHistoryStore
from tests.support.contract import fired
from tests.support.history_support import ThreadedClock
from tests.support.redis_server import RedisServer, redis, redis_server, settle

__all__ = ["redis", "redis_server"]  # the fixtures, for pytest to find

T = TypeVar("T")


class HistoryStoreContract:
    """What every history store does."""

    def make(self, keep: int) -> HistoryStore:
        """A store keeping ``keep`` entries per room, on storage of this test."""
        raise NotImplementedError

    def settle(self, deferred: defer.Deferred[T]) -> T:
        """What a read's Deferred fires with."""
        return fired(deferred)

    @pytest.fixture(autouse=True)
    def _ids(self) -> None:
        self.ids = count(1)

    def said(self, store: HistoryStore, room: str, times: int, text: str = "m") -> list[Said]:
        """Record ``times`` messages in ``room``, numbered from the test's one counter."""
        entries: list[Said] = []
        for _ in range(times):
            said_id = next(self.ids)
            said = Message("alice", f"{text}{said_id}", said_id, 1000.0 + said_id)
            store.record(room, said)
            entries.append(said)
        return entries

    def recent(self, store: HistoryStore, room: str, count: int) -> list[Said]:
        return self.settle(store.read_recent(room, count))

    def since(self, store: HistoryStore, room: str, after: int) -> CatchUp:
        return self.settle(store.read_since(room, after))

    def test_reads_return_deferreds(self) -> None:
        """Both reads answer with a Deferred, as a remote store must wait."""
        store = self.make(keep=10)
        self.said(store, "lobby", 1)
        assert isinstance(store.read_recent("lobby", 5), defer.Deferred)
        assert isinstance(store.read_since("lobby", 0), defer.Deferred)

    def test_recent_entries_had_at_once_are_those_read(self) -> None:
        """recent_now is None (the store must be read) or exactly what read_recent answers,
        for a room spoken in, a count above what it holds, none asked, and a silent room."""
        store = self.make(keep=10)
        self.said(store, "lobby", 4)
        for room, wanted in (("lobby", 3), ("lobby", 8), ("lobby", 0), ("empty", 5)):
            at_once = store.recent_now(room, wanted)
            assert at_once is None or at_once == self.recent(store, room, wanted)

    def test_a_room_never_spoken_in_has_no_history(self) -> None:
        """Nothing recent, nothing since 0, and nothing missed."""
        store = self.make(keep=10)
        assert self.recent(store, "empty", 5) == []
        assert self.since(store, "empty", 0) == CatchUp([], False)

    def test_recent_is_the_newest_oldest_first(self) -> None:
        """read_recent(N) is the last N entries in the order they were said."""
        store = self.make(keep=10)
        entries = self.said(store, "lobby", 15)
        assert self.recent(store, "lobby", 3) == entries[-3:]

    def test_recent_returns_at_most_keep_entries(self) -> None:
        """However many are asked for, a read brings at most `keep` entries."""
        store = self.make(keep=10)
        entries = self.said(store, "lobby", 15)
        assert self.recent(store, "lobby", 100) == entries[-10:]
        assert store.keep == 10

    def test_a_count_of_zero_reads_nothing(self) -> None:
        """read_recent(0) and below are empty."""
        store = self.make(keep=10)
        self.said(store, "lobby", 3)
        assert self.recent(store, "lobby", 0) == []
        assert self.recent(store, "lobby", -1) == []

    def test_messages_and_actions_come_back_as_they_were_said(self) -> None:
        """Kind, sender, text, id and time are kept."""
        store = self.make(keep=10)
        said: list[Said] = [Message("alice", "hi", 1, 5.5), Action("bob", "waves", 2, 6.25)]
        for entry in said:
            store.record("lobby", entry)
        assert self.recent(store, "lobby", 10) == said

    def test_rooms_are_kept_apart(self) -> None:
        """What is said in one room is not in another's history."""
        store = self.make(keep=10)
        lobby = self.said(store, "lobby", 2)
        dev = self.said(store, "dev", 2)
        assert self.recent(store, "lobby", 10) == lobby
        assert self.recent(store, "dev", 10) == dev

    def test_since_an_id_is_exact(self) -> None:
        """read_since gives exactly the room's entries above the id, whatever other rooms said."""
        store = self.make(keep=10)
        lobby: list[Said] = []
        for _ in range(4):
            lobby += self.said(store, "lobby", 1)
            self.said(store, "dev", 1)
        assert self.since(store, "lobby", lobby[1].id) == CatchUp(lobby[2:], False)
        assert self.since(store, "lobby", lobby[1].id + 1) == CatchUp(lobby[2:], False)
        assert self.since(store, "lobby", lobby[-1].id) == CatchUp([], False)
        assert self.since(store, "lobby", 0) == CatchUp(lobby, False)

    def test_since_says_when_older_entries_are_gone(self) -> None:
        """Catching up from before what is kept brings what is kept and says some are missed."""
        store = self.make(keep=5)
        entries = self.said(store, "lobby", 20)
        assert self.since(store, "lobby", entries[2].id) == CatchUp(entries[-5:], True)
        assert self.since(store, "lobby", entries[-6].id) == CatchUp(entries[-5:], False)
        assert self.since(store, "lobby", entries[-7].id).missed

    def test_other_rooms_ids_are_not_mistaken_for_a_gap(self) -> None:
        """Ids are shared by all rooms: a room's own ids having gaps loses nothing."""
        store = self.make(keep=3)
        first = self.said(store, "lobby", 1)
        self.said(store, "dev", 5)
        later = self.said(store, "lobby", 3)
        assert self.since(store, "lobby", first[0].id) == CatchUp(later, False)


class DurableHistoryStoreContract(HistoryStoreContract):
    """What a history store whose history outlives the process does too."""

    def reopen(self, keep: int) -> HistoryStore:
        """Close the store made last, as a server stops, and open one on the same storage."""
        raise NotImplementedError

    def test_history_survives_a_reopen(self) -> None:
        """Every room's entries, ids and times included, are there after a restart."""
        store = self.make(keep=100)
        lobby = self.said(store, "lobby", 3)
        dev = self.said(store, "dev", 2)
        reopened = self.reopen(keep=100)
        assert self.recent(reopened, "lobby", 10) == lobby
        assert self.recent(reopened, "dev", 10) == dev

    def test_a_gap_is_exact_after_a_reopen_keeping_fewer(self) -> None:
        """A store keeping fewer entries than were written knows exactly which are gone."""
        store = self.make(keep=100)
        entries = self.said(store, "lobby", 10)
        reopened = self.reopen(keep=3)
        assert self.since(reopened, "lobby", entries[-4].id) == CatchUp(entries[-3:], False)
        assert self.since(reopened, "lobby", entries[-5].id) == CatchUp(entries[-3:], True)


class TestMemoryHistory(HistoryStoreContract):
    """History without --db: rooms in memory only."""

    def make(self, keep: int) -> HistoryStore:
        return History(keep)


class TestSQLiteHistory(DurableHistoryStoreContract):
    """History with --db: rooms in memory over SQLite."""

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> Iterator[None]:
        self.path = str(tmp_path / "chat.db")
        self.clock = ThreadedClock()
        self.store: SQLiteHistoryStore | None = None
        self.history: History | None = None
        yield
        self._close()

    def make(self, keep: int) -> HistoryStore:
        self.store = SQLiteHistoryStore(self.path, self.clock)
        self.store.open()
        self.history = History(keep, cache=1)
        self.history.use(self.store)
        return self.history

    def reopen(self, keep: int) -> HistoryStore:
        self._close()
        return self.make(keep)

    def _close(self) -> None:
        if self.history is not None:
            self.clock.result(self.history.close())
            self.history = None


class TestRedisHistory(DurableHistoryStoreContract):
    """History of several processes: one Redis stream per room, ids as entry ids."""

    @pytest.fixture(autouse=True)
    def _redis(self, redis: RedisServer) -> Iterator[None]:
        self.redis = redis
        self.history: RedisHistory | None = None
        yield
        self._close()

    def make(self, keep: int) -> HistoryStore:
        self.history = RedisHistory(self.redis.connect(), keep, slack=2)
        return self.history

    def reopen(self, keep: int) -> HistoryStore:
        self._close()
        return self.make(keep)

    def settle(self, deferred: defer.Deferred[T]) -> T:
        return settle(deferred)

    def _close(self) -> None:
        if self.history is not None:
            settle(self.history.close())
            self.history = None
