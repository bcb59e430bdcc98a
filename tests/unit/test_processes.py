"""One chat over several processes, as members see it: who is where, private messages
between processes, and what is said while the bus cannot take it (chat.testing.Processes)."""

from __future__ import annotations

from typing import Any

import pytest

from chat.domain.events import (
    BackboneBack,
    BackboneLost,
    ConnectionLost,
    Event,
    Joined,
    Left,
    MessagesMissed,
)
from chat.domain.registry import PICTURE_WAIT, RoomEvent
from chat.line.render import render
from chat.ports.bus import BusUnavailableError, Subscriber
from chat.testing import Chat, Processes, RecordingClient
from tests.support.irc_harness import Clients, hash_cheaply


@pytest.fixture
def processes() -> Processes:
    return Processes()


@pytest.fixture
def one(processes: Processes) -> Chat:
    return Chat(processes=processes, flood_rate=0)


@pytest.fixture
def two(processes: Processes) -> Chat:
    return Chat(processes=processes, flood_rate=0)


def test_who_lists_the_members_of_the_room_in_every_process(one: Chat, two: Chat) -> None:
    """Members already in the room elsewhere, and those who join after, are listed."""
    alice = one.connect("alice")
    bob = two.connect("bob")
    one.connect("carol")
    bob.type("/who")
    assert bob.received()[-1].endswith("bob, alice, carol")
    alice.type("/who")
    assert alice.received()[-1].endswith("alice, carol, bob")


def test_who_forgets_a_member_who_left_or_renamed_elsewhere(one: Chat, two: Chat) -> None:
    """A quit and a change of nickname in the other process change the list here."""
    alice = one.connect("alice")
    bob = two.connect("bob")
    carol = two.connect("carol")
    bob.type("/nick robert")
    carol.lose()
    alice.received()
    alice.type("/who")
    assert alice.received()[-1].endswith("alice, robert")


def test_the_welcome_counts_the_members_elsewhere(one: Chat, two: Chat) -> None:
    """Joining a room whose members are all in another process says how many there are."""
    one.connect("alice")
    one.connect("carol")
    bob = two.open()
    bob.type("bob")
    assert any("with 2 others" in line for line in bob.received())


def test_rooms_counts_the_members_of_every_process(one: Chat, two: Chat) -> None:
    """/rooms counts a room's members here and elsewhere, for rooms with members here."""
    one.connect("alice")
    bob = two.connect("bob")
    bob.type("/rooms")
    assert bob.received()[-1] == "*** 1 room: lobby (2)"


def test_a_private_message_reaches_a_member_of_the_other_process(one: Chat, two: Chat) -> None:
    """/msg to someone another process serves reaches them, and the sender is told."""
    alice = one.connect("alice")
    bob = two.connect("bob")
    bob.type("/join dev")
    bob.received()
    alice.received()
    alice.type("/msg BOB psst")
    assert alice.received() == ["-> *bob* psst"]
    assert bob.received() == ["*alice* psst"]


def test_a_private_message_to_nobody_anywhere_is_refused(one: Chat, two: Chat) -> None:
    """Nobody in any process by that name: the usual refusal."""
    two.connect("bob")
    alice = one.connect("alice")
    alice.type("/msg zed hello")
    assert alice.received() == ['!!! no user is called "zed"']


def test_a_nickname_held_in_one_process_is_refused_in_the_other(one: Chat, two: Chat) -> None:
    """The processes share one directory of nicknames."""
    one.connect("alice")
    other = two.open()
    other.type("ALICE")
    assert any(line.startswith("!!! ") and "alice" in line.lower() for line in other.received())


class RefusingBus:
    """A bus whose server is unreachable: it takes nothing."""

    def __init__(self) -> None:
        self.down = False
        self.rooms: dict[str, list[Subscriber[RoomEvent]]] = {}

    def publish(self, room: str, event: RoomEvent) -> None:
        if self.down:
            raise BusUnavailableError()
        for subscriber in list(self.rooms.get(room, ())):
            subscriber(room, event)

    def subscribe(self, room: str, subscriber: Subscriber[RoomEvent]) -> None:
        self.rooms.setdefault(room, []).append(subscriber)

    def unsubscribe(self, room: str, subscriber: Subscriber[RoomEvent]) -> None:
        self.rooms.get(room, []).remove(subscriber)


def test_what_is_said_while_the_bus_is_unavailable_is_refused_and_not_lost_later() -> None:
    """The speaker is told it was not sent; once the bus is back, talk goes on."""
    bus = RefusingBus()
    chat = Chat(flood_rate=0)
    chat.registry.bus = bus
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bus.down = True
    bob.type("hello?", "/me waves")
    refused = bob.received()
    assert len(refused) == 2
    assert all(line.startswith("!!! not sent: ") for line in refused)
    assert alice.received() == []
    bus.down = False
    bob.type("hello")
    assert alice.received() == ["<bob> hello"]


def test_news_the_bus_cannot_take_still_happens_here() -> None:
    """A member who leaves while the bus is down is gone here all the same."""
    bus = RefusingBus()
    chat = Chat(flood_rate=0)
    chat.registry.bus = bus
    chat.connect("alice")
    bob = chat.connect("bob")
    bus.down = True
    bob.lose()
    assert chat.registry.find("bob") is None


def test_news_of_the_server_reaches_every_member_here(one: Chat) -> None:
    """BackboneLost and BackboneBack are told to everyone, in every room."""
    alice = RecordingClient()
    bob = RecordingClient()
    one.registry.join("alice", alice)
    one.registry.move(one.registry.join("bob", bob), "dev")
    alice.take(), bob.take()
    lost: Event = BackboneLost()
    one.registry.broadcast(lost)
    one.registry.broadcast(BackboneBack(3.0))
    for client in (alice, bob):
        lines: list[Any] = client.take()
        assert len(lines) == 2
        assert "lost touch" in lines[0] and "back in touch" in lines[1]


def test_irc_names_and_who_list_the_members_of_the_other_process(one: Chat, two: Chat) -> None:
    """An IRC user sees the channel's members served by another process in NAMES and WHO."""
    one.connect("alice")
    bob = Clients(two).irc("bob")
    bob.send("NAMES #lobby", "WHO #lobby")
    lines = bob.received()
    assert ":tcpchat.local 353 bob = #lobby :bob alice" in lines
    assert any(line.split(" ")[1] == "352" and line.split(" ")[7] == "alice" for line in lines)


def test_whois_tells_of_a_member_of_the_other_process(one: Chat, two: Chat) -> None:
    """/whois and WHOIS of someone another process serves say so, with its rooms and away."""
    alice = one.connect("alice")
    alice.type("/away lunch")
    carol = two.connect("carol")
    carol.type("/whois ALICE")
    assert carol.received() == [
        "*** alice: on another server of the chat; in lobby; away: lunch"
    ]
    bob = Clients(two).irc("bob")
    bob.send("WHOIS alice")
    lines = bob.received()
    assert ":tcpchat.local 319 bob alice :#lobby" in lines
    assert ":tcpchat.local 301 bob alice :lunch" in lines
    assert lines[-1].split(" ")[1] == "318"


def test_an_outage_under_a_second_is_said_so() -> None:
    """BackboneBack after 0.3 s does not say "after 0s"."""
    assert render(BackboneBack(0.3)).endswith("after under a second: you may talk again")


def test_messages_missed_are_told_to_line_and_irc_users(one: Chat) -> None:
    """A gap in a room's live delivery is said as such, not as history no longer kept."""
    assert render(MessagesMissed("dev")) == (
        "*** some messages of dev did not reach this server in time and are missing"
    )
    bob = Clients(one).irc("bob", join="#dev")
    one.registry.announce("dev", MessagesMissed("dev"))
    one.registry.flush()
    assert any("NOTICE" in line and "did not reach this server" in line for line in bob.received())


def test_rooms_lists_a_room_whose_members_are_all_in_the_other_process(
    one: Chat, two: Chat
) -> None:
    """/rooms and IRC LIST count every process's members, rooms with nobody here too."""
    carol = one.connect("carol")
    carol.type("/join attic")
    bob = two.connect("bob")
    bob.type("/rooms")
    assert bob.received()[-1] == "*** 2 rooms: lobby (1), attic (1)"
    dave = Clients(two).irc("dave")
    dave.send("LIST")
    assert any(line.split(" ")[1:5] == ["322", "dave", "#attic", "1"] for line in dave.received())


def test_irc_users_of_every_process_see_a_channel_mode_change(one: Chat, two: Chat) -> None:
    """MODE +tmv-n by alice reaches bob, an IRC member of the channel served by the other
    process, as the one MODE line alice sees; carol, a line user, sees nothing of it."""
    alice = Clients(one).irc("alice", join="#dev")
    dave = one.connect("dave")
    dave.type("/join dev")
    bob = Clients(two).irc("bob", join="#dev")
    carol = two.connect("carol")
    carol.type("/join dev")
    for client in (alice, bob):
        client.received()
    carol.received()
    alice.send("MODE #dev +tmv-n dave", "MODE #dev +kl sesame 5")
    mode = ":alice!~alice@tcpchat MODE #dev +tmv-n dave"
    limits = ":alice!~alice@tcpchat MODE #dev +kl sesame 5"
    assert alice.received() == [mode, limits]
    elsewhere = "alice!alice@tcpchat"  # another process does not know alice is a guest
    assert bob.received() == [
        text.replace("alice!~alice@tcpchat", elsewhere) for text in (mode, limits)
    ]
    assert carol.received() == []


def test_the_welcome_waits_for_who_is_in_the_room_elsewhere() -> None:
    """Over a bus that tells a process who is in a room only after it starts to serve it
    (as Redis does), the first member here is welcomed with the others elsewhere counted,
    once they are known, and nothing of the room comes before the welcome."""
    processes = Processes(present_later=True)
    one = Chat(processes=processes)
    one.connect("alice")
    processes.tell_present()
    two = Chat(processes=processes)
    bob = two.open()
    bob.type("bob")
    assert not any("Welcome, bob" in line for line in bob.received())
    processes.tell_present()
    lines = bob.received()
    assert "with 1 other" in lines[0], lines


def test_the_welcome_is_not_held_for_ever_when_the_room_is_never_pictured() -> None:
    """No Present within PICTURE_WAIT seconds: the welcome comes with what is known."""
    processes = Processes(present_later=True)
    chat = Chat(processes=processes)
    alice = chat.open()
    alice.type("alice")
    assert not any("Welcome, alice" in line for line in alice.received())
    chat.clock.advance(PICTURE_WAIT)
    assert any("Welcome, alice!" in line for line in alice.received())


def test_an_irc_join_lists_the_members_elsewhere_once_known() -> None:
    """An IRC JOIN of a channel this process starts to serve: NAMES lists alice, served
    by the other process."""
    processes = Processes(present_later=True)
    one = Chat(processes=processes)
    one.connect("alice")
    processes.tell_present()
    two = Chat(processes=processes)
    bob = Clients(two).irc("bob", join="")
    bob.send("JOIN #lobby")
    assert bob.received() == []
    processes.tell_present()
    assert ":tcpchat.local 353 bob = #lobby :bob alice" in bob.received()


def test_joining_a_room_that_has_members_elsewhere_does_not_make_its_owner(
    processes: Processes, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A guest makes den on one process and stays; rita, registered, joins den on the other:
    she did not make it and does not own it (she may not ban there), as on one process."""
    hash_cheaply(monkeypatch)
    one = Chat(processes=processes)
    maker = one.connect("maker")
    maker.type("/join den")
    two = Chat(accounts=True, processes=processes)
    rita = two.connect("rita")
    rita.type("/register correcthorse", "/join den")
    rita.received()
    rita.type("/ban zed")
    assert rita.received() == ["!!! only its operators and server operators may ban from den"]


def test_news_from_elsewhere_of_a_member_here_is_not_told_here(
    processes: Processes, one: Chat, two: Chat
) -> None:
    """Another process that took bob's for dead says he left, then that he is back (as
    a node reaped while Redis was away does): carol, beside bob, is told neither; alice,
    in the other process, is told both."""
    alice = one.connect("alice")
    bob = two.connect("bob")
    carol = two.connect("carol")
    for client in (alice, bob, carol):
        client.received()
    processes.bus.publish("lobby", (None, Left("bob", "lobby", ConnectionLost())))
    processes.bus.publish("lobby", (None, Joined("bob", "lobby")))
    one.clock.advance(1)
    two.clock.advance(1)
    assert carol.received() == [] and bob.received() == []
    assert len(alice.received()) == 2
    carol.type("/who")
    assert carol.received() == ["*** 3 users in lobby: bob, carol, alice"]


def test_leaving_a_room_before_it_is_pictured_does_not_hold_up_what_follows() -> None:
    """A line user who /joins a room and leaves it before the bus has pictured it, and an
    IRC user who JOINs and PARTs at once, still get every answer after."""
    processes = Processes(present_later=True)
    chat = Chat(processes=processes)
    alice = chat.connect("alice")
    bob = Clients(chat).irc("bob", join="")
    chat.clock.advance(PICTURE_WAIT)
    processes.tell_present()
    alice.received(), bob.received()
    alice.type("/join den", "/join lobby")
    bob.send("JOIN #attic", "PART #attic")
    processes.tell_present()
    alice.received(), bob.received()
    alice.type("/who")
    bob.send("PING x")
    assert alice.received() == ["*** 1 user in lobby: alice"]
    assert bob.received() == [":tcpchat.local PONG tcpchat.local :x"]


def test_one_who_left_elsewhere_and_came_back_here_is_counted_once(
    processes: Processes, one: Chat
) -> None:
    """zed quits on another process and comes here before its Left is heard: once it is,
    /who lists zed once."""
    alice = one.connect("alice")
    processes.bus.publish("lobby", ("other.1", Joined("zed", "lobby")))
    one.clock.advance(1)
    one.connect("zed")
    processes.bus.publish("lobby", ("other.1", Left("zed", "lobby", ConnectionLost())))
    one.clock.advance(1)
    alice.received()
    alice.type("/who")
    assert alice.received() == ["*** 2 users in lobby: alice, zed"]


def test_one_who_left_before_the_room_was_pictured_does_not_own_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rita, registered, /joins den and leaves it before the bus has said who is in it: once
    it has, den is not hers (kim, who stays, may not be banned by her later)."""
    hash_cheaply(monkeypatch)
    processes = Processes(present_later=True)
    chat = Chat(accounts=True, processes=processes)
    rita = chat.connect("rita")
    chat.clock.advance(PICTURE_WAIT)
    processes.tell_present()
    rita.type("/register correcthorse", "/join den", "/join lobby")
    processes.tell_present()
    kim = chat.connect("kim")
    kim.type("/join den")
    processes.tell_present()
    rita.type("/join den")
    rita.received()
    rita.type("/ban zed")
    assert rita.received() == ["!!! only its operators and server operators may ban from den"]
