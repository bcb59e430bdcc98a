"""Room history: bounds, the rooms kept in memory, and the SQLite store behind them.

Ids come from a sequencer, as the domain's Registry takes them; History
only keeps what it is given. The reads are the port's Deferreds, which
this store fires at once (:func:`tests.support.contract.fired`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet import defer

from chat.domain.events import Action, Message, Said
from chat.history import History, RoomHistory
from chat.local import LocalSequencer
from chat.ports import CatchUp
from chat.storage import SQLiteHistoryStore, SQLiteSequencer
from tests.support.contract import fired
from tests.support.history_support import ThreadedClock


def recent(history: History, room: str, count: int) -> list[Said]:
    """What ``history.read_recent`` fired with (it fires at once)."""
    return fired(history.read_recent(room, count))


def since(history: History, room: str, after: int) -> CatchUp:
    """What ``history.read_since`` fired with (it fires at once)."""
    return fired(history.read_since(room, after))


def test_local_ids_count_from_one_or_from_after() -> None:
    """Without --db ids are 1, 2, 3, ... or go on from the id they are told came last."""
    fresh = LocalSequencer()
    assert [fresh.next_id() for _ in range(3)] == [1, 2, 3]
    going_on = LocalSequencer(after=41)
    assert going_on.last_id == 41
    assert going_on.next_id() == 42
    assert going_on.last_id == 42


def test_recent_returns_the_newest_oldest_first() -> None:
    """read_recent(N) is the last N entries in the order they were said."""
    history = History(keep=10)
    for number in range(1, 16):
        history.record("lobby", Message("a", f"{number}", number))
    assert [said.text for said in recent(history, "lobby", 3)] == ["13", "14", "15"]
    assert len(recent(history, "lobby", 100)) == 10


def test_since_reports_a_gap_larger_than_what_is_kept() -> None:
    """Catching up past what is kept says that older messages are gone."""
    history = History(keep=5)
    for number in range(1, 21):
        history.record("lobby", Message("a", f"{number}", number))
    entries, dropped = since(history, "lobby", 3)
    assert [said.id for said in entries] == [16, 17, 18, 19, 20]
    assert dropped
    entries, dropped = since(history, "lobby", 17)
    assert [said.id for said in entries] == [18, 19, 20]
    assert not dropped


class Opened:
    """Histories on stores in one folder, opened as a server opens them; all closed at the end."""

    def __init__(self, folder: Path) -> None:
        self.path = str(folder / "chat.db")
        self.clock = ThreadedClock()
        self._open: list[History] = []
        self._sequencers: dict[History, SQLiteSequencer] = {}

    def history(self, keep: int = 1000, cache: int = 100, **store_options: float) -> History:
        """A history on a newly opened store; its ids come from :meth:`sequencer`."""
        store = SQLiteHistoryStore(self.path, self.clock, **store_options)  # type: ignore[arg-type]
        # Made before the store is opened, as make_service makes it before twistd forks.
        sequencer = SQLiteSequencer(store)
        store.open()
        history = History(keep, cache=cache)
        history.use(store)
        self._open.append(history)
        self._sequencers[history] = sequencer
        return history

    def sequencer(self, history: History) -> SQLiteSequencer:
        """The sequencer on ``history``'s store, giving ids as the server's Registry takes them."""
        return self._sequencers[history]

    def close(self, history: History) -> None:
        """Close ``history`` and wait until its store has written everything and stopped."""
        self._open.remove(history)
        self.clock.result(history.close())

    def close_all(self) -> None:
        for history in list(self._open):
            self.close(history)


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Opened]:
    histories = Opened(tmp_path)
    yield histories
    histories.close_all()


def test_history_survives_a_restart(opened: Opened) -> None:
    """What was written is there again, ids included, after reopening the file."""
    history = opened.history(keep=100)
    ids = opened.sequencer(history)
    for text in ("one", "two"):
        history.record("lobby", Message("alice", text, ids.next_id(), 1000.0))
    history.record("dev", Action("bob", "waves", ids.next_id(), 1001.0))
    opened.clock.advance(1)
    opened.close(history)

    reopened = opened.history(keep=100)
    assert recent(reopened, "lobby", 10) == [
        Message("alice", "one", 1, 1000.0),
        Message("alice", "two", 2, 1000.0),
    ]
    assert recent(reopened, "dev", 10) == [Action("bob", "waves", 3, 1001.0)]
    assert opened.sequencer(reopened).next_id() > 3


def test_closing_writes_what_is_still_pending(opened: Opened) -> None:
    """Entries of the last reactor turn are written on close, not lost."""
    history = opened.history()
    said_id = opened.sequencer(history).next_id()
    history.record("lobby", Message("alice", "last words", said_id, 5.0))
    opened.close(history)
    reopened = opened.history()
    assert [said.text for said in recent(reopened, "lobby", 5)] == ["last words"]


def test_only_the_kept_number_is_read(opened: Opened) -> None:
    """A room read from the database brings at most --history-keep entries."""
    history = opened.history(keep=1000)
    ids = opened.sequencer(history)
    for _ in range(50):
        history.record("lobby", Message("a", "x", ids.next_id(), 0.0))
    opened.close(history)
    reopened = opened.history(keep=10)
    assert [said.id for said in recent(reopened, "lobby", 100)] == list(range(41, 51))


def test_nothing_is_read_at_start_up(opened: Opened) -> None:
    """Opening a history holds no room in memory: rooms are read when asked for."""
    history = opened.history()
    history.record("lobby", Message("a", "x", opened.sequencer(history).next_id(), 0.0))
    opened.close(history)
    assert opened.history().cached == 0


def test_ids_after_a_restart_are_above_every_id_given(opened: Opened) -> None:
    """Ids handed out but never written (the process died) are not handed out again:
    the sequencer on the reopened store goes on above them."""
    history = opened.history()
    ids = opened.sequencer(history)
    given = [ids.next_id() for _ in range(5)]
    opened.close(history)
    reopened = opened.sequencer(opened.history())
    assert reopened.last_id >= max(given)
    assert reopened.next_id() > max(given)


def test_other_rooms_ids_are_not_mistaken_for_a_gap() -> None:
    """Ids are shared by all rooms; catching up in one room reports no loss for them."""
    history = History(keep=3)
    history.record("lobby", Message("a", "seen", 1))
    history.record("dev", Message("a", "elsewhere", 2))
    for number in (3, 4, 5):
        history.record("lobby", Message("a", f"{number}", number))
    entries, dropped = since(history, "lobby", 1)
    assert [said.id for said in entries] == [3, 4, 5]
    assert not dropped


def test_at_most_the_cache_size_of_rooms_stay_in_memory() -> None:
    """With --history-cache 2, a third room pushes the least recently used out."""
    history = History(keep=5, cache=2)
    ids = LocalSequencer()
    for room_key in ("a", "b", "c"):
        history.record(room_key, Message("x", room_key, ids.next_id()))
    assert history.cached == 2
    assert recent(history, "c", 5) == [Message("x", "c", 3)]
    assert recent(history, "b", 5) == [Message("x", "b", 2)]
    assert recent(history, "a", 5) == []


def test_using_a_room_keeps_it_in_memory() -> None:
    """Reading a room makes it the most recently used: the other one goes first."""
    history = History(keep=5, cache=2)
    ids = LocalSequencer()
    history.record("a", Message("x", "a", ids.next_id()))
    history.record("b", Message("x", "b", ids.next_id()))
    recent(history, "a", 1)
    history.record("c", Message("x", "c", ids.next_id()))
    assert recent(history, "a", 5) == [Message("x", "a", 1)]
    assert recent(history, "b", 5) == []


def test_without_a_database_a_forgotten_room_may_have_lost_messages() -> None:
    """Catching up in a room pushed out of memory says older messages are gone."""
    history = History(keep=5, cache=1)
    ids = LocalSequencer()
    history.record("a", Message("x", "a", ids.next_id()))
    history.record("b", Message("x", "b", ids.next_id()))
    assert since(history, "a", 0) == CatchUp([], True)


def test_a_room_pushed_out_of_memory_is_read_back_from_the_database(opened: Opened) -> None:
    """Rooms beyond --history-cache come back from SQLite, even before they were written."""
    history = opened.history(keep=3, cache=1)
    ids = opened.sequencer(history)
    for number in range(1, 5):
        history.record("a", Message("x", f"a{number}", ids.next_id(), 1.0))
    recent(history, "a", 1)
    history.record("b", Message("x", "b", ids.next_id(), 1.0))
    recent(history, "b", 1)
    assert history.cached == 1
    assert [said.text for said in recent(history, "a", 10)] == ["a2", "a3", "a4"]
    opened.clock.advance(1)
    recent(history, "b", 1)
    opened.close(history)
    reopened = opened.history(keep=3, cache=1)
    assert [said.text for said in recent(reopened, "a", 10)] == ["a2", "a3", "a4"]


def test_a_gap_is_exact_for_a_room_read_back(opened: Opened) -> None:
    """A room read from the database knows exactly which of its entries are no longer kept."""
    history = opened.history(keep=3, cache=1)
    sequencer = opened.sequencer(history)
    ids = [sequencer.next_id() for _ in range(6)]
    for said_id in ids:
        history.record("a", Message("x", "a", said_id, 1.0))
    history.record("b", Message("x", "b", sequencer.next_id(), 1.0))
    recent(history, "b", 1)
    assert since(history, "a", ids[1]) == CatchUp(
        [Message("x", "a", i, 1.0) for i in ids[3:]], True
    )
    assert since(history, "a", ids[2]).missed is False
    assert since(history, "b", 0).missed is False


def test_a_gap_is_known_after_a_restart(opened: Opened) -> None:
    """Entries beyond what is read back are known to be missing."""
    history = opened.history(keep=100)
    ids = opened.sequencer(history)
    for _ in range(10):
        history.record("lobby", Message("a", "x", ids.next_id(), 0.0))
    opened.close(history)
    reopened = opened.history(keep=3)
    assert since(reopened, "lobby", 2).missed
    assert not since(reopened, "lobby", 7).missed


class _Unreadable:
    """An archive whose reads fail as a broken disk would make them."""

    def append(self, room: str, said: Said) -> None:
        pass

    def latest(self, room: str, count: int) -> RoomHistory:
        raise OSError("disk gone")

    def close(self) -> defer.Deferred[None]:
        return defer.succeed(None)


def test_a_read_that_raises_fails_its_deferred() -> None:
    """The port's reads report a failure through their Deferred, not by raising at the caller."""
    history = History()
    history.use(_Unreadable())
    with pytest.raises(OSError, match="disk gone"):
        fired(history.read_recent("lobby", 5))
    with pytest.raises(OSError, match="disk gone"):
        fired(history.read_since("lobby", 0))

