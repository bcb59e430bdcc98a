"""The registry on its ports: a history store that answers later, a bus shared by two
processes of one chat, ids from the sequencer it is given."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from chat.config import ServerConfig
from chat.domain.events import Message, Said, Sent
from chat.domain.registry import Member, Registry
from chat.history import History
from chat.line.protocol import LineFactory
from chat.local import LocalBus, LocalSequencer
from chat.ports.history import CatchUp
from chat.session.server import ChatServer
from chat.testing import RecordingClient, TypedConnection
from tests.support.contract import fired


class LaterHistory:
    """A :class:`History` whose reads answer only when the test says so.

    A read is taken from the history when it is asked for, unless ``as_of_answer``:
    then when it is answered, as a store that runs its reads elsewhere would.
    """

    def __init__(self, *, as_of_answer: bool = False) -> None:
        self.history = History()
        self.as_of_answer = as_of_answer
        self.reads: list[tuple[defer.Deferred[Any], defer.Deferred[Any] | None, Any]] = []

    @property
    def keep(self) -> int:
        return self.history.keep

    def record(self, room: str, said: Said) -> None:
        self.history.record(room, said)

    def read_recent(self, room: str, count: int) -> defer.Deferred[list[Said]]:
        return self._later(self.history.read_recent, room, count)

    def recent_now(self, room: str, count: int) -> list[Said] | None:
        return None

    def read_since(self, room: str, after: int) -> defer.Deferred[CatchUp]:
        return self._later(self.history.read_since, room, after)

    def close(self) -> defer.Deferred[None]:
        return self.history.close()

    def _later(self, read: Any, *args: Any) -> defer.Deferred[Any]:
        answer: defer.Deferred[Any] = defer.Deferred()
        now = None if self.as_of_answer else read(*args)
        self.reads.append((answer, now, (read, args)))
        return answer

    def answer(self) -> None:
        """Answer the oldest read not answered yet."""
        answer, now, (read, args) = self.reads.pop(0)
        (read(*args) if now is None else now).chainDeferred(answer)

    def fail(self) -> None:
        """Fail the oldest read not answered yet, as a store that cannot be reached."""
        answer, _, _ = self.reads.pop(0)
        answer.errback(ConnectionRefusedError("the store is not answering"))


def live(lines: list[str]) -> list[str]:
    """The lines that are live messages (not history, not notices)."""
    return [line for line in lines if line.startswith("<")]


def settled(registry: Registry, *clients: RecordingClient) -> None:
    """Deliver what is gathered and forget what the clients were shown so far."""
    registry.flush()
    for client in clients:
        client.take()


@pytest.fixture
def store() -> LaterHistory:
    return LaterHistory()


@pytest.fixture
def registry(store: LaterHistory) -> Registry:
    return Registry(store)


def joined(registry: Registry, store: LaterHistory, nick: str, client: RecordingClient) -> Member:
    """A member whose history has been read already."""
    member = registry.join(nick, client)
    store.answer()
    return member


# A history store that answers later


def test_history_read_later_comes_before_what_is_said_after_joining(
    registry: Registry, store: LaterHistory
) -> None:
    """A newcomer sees the room's history, then what was said while it was being read."""
    bob_client, carol = RecordingClient(), RecordingClient()
    bob = joined(registry, store, "bob", bob_client)
    registry.say(bob, "before")
    registry.join("carol", carol)
    registry.say(bob, "after")
    settled(registry)
    store.answer()
    lines = carol.take()
    history = lines.index("*** history of lobby, last message:")
    assert lines[history + 1].endswith("<bob> before")
    assert lines[history + 2:] == ["*** end of history", "<bob> after"]


def test_nothing_said_in_the_room_reaches_a_newcomer_before_its_history(
    registry: Registry, store: LaterHistory
) -> None:
    """While its history is unread, a newcomer is shown no live message of the room."""
    bob_client, carol = RecordingClient(), RecordingClient()
    bob = joined(registry, store, "bob", bob_client)
    registry.join("carol", carol)
    registry.say(bob, "after")
    registry.flush()
    assert live(carol.take()) == []


def test_what_is_said_while_history_is_read_is_not_lost(
    registry: Registry, store: LaterHistory
) -> None:
    """Every message said while a newcomer's history is read reaches it, in order."""
    bob_client, dave_client, carol = RecordingClient(), RecordingClient(), RecordingClient()
    bob = joined(registry, store, "bob", bob_client)
    dave = joined(registry, store, "dave", dave_client)
    registry.join("carol", carol)
    for number in range(3):
        registry.say(bob, f"bob {number}")
        registry.flush()
        registry.say(dave, f"dave {number}")
    registry.flush()
    store.answer()
    assert live(carol.take()) == [
        "<bob> bob 0", "<dave> dave 0", "<bob> bob 1", "<dave> dave 1", "<bob> bob 2",
        "<dave> dave 2",
    ]


def test_the_others_hear_each_other_while_a_newcomers_history_is_read(
    registry: Registry, store: LaterHistory
) -> None:
    """A newcomer's unread history holds back no one else's messages."""
    bob_client, dave_client = RecordingClient(), RecordingClient()
    bob = joined(registry, store, "bob", bob_client)
    joined(registry, store, "dave", dave_client)
    registry.join("carol", RecordingClient())
    settled(registry, dave_client)
    registry.say(bob, "hi dave")
    registry.flush()
    assert dave_client.take() == ["<bob> hi dave"]


def test_show_history_fires_with_the_count_once_the_read_answers(
    registry: Registry, store: LaterHistory
) -> None:
    """/history's Deferred waits for the store, then fires with how many entries were shown."""
    bob = joined(registry, store, "bob", RecordingClient())
    registry.say(bob, "one")
    registry.say(bob, "two")
    shown = registry.show_history(bob, 10)
    assert not shown.called
    store.answer()
    assert fired(shown) == 2


def test_move_fires_with_the_count_once_the_read_answers(
    registry: Registry, store: LaterHistory
) -> None:
    """Moving waits for the new room's history, then fires with how many entries were shown."""
    bob = joined(registry, store, "bob", RecordingClient())
    carol = joined(registry, store, "carol", RecordingClient())
    registry.move(carol, "dev")
    store.answer()
    registry.say(carol, "in dev")
    moved = registry.move(bob, "dev")
    assert not moved.called
    store.answer()
    assert fired(moved) == 1


def test_a_failed_history_read_lets_later_messages_through(
    registry: Registry, store: LaterHistory
) -> None:
    """When the store cannot be read, what is said afterwards still reaches the member."""
    carol_client = RecordingClient()
    bob = joined(registry, store, "bob", RecordingClient())
    registry.move(bob, "dev")
    store.answer()
    carol = joined(registry, store, "carol", carol_client)
    moved = registry.move(carol, "dev")
    registry.say(bob, "still here")
    registry.flush()
    store.fail()
    assert live(carol_client.take()) == ["<bob> still here"]
    with pytest.raises(ConnectionRefusedError):
        fired(moved)


def test_a_message_is_not_shown_twice_when_the_store_reads_after_it_was_said() -> None:
    """A message said while the history is read is shown once, however late the store reads."""
    store = LaterHistory(as_of_answer=True)
    registry = Registry(store)
    carol = RecordingClient()
    bob = joined(registry, store, "bob", RecordingClient())
    registry.join("carol", carol)
    registry.say(bob, "after")
    registry.flush()
    store.answer()
    assert [line for line in carol.take() if line.endswith("<bob> after")] == ["<bob> after"]


# Two processes of one chat on one bus


@pytest.fixture
def bus() -> LocalBus[Any]:
    return LocalBus()


@pytest.fixture
def one(bus: LocalBus[Any]) -> Registry:
    return Registry(bus=bus, sequencer=LocalSequencer())


@pytest.fixture
def two(bus: LocalBus[Any]) -> Registry:
    return Registry(bus=bus, sequencer=LocalSequencer(after=1000))


def test_a_message_reaches_the_same_room_in_the_other_process(
    one: Registry, two: Registry
) -> None:
    """What a member says in one process is heard by the room's members in the other."""
    alice = one.join("alice", RecordingClient())
    bob = RecordingClient()
    two.join("bob", bob)
    settled(two, bob)
    one.say(alice, "hello from one")
    one.flush()
    two.flush()
    assert bob.take() == ["<alice> hello from one"]


def test_a_message_does_not_reach_another_room_in_the_other_process(
    one: Registry, two: Registry
) -> None:
    """Members of other rooms in the other process do not hear the message."""
    alice = one.join("alice", RecordingClient())
    carol = RecordingClient()
    two.move(two.join("carol", carol), "dev")
    settled(two, carol)
    one.say(alice, "lobby only")
    one.flush()
    two.flush()
    assert carol.take() == []


def test_the_sender_gets_only_its_ack_in_its_own_process(one: Registry, two: Registry) -> None:
    """The member who spoke is told its message's id, not the message, with a second process on."""
    alice = RecordingClient()
    member = one.join("alice", alice)
    two.join("bob", RecordingClient())
    settled(one, alice)
    one.say(member, "hello")
    one.flush()
    two.flush()
    assert alice.take_events() == [("lobby", Sent(1))]


def test_a_member_with_the_same_id_in_the_other_process_still_hears_the_message(
    one: Registry, two: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes count their members from m1 each; that must not hide a message."""
    monkeypatch.setattr("chat.domain.registry._member_ids", itertools.count(1))
    alice = one.join("alice", RecordingClient())
    monkeypatch.setattr("chat.domain.registry._member_ids", itertools.count(1))
    bob = RecordingClient()
    two.join("bob", bob)
    settled(two, bob)
    one.say(alice, "hello")
    one.flush()
    two.flush()
    assert bob.take() == ["<alice> hello"]


# Ids from the sequencer


def test_the_first_message_id_comes_after_the_sequencers_last() -> None:
    """With LocalSequencer(after=41) the first message said is number 42, for all to see."""
    registry = Registry(sequencer=LocalSequencer(after=41))
    alice, bob = RecordingClient(), RecordingClient()
    speaker = registry.join("alice", alice)
    registry.join("bob", bob)
    settled(registry, alice, bob)
    registry.say(speaker, "hello")
    registry.flush()
    assert alice.take_events() == [("lobby", Sent(42))]
    [(_, message)] = bob.take_events()
    assert isinstance(message, Message) and message.id == 42


def test_ids_shown_on_a_line_connection_come_from_the_sequencer() -> None:
    """With /ids, the first message of a chat numbered after 41 is shown as @id=42."""
    clock = Clock()
    registry = Registry(clock=clock, sequencer=LocalSequencer(after=41))
    factory = LineFactory(ChatServer(registry, ServerConfig(flood_rate=0), clock))
    alice = TypedConnection(factory, clock, 40001)
    bob = TypedConnection(factory, clock, 40002)
    alice.type("alice", "/ids")
    bob.type("bob")
    alice.received()
    bob.type("hello")
    assert alice.received() == ["@id=42 <bob> hello"]
