"""The outbox: everything one member is shown reaches it in the order it happened."""

from __future__ import annotations

from twisted.internet.task import Clock

from chat.domain.events import Batch, Notice
from chat.domain.outbox import Outbox
from chat.domain.registry import Registry
from chat.testing import Chat, RecordingClient


def notice(text: str) -> Batch:
    return Batch((Notice(text),))


def shown(client: RecordingClient) -> list[str]:
    """The notices ``client`` was shown since the last look, without their ``*** ``."""
    return [line.removeprefix("*** ") for line in client.take()]


def outbox_of(client: RecordingClient) -> Outbox:
    """An outbox with nothing gathered before it."""
    return Outbox(client, lambda: None)


def test_a_reply_does_not_overtake_what_was_said_before_it() -> None:
    """What the room said before a reply to the member is shown before that reply."""
    registry = Registry(clock=Clock())
    alice = RecordingClient()
    member = registry.join("alice", alice)
    bob = registry.join("bob", RecordingClient())
    registry.flush()
    alice.take()
    registry.say(bob, "hello")
    member.outbox.put(notice("the reply"))
    assert alice.take() == ["<bob> hello", "*** the reply"]


def test_a_command_answer_comes_after_the_lines_before_it() -> None:
    """On a line connection, /who is answered after what the room said just before."""
    chat = Chat(flood_rate=0)
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.type("hello")
    alice.type("/who")
    assert alice.received() == ["<bob> hello", "*** 2 users in lobby: alice, bob"]


def test_history_asked_for_comes_after_what_was_said_before() -> None:
    """A place reserved for history comes after what the room said before it was asked for."""
    registry = Registry(clock=Clock())
    alice = RecordingClient()
    member = registry.join("alice", alice)
    bob = registry.join("bob", RecordingClient())
    registry.flush()
    alice.take()
    registry.say(bob, "hello")
    registry.show_history(member, 10)
    assert alice.take()[:2] == ["<bob> hello", "*** history of lobby, last message:"]


def test_a_reserved_place_holds_what_comes_after_it() -> None:
    """Nothing delivered or put after an unfilled place reaches the member."""
    client = RecordingClient()
    outbox = outbox_of(client)
    outbox.reserve()
    outbox.deliver(notice("fan-out"))
    outbox.put(notice("reply"))
    assert shown(client) == []
    assert outbox.waiting == 3


def test_filling_the_place_delivers_it_then_what_waited() -> None:
    """The filled batch comes first, then everything held behind it, in order."""
    client = RecordingClient()
    outbox = outbox_of(client)
    place = outbox.reserve()
    outbox.deliver(notice("fan-out"))
    outbox.put(notice("reply"))
    outbox.fill(place, notice("history"))
    assert shown(client) == ["history", "fan-out", "reply"]


def test_filling_with_nothing_lets_the_rest_through() -> None:
    """A place filled with None shows nothing and releases what waited behind it."""
    client = RecordingClient()
    outbox = outbox_of(client)
    place = outbox.reserve()
    outbox.deliver(notice("fan-out"))
    outbox.fill(place, None)
    assert shown(client) == ["fan-out"]
    assert outbox.waiting == 0


def test_a_later_place_filled_first_waits_for_the_earlier_one() -> None:
    """Filling the second of two places shows nothing while the first is unfilled."""
    client = RecordingClient()
    outbox = outbox_of(client)
    outbox.reserve()
    outbox.deliver(notice("a"))
    second = outbox.reserve()
    outbox.deliver(notice("b"))
    outbox.fill(second, notice("second history"))
    assert shown(client) == []


def test_two_places_filled_out_of_order_deliver_in_reservation_order() -> None:
    """Places filled last-first still reach the member first-first, each before what followed it."""
    client = RecordingClient()
    outbox = outbox_of(client)
    first = outbox.reserve()
    outbox.deliver(notice("a"))
    second = outbox.reserve()
    outbox.deliver(notice("b"))
    outbox.fill(second, notice("second history"))
    outbox.fill(first, notice("first history"))
    assert shown(client) == ["first history", "a", "second history", "b"]


def test_once_everything_is_delivered_deliver_goes_straight_to_the_client() -> None:
    """After the last place is filled, a new batch reaches the member at once."""
    client = RecordingClient()
    outbox = outbox_of(client)
    place = outbox.reserve()
    outbox.fill(place, notice("history"))
    client.take()
    outbox.deliver(notice("live"))
    assert shown(client) == ["live"]
    assert outbox.waiting == 0
