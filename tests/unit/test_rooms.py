"""The chat domain: membership, fan-out and ordering, without sockets."""

from __future__ import annotations

import pytest

from chat.domain.errors import InvalidRoomError, NicknameTakenError, NoSuchUserError
from chat.domain.registry import Registry
from chat.testing import RecordingClient
from tests.support.contract import fired


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
    alice.take()
    registry.join("bob", bob)
    registry.flush()
    assert alice.take() == ["*** bob has joined"]
    assert bob.take() == [
        "*** Welcome, bob! You are in lobby with 1 other; 2 online. Type /help for the commands."
    ]


def test_nicknames_are_unique_ignoring_case(registry: Registry) -> None:
    """A second Alice cannot join while alice is here."""
    registry.join("alice", RecordingClient())
    with pytest.raises(NicknameTakenError) as refused:
        registry.join("ALICE", RecordingClient())
    assert refused.value == NicknameTakenError("ALICE")


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
    bob_client.take()
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
    with pytest.raises(NicknameTakenError):
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
    with pytest.raises(NoSuchUserError):
        registry.whisper(alice, "ghost", "hello?")


def test_a_message_sent_before_a_private_one_arrives_first(registry: Registry) -> None:
    """Pending room messages are delivered before anything that follows them."""
    alice = registry.join("alice", RecordingClient())
    bob_client = RecordingClient()
    registry.join("bob", bob_client)
    registry.flush()
    bob_client.take()
    registry.say(alice, "public")
    registry.whisper(alice, "bob", "private")
    assert bob_client.take() == ["<alice> public", "*alice* private"]


def test_rooms_keep_conversations_apart(registry: Registry) -> None:
    """A message in one room is not heard in another."""
    alice_client, bob_client, carol_client = RecordingClient(), RecordingClient(), RecordingClient()
    alice = registry.join("alice", alice_client)
    bob = registry.join("bob", bob_client)
    registry.join("carol", carol_client)
    registry.move(alice, "dev")
    registry.move(bob, "#Dev")
    registry.flush()
    for client in (alice_client, bob_client, carol_client):
        client.take()
    registry.say(alice, "in dev")
    registry.flush()
    assert bob_client.take() == ["<alice> in dev"]
    assert carol_client.take() == []


def test_moving_tells_both_rooms(registry: Registry) -> None:
    """The old room hears where you went; the new one that you joined."""
    watcher_lobby, watcher_dev = RecordingClient(), RecordingClient()
    registry.join("lobbyist", watcher_lobby)
    dev = registry.join("developer", watcher_dev)
    registry.move(dev, "dev")
    alice = registry.join("alice", RecordingClient())
    registry.flush()
    alice.client.take()  # type: ignore[attr-defined]
    watcher_lobby.take()
    watcher_dev.take()
    registry.move(alice, "dev")
    registry.flush()
    assert watcher_lobby.take() == ["*** alice has left (went to dev)"]
    assert alice.client.take() == ["*** you are now in dev with 1 other"]  # type: ignore[attr-defined]
    assert watcher_dev.take() == ["*** alice has joined"]


def test_invalid_room_name_is_refused(registry: Registry) -> None:
    """Room names have rules, and breaking them is explained."""
    alice = registry.join("alice", RecordingClient())
    with pytest.raises(InvalidRoomError) as refused:
        registry.move(alice, "no spaces")
    assert refused.value == InvalidRoomError("no spaces")


def test_room_list_counts_members(registry: Registry) -> None:
    """/rooms shows each room with its member count, the lobby first."""
    alice = registry.join("alice", RecordingClient())
    registry.join("bob", RecordingClient())
    registry.move(alice, "zoo")
    assert registry.room_list() == [("lobby", 1), ("zoo", 1)]


def test_empty_rooms_disappear(registry: Registry) -> None:
    """A room nobody is in any more is no longer listed; the lobby stays."""
    alice = registry.join("alice", RecordingClient())
    registry.move(alice, "brief")
    registry.move(alice, "lobby")
    assert registry.room_list() == [("lobby", 1)]


def test_joining_a_room_shows_its_history(registry: Registry) -> None:
    """A newcomer first sees the room's last messages, marked as history."""
    alice = registry.join("alice", RecordingClient())
    for number in range(3):
        registry.say(alice, f"message {number}")
    newcomer = RecordingClient()
    registry.join("bob", newcomer)
    lines = newcomer.take()
    assert lines[1] == "*** history of lobby, last 3 messages:"
    assert [line.split("] ", 1)[1] for line in lines[2:5]] == [
        f"<alice> message {number}" for number in range(3)
    ]
    assert all(line.startswith("[") for line in lines[2:5])
    assert lines[5] == "*** end of history"


def test_history_on_join_is_bounded(registry: Registry) -> None:
    """Only the configured number of past messages is replayed on join."""
    registry.replay = 5
    alice = registry.join("alice", RecordingClient())
    for number in range(30):
        registry.say(alice, f"{number}")
    newcomer = RecordingClient()
    registry.join("bob", newcomer)
    assert len([line for line in newcomer.take() if line.startswith("[")]) == 5


def test_resume_replays_exactly_what_was_missed(registry: Registry) -> None:
    """Rejoining after message N shows every later message once, in order."""
    alice = registry.join("alice", RecordingClient())
    registry.say(alice, "seen")
    last_seen = registry.sequencer.last_id
    for number in range(3):
        registry.say(alice, f"missed {number}")
    returning = RecordingClient()
    registry.join("bob", returning, "lobby", after=last_seen)
    replayed = [line.split("] ", 1)[1] for line in returning.take() if line.startswith("[")]
    assert replayed == [f"<alice> missed {number}" for number in range(3)]


def test_crowded_room_gathers_join_notices() -> None:
    """In a crowded room many joins become one notice, not one each."""
    from twisted.internet.task import Clock

    clock = Clock()
    registry = Registry(clock=clock, crowd=3, crowd_delay=1.0)
    watcher = RecordingClient()
    registry.join("watcher", watcher)
    for number in range(10):
        registry.join(f"user{number}", RecordingClient())
    registry.flush()
    early = [line for line in watcher.take() if "joined" in line]
    clock.advance(1.0)
    late = watcher.take()
    assert early == ["*** user0 has joined", "*** user1 has joined"]
    assert late == ["*** 8 users joined: user2, user3, user4, user5, user6 and 3 more"]


def test_history_shown_is_counted_for_the_pacing_of_its_asker(registry: Registry) -> None:
    """show_history and move say how many history entries they sent, so a front end can
    charge for them."""
    writer = registry.join("writer", RecordingClient())
    for number in range(30):
        registry.say(writer, f"message {number}")
    reader = registry.join("reader", RecordingClient())
    assert fired(registry.show_history(reader, 25)) == 25
    assert fired(registry.move(reader, "dev")) == 0
    assert fired(registry.move(reader, "lobby", after=0)) == 30
    assert fired(registry.move(reader, "lobby", after=28)) == 2
