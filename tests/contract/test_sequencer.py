"""Contract of the Sequencer port (:mod:`chat.ports.sequencer`), run on every implementation.

An implementation passes :class:`SequencerContract` (and, if its ids
outlive the process, :class:`DurableSequencerContract`) by a subclass
that says how to make one (``TestRedisSequencer``: on a real redis-server).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from chat.local import LocalSequencer
from chat.ports import Sequencer
from chat.redis.sequencer import RedisSequencer
from chat.storage import SQLiteHistoryStore, SQLiteSequencer
from tests.support.history_support import ThreadedClock
from tests.support.redis_server import RedisServer, redis, redis_server

__all__ = ["redis", "redis_server"]  # the fixtures, for pytest to find


class SequencerContract:
    """What every sequencer does."""

    def make(self) -> Sequencer:
        """A sequencer, new or on storage of this test."""
        raise NotImplementedError

    def test_ids_are_positive_and_strictly_increase(self) -> None:
        """Each id is above the one before it, the first above 0."""
        sequencer = self.make()
        ids = [sequencer.next_id() for _ in range(25_000)]
        assert ids[0] > 0
        assert all(earlier < later for earlier, later in pairwise(ids))

    def test_last_id_is_the_id_just_handed_out(self) -> None:
        """last_id is below the first id, then follows every id handed out."""
        sequencer = self.make()
        before = sequencer.last_id
        for _ in range(3):
            said_id = sequencer.next_id()
            assert said_id > before
            assert sequencer.last_id == said_id
            before = said_id


class DurableSequencerContract(SequencerContract):
    """What a sequencer whose ids outlive the process does too."""

    def reopen(self) -> Sequencer:
        """Stop the sequencer made last, as a server stops, and start one on the same storage."""
        raise NotImplementedError

    def test_ids_after_a_reopen_are_above_every_id_handed_out(self) -> None:
        """Ids handed out and never used in a message are not handed out again either."""
        sequencer = self.make()
        given = [sequencer.next_id() for _ in range(5)]
        reopened = self.reopen()
        assert reopened.last_id >= max(given)
        assert reopened.next_id() > max(given)

    def test_ids_keep_increasing_over_many_reopens(self) -> None:
        """Every start goes on above the ids of all starts before it."""
        sequencer = self.make()
        highest = 0
        for _ in range(4):
            ids = [sequencer.next_id() for _ in range(3)]
            assert min(ids) > highest
            highest = max(ids)
            sequencer = self.reopen()


class TestLocalSequencer(SequencerContract):
    """The in-memory sequencer of a server without --db."""

    def make(self) -> Sequencer:
        return LocalSequencer()


class TestSQLiteSequencer(DurableSequencerContract):
    """The sequencer of a server with --db: ids reserved in <db>.lock."""

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> Iterator[None]:
        self.path = str(tmp_path / "chat.db")
        self.clock = ThreadedClock()
        self.store: SQLiteHistoryStore | None = None
        yield
        self._close()

    def make(self) -> Sequencer:
        self.store = SQLiteHistoryStore(self.path, self.clock)
        self.store.open()
        return SQLiteSequencer(self.store)

    def reopen(self) -> Sequencer:
        self._close()
        return self.make()

    def _close(self) -> None:
        if self.store is not None:
            self.clock.result(self.store.close())
            self.store = None


class TestRedisSequencer(DurableSequencerContract):
    """The sequencer of several processes: blocks of ids reserved from one Redis counter."""

    @pytest.fixture(autouse=True)
    def _redis(self, redis: RedisServer) -> None:
        self.redis = redis

    def make(self) -> Sequencer:
        return RedisSequencer(self.redis.address, block=100)

    def reopen(self) -> Sequencer:
        return self.make()
