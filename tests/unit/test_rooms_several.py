"""The chat domain with members in several rooms, seen as the facts it emits."""

from __future__ import annotations

import pytest

from chat.domain.errors import AlreadyInRoomError, NotInRoomError
from chat.domain.events import (
    ConnectionLost,
    Entered,
    Event,
    Joined,
    Left,
    Message,
    Moved,
    Renamed,
    Sent,
    WentTo,
)
from chat.domain.registry import Registry
from chat.testing import RecordingClient
from tests.support.contract import fired


@pytest.fixture
def registry() -> Registry:
    return Registry()


def said(events: list[tuple[str | None, Event]]) -> list[tuple[str | None, str]]:
    return [(room, event.text) for room, event in events if isinstance(event, Message)]


def test_a_member_in_two_rooms_hears_both_once_each_in_order(registry: Registry) -> None:
    """Messages of two rooms reach a member of both once each, in the order said."""
    both = RecordingClient()
    member = registry.join("both", both)
    registry.join_room(member, "dev")
    lobbyist = registry.join("lobbyist", RecordingClient())
    developer = registry.join("developer", RecordingClient())
    registry.move(developer, "dev")
    registry.flush()
    both.take_events()
    registry.say(lobbyist, "l1")
    registry.say(developer, "d1")
    registry.say(lobbyist, "l2")
    registry.say(developer, "d2")
    registry.flush()
    assert said(both.take_events()) == [
        ("lobby", "l1"), ("dev", "d1"), ("lobby", "l2"), ("dev", "d2"),
    ]


def test_members_of_one_room_still_get_one_batch_per_flush(registry: Registry) -> None:
    """Gathering within a room is kept while a member elsewhere is in two rooms."""
    watcher = RecordingClient()
    writer = registry.join("writer", RecordingClient())
    registry.join("watcher", watcher)
    both = registry.join("both", RecordingClient())
    registry.join_room(both, "dev")
    registry.flush()
    watcher.take_events()
    for number in range(5):
        registry.say(writer, str(number))
    registry.flush()
    assert len(watcher.batches) == 1
    assert said(watcher.take_events()) == [("lobby", str(number)) for number in range(5)]


def test_joining_a_second_room_keeps_the_first(registry: Registry) -> None:
    """join_room adds a room: the member gets Entered, the others there Joined."""
    alice_client, dev_client = RecordingClient(), RecordingClient()
    alice = registry.join("alice", alice_client)
    dev = registry.join("dev", dev_client)
    registry.move(dev, "dev")
    registry.flush()
    alice_client.take_events()
    dev_client.take_events()
    assert fired(registry.join_room(alice, "dev")) == 0
    registry.flush()
    assert [room.name for room in alice.rooms.values()] == ["lobby", "dev"]
    assert alice.room is not None and alice.room.name == "dev"
    assert alice_client.take_events() == [(None, Entered("dev", 1))]
    assert dev_client.take_events() == [("dev", Joined("alice", "dev"))]


def test_joining_a_room_twice_is_refused(registry: Registry) -> None:
    """A member already in a room cannot join it again (only catch up on it)."""
    alice = registry.join("alice", RecordingClient())
    with pytest.raises(AlreadyInRoomError) as refused:
        registry.join_room(alice, "#Lobby")
    assert refused.value == AlreadyInRoomError("lobby")


def test_saying_names_the_room_or_uses_the_current_one(registry: Registry) -> None:
    """say goes to the named room of the member, else to the room it entered last."""
    lobby_client, dev_client = RecordingClient(), RecordingClient()
    alice = registry.join("alice", RecordingClient())
    registry.join_room(alice, "dev")
    registry.join("lobbyist", lobby_client)
    developer = registry.join("developer", dev_client)
    registry.move(developer, "dev")
    registry.flush()
    lobby_client.take_events()
    dev_client.take_events()
    registry.say(alice, "to dev")
    registry.say(alice, "to lobby", "lobby")
    registry.flush()
    assert said(dev_client.take_events()) == [("dev", "to dev")]
    assert said(lobby_client.take_events()) == [("lobby", "to lobby")]


def test_saying_in_a_room_one_is_not_in_is_refused(registry: Registry) -> None:
    """A member speaks only in its own rooms."""
    alice = registry.join("alice", RecordingClient())
    with pytest.raises(NotInRoomError) as refused:
        registry.say(alice, "hello?", "dev")
    assert refused.value == NotInRoomError("dev")


def test_the_sender_gets_its_ids_in_the_room_it_spoke_in(registry: Registry) -> None:
    """Acknowledgements come per room, in the batch of the room spoken in."""
    alice_client = RecordingClient()
    alice = registry.join("alice", alice_client)
    registry.join_room(alice, "dev")
    registry.flush()
    alice_client.take_events()
    registry.say(alice, "hi", "dev")
    registry.flush()
    assert alice_client.take_events() == [("dev", Sent(registry.sequencer.last_id))]


def test_parting_one_room_leaves_the_others(registry: Registry) -> None:
    """part_room tells that room why; the member's current room is the one before."""
    alice = registry.join("alice", RecordingClient())
    registry.join_room(alice, "dev")
    dev_client = RecordingClient()
    developer = registry.join("developer", dev_client)
    registry.move(developer, "dev")
    registry.flush()
    dev_client.take_events()
    registry.part_room(alice, "dev", "bored")
    registry.flush()
    assert dev_client.take_events() == [("dev", Left("alice", "dev", "bored"))]
    assert list(alice.rooms) == ["lobby"]
    assert alice.room is not None and alice.room.name == "lobby"
    with pytest.raises(NotInRoomError):
        registry.part_room(alice, "dev", "again")


def test_leaving_the_chat_is_told_in_each_room(registry: Registry) -> None:
    """A member of two rooms that leaves is announced once in each."""
    alice = registry.join("alice", RecordingClient())
    registry.join_room(alice, "dev")
    lobby_client, dev_client = RecordingClient(), RecordingClient()
    registry.join("lobbyist", lobby_client)
    developer = registry.join("developer", dev_client)
    registry.move(developer, "dev")
    registry.flush()
    lobby_client.take_events()
    dev_client.take_events()
    registry.leave(alice, ConnectionLost())
    registry.flush()
    assert lobby_client.take_events() == [("lobby", Left("alice", "lobby", ConnectionLost()))]
    assert dev_client.take_events() == [("dev", Left("alice", "dev", ConnectionLost()))]
    assert registry.find("alice") is None


def test_a_rename_is_told_in_each_room(registry: Registry) -> None:
    """Every room of a renamed member hears it, and so does the member, once per room."""
    alice_client, dev_client = RecordingClient(), RecordingClient()
    alice = registry.join("alice", alice_client)
    registry.join_room(alice, "dev")
    developer = registry.join("developer", dev_client)
    registry.move(developer, "dev")
    registry.flush()
    alice_client.take_events()
    dev_client.take_events()
    registry.rename(alice, "Alicia")
    registry.flush()
    assert dev_client.take_events() == [("dev", Renamed("alice", "Alicia"))]
    assert alice_client.take_events() == [
        ("lobby", Renamed("alice", "Alicia")), ("dev", Renamed("alice", "Alicia"))
    ]
    assert set(registry.rooms["dev"].members) == {"developer", "alicia"}


def test_moving_leaves_every_room_for_the_new_one(registry: Registry) -> None:
    """move, the line protocol's /join, takes a member of two rooms into one."""
    alice_client, lobby_client = RecordingClient(), RecordingClient()
    alice = registry.join("alice", alice_client)
    registry.join_room(alice, "dev")
    registry.join("lobbyist", lobby_client)
    registry.flush()
    alice_client.take_events()
    lobby_client.take_events()
    registry.move(alice, "ops")
    registry.flush()
    assert lobby_client.take_events() == [("lobby", Left("alice", "lobby", WentTo("ops")))]
    assert alice_client.take_events() == [(None, Moved("ops", 0))]
    assert list(alice.rooms) == ["ops"]
    assert "dev" not in registry.rooms


def test_moving_to_one_of_ones_rooms_keeps_only_that_one(registry: Registry) -> None:
    """Moving to a room the member is already in leaves the others, and counts it out."""
    alice_client, dev_client = RecordingClient(), RecordingClient()
    alice = registry.join("alice", alice_client)
    developer = registry.join("developer", dev_client)
    registry.move(developer, "dev")
    registry.join_room(alice, "dev")
    registry.flush()
    alice_client.take_events()
    dev_client.take_events()
    registry.move(alice, "dev")
    registry.flush()
    assert alice_client.take_events() == [(None, Moved("dev", 1))]
    assert dev_client.take_events() == []
    assert list(alice.rooms) == ["dev"]
    assert registry.rooms["lobby"].shared == 0 and registry.rooms["dev"].shared == 0
