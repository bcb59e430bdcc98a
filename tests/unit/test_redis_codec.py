"""The event codec of the Redis ports: every domain event comes back equal from its text."""

from __future__ import annotations

from typing import Any

import pytest

from chat.domain import events as e
from chat.redis.codec import KINDS, CodecError, decode, encode

SAMPLES: list[Any] = [
    e.Message("alice", "hi ✓", 7, 1000.5),
    e.Action("bob", "waves", 8, 1001.0),
    e.Past(e.Action("bob", "waves", 8, 1001.0)),
    e.Sent(9),
    e.Private("alice", "psst"),
    e.PrivateSent("bob", "psst"),
    e.Welcome("alice", "lobby", 2, 3),
    e.Arrived("alice", 3),
    e.Noticed("alice", "note", 5.0),
    e.PrivateNotice("alice", "note"),
    e.AwayChanged("alice", None),
    e.Joined("bob", "lobby"),
    e.Quit("bye"),
    e.ConnectionLost(),
    e.WentTo("dev"),
    e.SendQueueExceeded(65536),
    e.Reconnected(),
    e.Kick("op", "spam", banned=True, server=False),
    e.Left("bob", "lobby", e.Kick("op")),
    e.Left("bob", "lobby", "ping timeout"),
    e.Renamed("bob", "robert"),
    e.Moved("dev", 4),
    e.Entered("dev", 4),
    e.CrowdJoined("lobby", ("a", "b")),
    e.Departure("a", e.Quit()),
    e.CrowdLeft("lobby", (e.Departure("a", e.Quit()), e.Departure("b", "gone"))),
    e.HistoryMissed("lobby"),
    e.MessagesMissed("lobby"),
    e.HistoryStart("lobby", 2),
    e.HistoryEnd("lobby"),
    e.NoHistory("lobby"),
    e.Removed(None, "op", "spam", True, 2000.0),
    e.Silenced("lobby", "op", None),
    e.Topic("lobby", "welcome", "op", 1500.0),
    e.TopicSet("lobby", "", "op"),
    e.Moderated(None, "op", "banned", "*!*@host", "spam", None),
    e.RoomChanged("den", "op", (e.SettingChanged("member_limit", 5),
                                e.SettingChanged("voiced", True, "bob"))),
    e.SettingChanged("join_key", ""),
    e.Away("bob", "lunch"),
    e.Kept("bob", "later"),
    e.Delivered("alice", "later", 1200.0, action=True),
    e.Notice("hello"),
    e.Error("no"),
    e.Attendee("bob", "lunch"),
    e.Present("lobby", (e.Attendee("bob", "lunch"), e.Attendee("carol"))),
    e.BackboneLost(),
    e.BackboneBack(2.5),
]


def test_every_event_type_has_a_sample() -> None:
    """Adding an event type to chat.domain.events without a sample here fails."""
    sampled = {type(sample).__name__ for sample in SAMPLES} | {"Batch"}
    assert sampled == set(KINDS)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda event: type(event).__name__)
def test_an_event_comes_back_equal(event: Any) -> None:
    """Type, every field, nested events and tuples survive the text."""
    assert decode(encode(event)) == event


def test_a_room_event_with_its_batch_comes_back() -> None:
    """What the registry publishes, (sender id, Batch), keeps sender, events and room."""
    batch = e.Batch((e.Message("alice", "hi", 3, 9.0), e.Sent(3)), "lobby")
    sender, decoded = decode(encode(("m-abc-1", batch)))
    assert sender == "m-abc-1"
    assert isinstance(decoded, e.Batch)
    assert (decoded.events, decoded.room) == (batch.events, "lobby")


def test_a_batch_made_of_parts_travels_as_its_events() -> None:
    """Parts are not sent; the events they make up are."""
    part = e.Batch((e.Joined("bob", "lobby"),), "lobby")
    joined = e.Batch.joined((part, part), "lobby")
    decoded = decode(encode(joined))
    assert decoded.events == joined.events
    assert decoded.parts == ()


def test_text_is_compact_json() -> None:
    """One line, no spaces between items, text not escaped to ASCII."""
    assert encode(e.Joined("zoë", "lobby")) == '{"@":"Joined","nick":"zoë","room":"lobby"}'


@pytest.mark.parametrize(
    "value", [[1], {"a": 1}, object(), b"bytes"], ids=["list", "dict", "object", "bytes"]
)
def test_what_is_not_an_event_is_refused(value: object) -> None:
    """Lists, dicts, bytes and other objects are a CodecError, not a silent mangling."""
    with pytest.raises(CodecError, match="cannot encode"):
        encode(value)


@pytest.mark.parametrize(
    "text", ["not json", '{"@":"Nope"}', '{"@":"Joined","nick":"x"}', '{"nick":"x"}'],
)
def test_text_that_is_not_an_encoded_event_is_a_clear_error(text: str) -> None:
    """Bad JSON, an unknown type, missing fields and no type at all are all CodecErrors."""
    with pytest.raises(CodecError):
        decode(text)
