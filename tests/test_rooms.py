"""The chat domain: membership, fan-out and ordering, without sockets."""

from __future__ import annotations

import pytest

from chat.rooms import ChatError, Registry
from tests.fakes import RecordingClient


@pytest.fixture
def registry() -> Registry:
    return Registry()


def test_others_hear_a_message_but_not_its_sender(registry: Registry) -> None:
    """A message goes to every other member and is not echoed."""
    alice, bob, carol = RecordingClient(), RecordingClient(), RecordingClient()
    member = registry.join("alice", alice)
    registry.join("bob", bob)
    registry.join("carol", carol)
    registry.flush()
    for client in (alice, bob, carol):
        client.take()
    registry.say(member, "hi")
    registry.flush()
    assert alice.take() == []
    assert bob.take() == ["<alice> hi"]
    assert carol.take() == ["<alice> hi"]


def test_join_is_announced_to_the_others(registry: Registry) -> None:
    """Members already present see a join notice; the newcomer does not."""
    alice, bob = RecordingClient(), RecordingClient()
    registry.join("alice", alice)
    registry.join("bob", bob)
    registry.flush()
    assert alice.take() == ["*** bob has joined"]
    assert bob.take() == []


def test_nicknames_are_unique_ignoring_case(registry: Registry) -> None:
    """A second Alice cannot join while alice is here."""
    registry.join("alice", RecordingClient())
    with pytest.raises(ChatError, match="taken"):
        registry.join("ALICE", RecordingClient())


def test_events_keep_one_order_for_everyone(registry: Registry) -> None:
    """Interleaved senders are seen in the same order by every receiver."""
    clients = [RecordingClient() for _ in range(4)]
    members = [registry.join(f"user{i}", client) for i, client in enumerate(clients)]
    registry.flush()
    for client in clients:
        client.take()
    for round_ in range(3):
        for member in members[:2]:
            registry.say(member, f"{round_}")
    registry.flush()
    expected = [f"<user{i}> {r}" for r in range(3) for i in range(2)]
    assert clients[2].take() == expected
    assert clients[3].take() == expected


def test_leaving_frees_the_nickname_and_tells_the_room(registry: Registry) -> None:
    """After a leave the room is told why and the nickname can be taken again."""
    watcher = RecordingClient()
    registry.join("watcher", watcher)
    alice = registry.join("alice", RecordingClient())
    registry.flush()
    watcher.take()
    registry.leave(alice, "connection lost")
    registry.flush()
    assert watcher.take() == ["*** alice has left (connection lost)"]
    registry.join("alice", RecordingClient())
    assert len(registry) == 2


def test_leaving_twice_is_harmless(registry: Registry) -> None:
    """A second leave of the same member changes nothing."""
    alice = registry.join("alice", RecordingClient())
    registry.leave(alice, "quit")
    registry.leave(alice, "connection lost")
    assert len(registry) == 0


def test_rename_is_announced_to_everyone_in_the_room(registry: Registry) -> None:
    """Everyone, the renamed member included, sees the change."""
    alice_client, bob_client = RecordingClient(), RecordingClient()
    alice = registry.join("alice", alice_client)
    registry.join("bob", bob_client)
    registry.flush()
    alice_client.take()
    registry.rename(alice, "Alicia")
    registry.flush()
    assert alice_client.take() == ["*** alice is now known as Alicia"]
    assert bob_client.take() == ["*** alice is now known as Alicia"]
    assert registry.find("alicia") is alice


def test_rename_to_a_different_case_of_oneself(registry: Registry) -> None:
    """Changing only the case of your own nickname is allowed."""
    alice = registry.join("alice", RecordingClient())
    registry.rename(alice, "Alice")
    assert alice.nick == "Alice"


def test_rename_to_a_taken_nickname_fails(registry: Registry) -> None:
    """A nickname in use by someone else is refused."""
    alice = registry.join("alice", RecordingClient())
    registry.join("bob", RecordingClient())
    with pytest.raises(ChatError, match="taken"):
        registry.rename(alice, "Bob")
    assert alice.nick == "alice"


def test_private_message_reaches_only_its_addressee(registry: Registry) -> None:
    """A /msg goes to one member, and its sender gets a confirmation."""
    alice_client, bob_client, carol_client = RecordingClient(), RecordingClient(), RecordingClient()
    alice = registry.join("alice", alice_client)
    registry.join("bob", bob_client)
    registry.join("carol", carol_client)
    registry.flush()
    for client in (alice_client, bob_client, carol_client):
        client.take()
    registry.whisper(alice, "BOB", "psst")
    assert bob_client.take() == ["*alice* psst"]
    assert alice_client.take() == ["-> *bob* psst"]
    assert carol_client.take() == []


def test_private_message_to_nobody_fails(registry: Registry) -> None:
    """A /msg to an unknown nickname is an error."""
    alice = registry.join("alice", RecordingClient())
    with pytest.raises(ChatError, match="no user"):
        registry.whisper(alice, "ghost", "hello?")


def test_a_message_sent_before_a_private_one_arrives_first(registry: Registry) -> None:
    """Pending room messages are delivered before anything that follows them."""
    alice = registry.join("alice", RecordingClient())
    bob_client = RecordingClient()
    registry.join("bob", bob_client)
    registry.flush()
    registry.say(alice, "public")
    registry.whisper(alice, "bob", "private")
    assert bob_client.take() == ["<alice> public", "*alice* private"]
