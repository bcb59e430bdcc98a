"""What the chat core gives every front end and IRC needs: members in no room, notices,
away news, moderation in a named room, and how line users are shown the IRC-only events."""

from __future__ import annotations

from chat.domain.events import Arrived, AwayChanged, PrivateNotice
from chat.testing import Chat, RecordingClient


def test_a_member_may_join_in_no_room() -> None:
    chat = Chat()
    client = RecordingClient()
    member = chat.registry.join("alice", client, None)
    assert member.rooms == {} and member.room is None
    assert client.take_events() == [(None, Arrived("alice", 1))]


def test_a_room_notice_reaches_the_others_as_a_notice_and_is_not_kept() -> None:
    chat = Chat()
    alice, bob = RecordingClient(), RecordingClient()
    sender = chat.registry.join("alice", alice)
    chat.registry.join("bob", bob)
    chat.registry.flush()
    alice.take(), bob.take()
    chat.registry.notice(sender, "heads up")
    chat.registry.flush()
    assert bob.take() == ["-alice- heads up"]
    assert alice.take() == []
    late = RecordingClient()
    chat.registry.join("carol", late)
    chat.registry.flush()
    assert not any("heads up" in line for line in late.take())


def test_a_private_notice_has_no_confirmation_nor_away_reply() -> None:
    chat = Chat()
    alice, bob = RecordingClient(), RecordingClient()
    sender = chat.registry.join("alice", alice)
    away = chat.registry.join("bob", bob)
    away.away = "lunch"
    chat.registry.flush()
    alice.take(), bob.take()
    chat.registry.notify(sender, "BOB", "psst")
    assert bob.take_events() == [(None, PrivateNotice("alice", "psst"))]
    assert bob.batches == [] and alice.take() == []


def test_going_away_and_back_is_told_in_the_rooms_once() -> None:
    """AwayChanged reaches the others (line users are shown nothing of it)."""
    chat = Chat()
    alice, bob = RecordingClient(), RecordingClient()
    member = chat.registry.join("alice", alice)
    chat.registry.join("bob", bob)
    chat.registry.flush()
    bob.take()
    chat.registry.set_away(member, "lunch")
    chat.registry.set_away(member, "lunch")
    chat.registry.set_away(member, None)
    chat.registry.flush()
    assert [event for _, event in bob.take_events()] == [
        AwayChanged("alice", "lunch"), AwayChanged("alice", None),
    ]
    assert bob.lines == []


def test_a_room_notice_renders_for_line_users() -> None:
    chat = Chat(flood_rate=0)
    bob = chat.connect("bob")
    alice = RecordingClient()
    sender = chat.registry.join("alice", alice)
    bob.received()
    chat.registry.notice(sender, "hello")
    chat.registry.notify(sender, "bob", "psst")
    assert bob.received() == ["-alice- hello", "-*alice*- psst"]
