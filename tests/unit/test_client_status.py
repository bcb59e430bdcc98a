"""The status line: what the session learns from the server's lines, and how it reads."""

from __future__ import annotations

from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from chat.client.lines import parse
from chat.client.roster import Roster
from chat.client.status import Link, Status, status_text
from tests.unit.test_client import QUIET, Client, FakeServer, ScreenUnderTest

WELCOME = "*** Welcome, alice! You are in lobby with 2 others; 3 online. Type /help for help."


def roster_after(*lines: str) -> Roster:
    roster = Roster()
    roster.welcomed(WELCOME.removeprefix("*** "))
    for line in lines:
        roster.take(parse(line), "alice")
    return roster


def test_welcome_joins_and_leaves_count_the_users_of_the_room():
    """The welcome gives the count; joins, leaves and gathered joins change it."""
    assert roster_after().users == 3
    assert roster_after("*** carol has joined").users == 4
    assert roster_after("*** carol has joined", "*** carol has left (quit: bye)").users == 3
    assert roster_after("*** 3 users joined: ann, ben, cat").users == 6
    first = Roster()
    first.welcomed("Welcome, alice! You are the first in lobby; 1 online. Type /help")
    assert (first.room, first.users) == ("lobby", 1)


def test_who_and_rooms_answers_give_members_and_rooms():
    """/who lists the members (for completion) and the count; /rooms the rooms."""
    roster = roster_after(
        "*** 3 users in lobby: alice, Bob, carol", "*** 2 rooms: lobby (3), dev (1)"
    )
    assert sorted(roster.members.values()) == ["Bob", "alice", "carol"]
    assert sorted(roster.rooms.values()) == ["dev", "lobby"]
    renamed = roster_after("*** 2 users in lobby: alice, bob", "*** bob is now known as robert")
    assert sorted(renamed.members.values()) == ["alice", "robert"]


def test_moving_rooms_away_account_and_topic_are_followed():
    """A move gives the room and its count; /away, /register and topics the rest."""
    roster = roster_after("*** you are now in dev with 1 other")
    assert (roster.room, roster.users) == ("dev", 2)
    roster.take(parse("*** topic of dev: release planning (set by bob on 2026-12-02 15:36Z)"),
                "alice")
    roster.take(parse("*** you are marked as away: lunch"), "alice")
    roster.take(parse("*** alice is registered: from now on it asks for its password"), "alice")
    assert (roster.topic, roster.away, roster.account) == ("release planning", "lunch", "alice")
    roster.take(parse("*** you are back"), "alice")
    roster.take(parse("!!! you were kicked out of dev by bob: no; you are back in the lobby"),
                "alice")
    assert (roster.away, roster.room, roster.users, roster.topic) == (None, "lobby", None, "")


def test_status_text_names_room_users_connection_away_and_account():
    """One row: ``[room] N users | connected (TLS) | away: ... | account ...``."""
    status = Status("dev", 3, Link.CONNECTED, away="lunch", account="alice")
    assert status_text(status, 0.0, tls=True) == (
        "[dev] | 3 users | connected (TLS) | away: lunch | account alice"
    )
    waiting = Status("dev", None, Link.WAITING, retry_at=14.2, rejoining=True)
    assert status_text(waiting, 10.0, tls=False) == "[dev] | reconnecting in 5s"


def test_session_status_follows_the_connection_and_the_quiet_who():
    """The terminal's session asks /who and /rooms itself, and their answers are not shown."""
    client = Client("alice")
    server = client.connect()
    assert client.view.status is not None and client.view.status.link is Link.LOGGING_IN
    server.say(WELCOME)
    assert server.received()[-2:] == QUIET
    server.say("*** 3 users in lobby: alice, bob, carol", "*** 1 room: lobby (3)")
    assert client.view.lines == [WELCOME]
    connected = client.session.status()
    assert connected.link is Link.CONNECTED and connected.users == 3
    assert client.session.roster.members.keys() == {"alice", "bob", "carol"}
    server.connection.connectionLost(Failure(ConnectionDone()))
    client.session.retry_scheduled(4.0)
    status = client.view.status
    assert status.link is Link.WAITING and status.retry_at == client.clock.seconds() + 4.0


def test_the_account_is_the_nickname_logged_in_with_its_password():
    """A welcome after the password was sent is a login to that account; a guest has none."""
    client = Client("alice", password="right horse")
    server = client.connect()
    server.say("*** Welcome to tcpchat.", "*** Please choose a nickname:",
               "*** alice is registered: type its password")
    server.say(WELCOME)
    assert client.view.status is not None and client.view.status.account == "alice"


def test_a_registered_password_is_kept_to_log_in_again():
    """After /register is confirmed, a rejoin answers the password prompt with it."""
    client = Client("alice")
    server = client.connect()
    server.say(WELCOME, "*** 1 user in lobby: alice", "*** 1 room: lobby (1)")
    client.session.user_line("/register long enough")
    server.say("*** alice is registered: from now on it asks for its password")
    assert client.view.status is not None and client.view.status.account == "alice"
    server.close()
    server = FakeServer(client.session)
    server.say("*** Welcome to tcpchat.", "*** Please choose a nickname:",
               "*** alice is registered: type its password")
    assert server.received()[-1] == "long enough"


def test_status_line_is_drawn_above_the_input_and_counts_down():
    """The row above the input is the status line; waiting to reconnect, it counts down."""
    screen = ScreenUnderTest()
    assert screen.status_row().startswith("[lobby] | 1 user | connected")
    assert screen.rows()[-1] == "alice>"
    screen.server.close()
    screen.session.retry_scheduled(3.0)
    assert screen.status_row() == "[lobby] | 1 user | reconnecting in 3s"
    screen.clock.advance(1.0)
    assert screen.status_row() == "[lobby] | 1 user | reconnecting in 2s"


def test_away_is_set_again_quietly_after_reconnecting():
    """A new connection is not away: the terminal's session sends /away MESSAGE again after
    the rejoin, and its answer only puts it back on the status line."""
    client = Client("alice")
    server = client.connect()
    server.say(WELCOME, "*** 1 user in lobby: alice", "*** 1 room: lobby (1)")
    client.session.user_line("/away lunch; back at 2")
    server.say("*** you are marked as away: lunch; back at 2")
    server.close()
    server = FakeServer(client.session)
    server.received()
    server.say(WELCOME)
    assert server.received() == [*QUIET, "/away lunch; back at 2"]
    assert client.view.status is not None and client.view.status.away is None
    shown = len(client.view.lines)
    server.say("*** 1 user in lobby: alice", "*** 1 room: lobby (1)",
               "*** you are marked as away: lunch; back at 2")
    assert client.view.status.away == "lunch; back at 2"
    assert len(client.view.lines) == shown
