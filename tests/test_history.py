"""Room history: numbering, bounds, and the SQLite store surviving a restart."""

from __future__ import annotations

from pathlib import Path

from twisted.internet.task import Clock

from chat.events import Action, Message
from chat.history import History
from chat.storage import SQLiteHistoryStore


def test_ids_only_grow() -> None:
    """Every message gets a higher id than the one before."""
    history = History()
    assert [history.next_id() for _ in range(3)] == [1, 2, 3]


def test_recent_returns_the_newest_oldest_first() -> None:
    """recent(N) is the last N entries in the order they were said."""
    history = History(keep=10)
    for number in range(1, 16):
        history.record("lobby", Message("a", f"{number}", number))
    assert [said.text for said in history.recent("lobby", 3)] == ["13", "14", "15"]
    assert len(history.recent("lobby", 100)) == 10


def test_since_reports_a_gap_larger_than_what_is_kept() -> None:
    """Catching up past what is kept says that older messages are gone."""
    history = History(keep=5)
    for number in range(1, 21):
        history.record("lobby", Message("a", f"{number}", number))
    entries, dropped = history.since("lobby", 3)
    assert [said.id for said in entries] == [16, 17, 18, 19, 20]
    assert dropped
    entries, dropped = history.since("lobby", 17)
    assert [said.id for said in entries] == [18, 19, 20]
    assert not dropped


def test_history_survives_a_restart(tmp_path: Path) -> None:
    """What was written is there again, ids included, after reopening the file."""
    path = str(tmp_path / "chat.db")
    clock = Clock()
    history = History(keep=100, store=SQLiteHistoryStore(path, clock))
    for text in ("one", "two"):
        history.record("lobby", Message("alice", text, history.next_id(), 1000.0))
    history.record("dev", Action("bob", "waves", history.next_id(), 1001.0))
    clock.advance(1)
    history.close()

    reopened = History(keep=100, store=SQLiteHistoryStore(path, Clock()))
    assert reopened.recent("lobby", 10) == [
        Message("alice", "one", 1, 1000.0),
        Message("alice", "two", 2, 1000.0),
    ]
    assert reopened.recent("dev", 10) == [Action("bob", "waves", 3, 1001.0)]
    assert reopened.next_id() == 4
    reopened.close()


def test_closing_writes_what_is_still_pending(tmp_path: Path) -> None:
    """Entries of the last reactor turn are written on close, not lost."""
    path = str(tmp_path / "chat.db")
    history = History(store=SQLiteHistoryStore(path, Clock()))
    history.record("lobby", Message("alice", "last words", history.next_id(), 5.0))
    history.close()
    reopened = History(store=SQLiteHistoryStore(path, Clock()))
    assert [said.text for said in reopened.recent("lobby", 5)] == ["last words"]
    reopened.close()


def test_only_the_kept_number_is_loaded(tmp_path: Path) -> None:
    """At start-up each room loads at most --history-keep entries."""
    path = str(tmp_path / "chat.db")
    history = History(keep=1000, store=SQLiteHistoryStore(path, Clock()))
    for _ in range(50):
        history.record("lobby", Message("a", "x", history.next_id(), 0.0))
    history.close()
    reopened = History(keep=10, store=SQLiteHistoryStore(path, Clock()))
    assert [said.id for said in reopened.recent("lobby", 100)] == list(range(41, 51))
    reopened.close()


def test_other_rooms_ids_are_not_mistaken_for_a_gap() -> None:
    """Ids are shared by all rooms; catching up in one room reports no loss for them."""
    history = History(keep=3)
    history.record("lobby", Message("a", "seen", 1))
    history.record("dev", Message("a", "elsewhere", 2))
    for number in (3, 4, 5):
        history.record("lobby", Message("a", f"{number}", number))
    entries, dropped = history.since("lobby", 1)
    assert [said.id for said in entries] == [3, 4, 5]
    assert not dropped


def test_a_gap_is_known_after_a_restart(tmp_path: Path) -> None:
    """Entries beyond what is loaded at start-up are known to be missing."""
    path = str(tmp_path / "chat.db")
    history = History(keep=100, store=SQLiteHistoryStore(path, Clock()))
    for _ in range(10):
        history.record("lobby", Message("a", "x", history.next_id(), 0.0))
    history.close()
    reopened = History(keep=3, store=SQLiteHistoryStore(path, Clock()))
    assert reopened.since("lobby", 2)[1]
    assert not reopened.since("lobby", 7)[1]
    reopened.close()
