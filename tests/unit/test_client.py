"""The client without sockets or terminals: session, reconnection, input line, colours, options."""

from __future__ import annotations

import calendar
import io
import re
import time

import pytest
from OpenSSL import SSL
from twisted.conch.insults import helper, insults
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionLost, ConnectionRefusedError
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IStreamClientEndpoint
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer

from chat.client.colours import LineStyle, nick_colour, palette_for
from chat.client.connection import RETRY_POLICY, keep_connected, retry_policy
from chat.client.inputline import text_width, visible_input
from chat.client.lines import (
    Kind,
    asks_for_password,
    command_name,
    holds_password,
    masked,
    parse,
    welcomed_nick,
)
from chat.client.options import ClientOptions, parse_options
from chat.client.pipe import PipeIO
from chat.client.rows import fold
from chat.client.session import (
    EXIT_NICKNAME_REFUSED,
    EXIT_OK,
    EXIT_PASSWORD,
    EXIT_UNREACHABLE,
    GREETING_TIMEOUT,
    LEAVE_TIMEOUT,
    REJOIN_PATIENCE,
    Phase,
    ServerConnection,
    Session,
    describe_failure,
)
from chat.client.status import Status
from chat.client.terminal import ChatTerminal, terminal_protocol
from chat.client.unread import UnreadMarker

# What a terminal's session asks on its own once in the room, for its status line,
# and the answers a joined() client's server gives.
QUIET = ["/who", "/rooms"]
QUIET_ANSWERS = ["*** 1 user in lobby: alice", "*** 1 room: lobby (1)"]
GREETING = [
    "*** Welcome to tcpchat.",
    "*** Please choose a nickname (1-20 letters, digits, _ or -):",
]
WELCOME = b"*** Welcome, alice! 1 user online.\r\n"
TOKEN = "q3XbS0d1Zf8Vx2Ak"
IDS_ON = f"*** message ids on; resume token {TOKEN}"
TAKEN = ('!!! nickname "bot" is taken', GREETING[-1])
ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TIMESTAMP = re.compile(r"^\d\d:\d\d ")


class RecordingView:
    """A SessionView that remembers what it was asked to show."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.own: list[str] = []
        self.refused: list[tuple[str, str]] = []
        self.statuses: list[str] = []
        self.errors: list[str] = []
        self.nick_asked = 0
        self.password_asked = 0
        self.nick: str | None = None
        self.status: Status | None = None
        # Each unread marker, and how many lines had been shown before it.
        self.unread: list[tuple[UnreadMarker, int]] = []

    def show_line(self, line: str) -> None:
        self.lines.append(line)

    def show_own_line(self, line: str) -> None:
        self.own.append(line)

    def show_refused(self, own_line: str, error_line: str) -> None:
        self.refused.append((own_line, error_line))

    def show_status(self, text: str) -> None:
        self.statuses.append(text)

    def show_error(self, text: str) -> None:
        self.errors.append(text)

    def nickname_wanted(self) -> None:
        self.nick_asked += 1

    def nickname_changed(self, nick: str) -> None:
        self.nick = nick

    def password_wanted(self) -> None:
        self.password_asked += 1

    def status_changed(self, status: Status) -> None:
        self.status = status

    def show_unread(self, marker: UnreadMarker) -> None:
        self.unread.append((marker, len(self.lines)))

    def everything_shown(self) -> str:
        """All the view was asked to show, as one text."""
        shown = [*self.lines, *self.own, *self.statuses, *self.errors]
        shown.extend(line for pair in self.refused for line in pair)
        return "\n".join(shown)


class FakeServer:
    """One connection of a session, driven from the server's side."""

    def __init__(self, session: Session) -> None:
        self.transport = StringTransport()
        self.connection = ServerConnection(session)
        self.connection.makeConnection(self.transport)

    def say(self, *lines: str) -> None:
        self.connection.dataReceived(b"".join(line.encode() + b"\r\n" for line in lines))

    def received(self) -> list[str]:
        """Lines the client sent, since the last call."""
        data: bytes = self.transport.value()
        self.transport.clear()
        return data.decode().splitlines()

    def close(self) -> None:
        """The server closes the connection cleanly."""
        self.connection.connectionLost(Failure(ConnectionDone()))


class Client:
    """A session with its recording view and clock, not yet connected."""

    def __init__(
        self, nick: str | None = "alice", interactive: bool = True, password: str | None = None
    ) -> None:
        self.view = RecordingView()
        self.clock = Clock()
        self.session = Session(
            self.view,
            self.clock,
            address="127.0.0.1:55555",
            nick=nick,
            interactive=interactive,
            password=password,
        )

    def connect(self) -> FakeServer:
        return FakeServer(self.session)


def joined(nick: str = "alice", interactive: bool = True) -> tuple[Client, FakeServer]:
    """A client in the room, and its server with what the client sent so far read."""
    client = Client(nick, interactive)
    server = client.connect()
    server.say("*** Welcome to tcpchat.", f"*** Welcome, {nick}! 1 user online.")
    if server.received()[-len(QUIET):] == QUIET:
        server.say(*QUIET_ANSWERS)
    return client, server


def result_of(deferred: Deferred[int]) -> int | None:
    """The result a Deferred has fired with, or None if it has not fired (left in place)."""
    results: list[int] = []

    def keep(result: int) -> int:
        results.append(result)
        return result

    deferred.addCallback(keep)
    return results[0] if results else None


# Kinds of server line


def test_replayed_history_line_is_recognised_with_its_time():
    """A history line is a message or action with its UTC time in brackets before it."""
    parsed = parse("[2026-11-28 14:02Z] <alice> hello")
    assert (parsed.kind, parsed.nick, parsed.text, parsed.stamp) == (
        Kind.MESSAGE, "alice", "hello", "2026-11-28 14:02Z",
    )


@pytest.mark.parametrize(
    ("line", "kind", "nick", "text"),
    [
        ("<bob> hello there", Kind.MESSAGE, "bob", "hello there"),
        ("* bob waves", Kind.ACTION, "bob", "waves"),
        ("*bob* psst", Kind.PRIVATE, "bob", "psst"),
        ("-> *bob* psst", Kind.PRIVATE_SENT, "bob", "psst"),
        ("*** bob has joined", Kind.NOTICE, None, "bob has joined"),
        ('!!! nickname "Bob" is taken', Kind.ERROR, None, 'nickname "Bob" is taken'),
        ("plain words", Kind.OTHER, None, "plain words"),
    ],
)
def test_each_kind_of_server_line_is_recognised(line, kind, nick, text):
    """Every form in the protocol's table is told apart, with its nickname and text."""
    parsed = parse(line)
    assert (parsed.kind, parsed.nick, parsed.text) == (kind, nick, text)


def test_welcome_line_gives_the_accepted_nickname():
    """The welcome line names the nickname as the server accepted it."""
    assert welcomed_nick("*** Welcome, Alice_2! 3 users online.") == "Alice_2"
    assert welcomed_nick("*** Welcome to tcpchat.") is None


def test_double_slash_is_a_message_not_a_command():
    """``//x`` is sent as a message, ``/X args`` runs command ``x``."""
    assert command_name("//etc/passwd") is None
    assert command_name("/ME waves") == "me"
    assert command_name("hello") is None


# The session: nickname handshake


def test_given_nickname_is_sent_as_soon_as_connected():
    """With --nick the nickname is sent at once, after asking for message ids."""
    server = Client("alice").connect()
    assert server.received() == ["/ids", "alice"]


def test_without_nickname_the_user_is_asked_and_their_line_is_sent():
    """Without --nick the user is asked, and the next line entered is the nickname."""
    client = Client(None)
    server = client.connect()
    server.say(*GREETING)
    assert client.view.nick_asked == 1
    assert server.received() == ["/ids"]
    client.session.user_line("  carol  ")
    assert server.received() == ["carol"]


def test_answer_to_the_clients_own_ids_request_is_not_shown():
    """The client's own ``/ids`` is its business: the server's answer is not shown."""
    client = Client("alice")
    server = client.connect()
    server.say(*GREETING, IDS_ON, "*** Welcome, alice! 1 online.")
    assert client.view.lines == [*GREETING, "*** Welcome, alice! 1 online."]


def test_rejoin_claims_the_nickname_back_with_the_resume_token():
    """After a drop the server has not noticed yet, the client gets its own nickname back."""
    client = Client("alice")
    server = client.connect()
    server.say(*GREETING, IDS_ON, "*** Welcome, alice! 1 online.")
    server.close()
    assert client.connect().received() == [f"/resume lobby 0 {TOKEN}", "alice"]


def test_greeting_and_welcome_are_shown():
    """The server's greeting and welcome are shown on the first connection."""
    client, _ = joined()
    assert client.view.lines == ["*** Welcome to tcpchat.", "*** Welcome, alice! 1 user online."]
    assert client.view.nick == "alice"
    assert client.session.phase is Phase.CHATTING


def test_taken_nickname_is_explained_and_asked_again_on_terminal():
    """On a terminal a refused nickname shows the server's reason and asks again."""
    client = Client("Bob")
    server = client.connect()
    server.received()
    server.say(*GREETING, '!!! nickname "Bob" is taken', GREETING[-1])
    assert client.view.lines[-2:] == ['!!! nickname "Bob" is taken', GREETING[-1]]
    assert client.view.nick_asked == 1
    client.session.user_line("Bob2")
    assert server.received() == ["Bob2"]


def test_taken_nickname_ends_pipe_mode_with_status_2():
    """In pipe mode a refused nickname is reported and the client ends with status 2."""
    client = Client("Bob", interactive=False)
    server = client.connect()
    server.say('!!! nickname "Bob" is taken', GREETING[-1])
    assert client.view.errors == ['nickname "Bob" is taken']
    assert server.transport.disconnecting
    server.close()
    assert result_of(client.session.finished) == EXIT_NICKNAME_REFUSED


def test_server_refusing_the_connection_is_not_a_nickname_refusal():
    """An error followed by the server closing (server full) ends pipe mode with status 1."""
    client = Client("alice", interactive=False)
    server = client.connect()
    server.say("!!! the server is full (5 connections); try again later")
    server.close()
    assert result_of(client.session.finished) == EXIT_UNREACHABLE
    assert "the server is full" in client.view.errors[0]


def test_a_banned_address_is_not_retried_even_on_a_terminal():
    """A server-wide ban told at connect ends the client (status 1): retrying cannot help."""
    client = Client("alice", interactive=True)
    server = client.connect()
    server.say("!!! you are banned from the server for ever: spam")
    server.close()
    assert result_of(client.session.finished) == EXIT_UNREACHABLE
    assert "not reconnecting: you are banned from the server" in client.view.errors[-1]


def test_an_operators_disconnection_is_not_undone_by_reconnecting():
    """Put off the server by an operator, the client says so and does not come back."""
    client, server = joined("alice", interactive=True)
    server.say("!!! you were disconnected by root: calm down")
    server.close()
    assert result_of(client.session.finished) == EXIT_UNREACHABLE
    assert "not reconnecting: you were disconnected by root" in client.view.errors[-1]


def test_a_kick_out_of_a_room_keeps_the_client_connected():
    """A kick only moves the user to the lobby: nothing ends."""
    client, server = joined("alice", interactive=True)
    server.say("!!! you were kicked out of den by root: calm down; you are back in the lobby")
    assert result_of(client.session.finished) is None


def test_end_of_input_without_any_nickname_ends_with_status_2():
    """Pipe mode with empty input and no --nick says no nickname was given."""
    client = Client(None, interactive=False)
    client.session.end_of_input()
    assert client.view.errors == ["no nickname was given"]
    assert result_of(client.session.finished) == EXIT_NICKNAME_REFUSED


# The session: chatting


def test_own_message_is_sent_and_shown_with_own_nickname_once_acknowledged():
    """A message goes to the server and is shown as ``<nick> text`` when the server acks it."""
    client, server = joined("alice")
    client.session.user_line("hello everyone")
    assert server.received() == ["hello everyone"]
    assert client.view.own == []
    server.say("@id=5")
    assert client.view.own == ["<alice> hello everyone"]


def test_double_slash_message_is_shown_with_one_slash():
    """``//shrug`` is shown as the others see it: ``<alice> /shrug``."""
    client, server = joined("alice")
    client.session.user_line("//shrug")
    assert server.received() == ["//shrug"]
    server.say("@id=5")
    assert client.view.own == ["<alice> /shrug"]


def test_own_action_is_shown_as_an_action():
    """``/me waves`` is shown as ``* alice waves`` when acknowledged."""
    client, server = joined("alice")
    client.session.user_line("/me waves")
    server.say("@id=5")
    assert client.view.own == ["* alice waves"]


def test_commands_are_sent_without_local_echo():
    """Commands such as /who are answered by the server, not echoed."""
    client, server = joined()
    client.session.user_line("/who")
    assert server.received() == ["/who"]
    assert client.view.own == []


def test_nickname_change_is_followed():
    """After ``/nick`` is confirmed, own messages carry the new nickname."""
    client, server = joined("alice")
    client.session.user_line("/nick alicia")
    server.say("*** alice is now known as alicia")
    client.session.user_line("hi")
    server.say("@id=5")
    assert client.view.nick == "alicia"
    assert client.view.own == ["<alicia> hi"]


def test_refused_nickname_change_keeps_the_nickname():
    """A ``/nick`` answered by an error leaves the nickname as it was."""
    client, server = joined("alice")
    client.session.user_line("/nick bob")
    server.say('!!! nickname "bob" is taken', "*** carol is now known as bob")
    client.session.user_line("hi")
    assert server.received() == ["/nick bob", "/ids", "hi"]
    server.say(IDS_ON, "@id=5")
    assert client.view.own == ["<alice> hi"]


def test_message_ids_are_not_shown():
    """The id tags the client asked for are taken off before a line is shown."""
    client, server = joined()
    server.say("@id=7 <bob> hi", "@id=8 [2026-11-28 14:02Z] * bob waves")
    assert client.view.lines[-2:] == ["<bob> hi", "[2026-11-28 14:02Z] * bob waves"]


def test_own_message_is_not_replayed_once_its_id_is_acknowledged():
    """The client's own last line is not shown back to it after a reconnect, nor before."""
    client, server = joined()
    server.say("@id=41 <bob> hi")
    client.session.user_line("mine")
    server.say("@id=42")
    assert client.view.lines[-1] == "<bob> hi"
    server.close()
    assert client.connect().received() == ["/resume lobby 42", "alice"]


def test_own_message_whose_acknowledgement_was_lost_is_shown_by_the_replay_not_sent_again():
    """A line said just as the connection dropped, which the server had, is shown as one's own
    where the replay has it (so never in pipe mode), and is not sent again."""
    client, server = joined()
    server.say("@id=41 <bob> hi")
    client.session.user_line("mine")
    server.close()
    server = client.connect()
    assert server.received() == ["/resume lobby 41", "alice"]
    server.say(
        "*** Welcome, alice! 1 user online.",
        "*** history of lobby, last 2 messages:",
        "@id=42 [2026-11-28 14:02Z] <alice> mine",
        "@id=43 [2026-11-28 14:02Z] <bob> missed",
        "*** end of history",
    )
    assert server.received() == [*QUIET, "/ids"]
    server.say(IDS_ON)
    assert server.received() == []
    assert client.view.own == ["[2026-11-28 14:02Z] <alice> mine"]
    assert client.view.lines[-2:] == [
        "[2026-11-28 14:02Z] <bob> missed",
        "*** end of missed messages",
    ]
    assert [marker.count for marker, _ in client.view.unread] == [2]


def test_own_message_the_server_never_had_is_sent_again_after_the_catch_up():
    """A line lost with the connection is sent again once the replay shows it was lost,
    before the lines typed while offline."""
    client, server = joined()
    client.session.user_line("lost in transit")
    server.close()
    client.session.user_line("typed offline")
    server = client.connect()
    assert server.received() == ["/resume lobby 0", "alice"]
    server.say(
        "*** Welcome, alice! 1 user online.",
        "*** history of lobby, last message:",
        "@id=3 [2026-11-28 14:02Z] <bob> meanwhile",
        "*** end of history",
    )
    assert server.received() == [*QUIET, "/ids"]
    client.session.user_line("typed during the catch-up")
    server.say(IDS_ON)
    assert server.received() == ["lost in transit", "typed offline", "typed during the catch-up"]
    server.say("@id=4", "@id=5", "<bob> live", "@id=7")
    assert client.view.own == [
        "<alice> lost in transit", "<alice> typed offline", "<alice> typed during the catch-up",
    ]
    assert client.view.lines[-2:] == ["*** end of missed messages", "<bob> live"]


def test_room_change_is_followed_for_rejoining():
    """After a confirmed /join, a reconnection resumes in the new room after its last message."""
    client, server = joined()
    server.say("@id=50 <bob> in the lobby")
    client.session.user_line("/join #dev")
    server.say("*** you are now in dev with 1 other", "@id=12 [2026-11-28 14:02Z] <carol> hi")
    server.close()
    assert client.view.lines[-1] == "[2026-11-28 14:02Z] <carol> hi"
    assert client.connect().received() == ["/resume dev 12", "alice"]


def test_refused_room_change_keeps_the_room():
    """A /join answered by an error leaves the session in its room."""
    client, server = joined()
    client.session.user_line("/join bad room")
    server.say("!!! usage: /join ROOM", "*** carol has left (went to bad)")
    server.close()
    assert client.connect().received() == ["/resume lobby 0", "alice"]


def test_lines_typed_before_the_welcome_are_sent_after_it():
    """Lines entered during the handshake wait for the welcome, then go out in order."""
    client = Client("alice", interactive=False)
    client.session.user_line("first")
    client.session.user_line("second")
    server = client.connect()
    assert server.received() == ["/ids", "alice"]
    server.say("*** Welcome, alice! 1 user online.")
    assert server.received() == ["first", "second"]


# The session: leaving


def test_quit_waits_for_the_server_to_close_then_ends_with_0():
    """``/quit`` is sent; the session ends when the server closes the connection."""
    client, server = joined()
    client.session.user_line("/quit")
    assert server.received() == ["/quit"]
    assert result_of(client.session.finished) is None
    server.say("*** Bye")
    server.close()
    assert client.view.lines[-1] == "*** Bye"
    assert result_of(client.session.finished) == EXIT_OK


def test_leave_sends_quit():
    """Ctrl-C or Ctrl-D (leave) sends ``/quit`` to the server."""
    client, server = joined()
    client.session.leave()
    assert server.received() == ["/quit"]


def test_silent_server_is_closed_after_quit_timeout():
    """If the server does not close after ``/quit``, the client closes after a while."""
    client, server = joined()
    client.session.leave()
    client.clock.advance(LEAVE_TIMEOUT - 0.1)
    assert not server.transport.disconnecting
    client.clock.advance(0.1)
    assert server.transport.disconnecting


def test_the_quit_timeout_and_the_longest_retry_delay_are_the_users_to_set():
    """--leave-timeout shortens the wait after /quit; --retry-max caps the retry delays."""
    client = Client()
    client.session = Session(client.view, client.clock, address="test", nick="alice",
                             interactive=True, leave_timeout=1.0)
    server = client.connect()
    server.say("*** Welcome, alice! 1 user online.")
    client.session.leave()
    client.clock.advance(0.9)
    assert not server.transport.disconnecting
    client.clock.advance(0.1)
    assert server.transport.disconnecting
    capped = retry_policy(4.0)
    assert max(capped(attempt) for attempt in range(1, 12)) <= 5.0
    assert max(RETRY_POLICY(attempt) for attempt in range(1, 12)) > 5.0


def test_leaving_again_closes_without_waiting():
    """A second Ctrl-C while waiting for the server closes the connection at once."""
    client, server = joined()
    client.session.leave()
    client.session.leave()
    assert server.transport.disconnecting


def test_end_of_input_sends_pending_lines_then_quit():
    """At the end of piped input, what is pending is sent, then ``/quit``."""
    client = Client("bot", interactive=False)
    client.session.user_line("hello")
    client.session.end_of_input()
    server = client.connect()
    server.say("*** Welcome, bot! 1 user online.")
    assert server.received() == ["/ids", "bot", "hello", "/quit"]


def test_leave_while_offline_ends_at_once():
    """Leaving while no connection is up ends the session immediately."""
    client = Client()
    client.session.leave()
    assert result_of(client.session.finished) == EXIT_OK


# Reconnection, through ClientService


@implementer(IStreamClientEndpoint)
class ScriptedEndpoint:
    """An endpoint whose connection attempts the test makes succeed or fail."""

    def __init__(self) -> None:
        self.attempts: list[tuple[IProtocolFactory, Deferred[IProtocol]]] = []

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        attempt: Deferred[IProtocol] = Deferred()
        self.attempts.append((protocolFactory, attempt))
        return attempt

    def accept(self) -> tuple[IProtocol, StringTransport]:
        factory, attempt = self.attempts[-1]
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 55555))
        assert protocol is not None
        transport = StringTransport()
        protocol.makeConnection(transport)
        attempt.callback(protocol)
        return protocol, transport

    def refuse(self) -> None:
        refused = ConnectionRefusedError(string="Connection refused")
        self.attempts[-1][1].errback(Failure(refused))


class ServicedClient(Client):
    """A client kept connected by ClientService over a scripted endpoint, retrying after 2s."""

    def __init__(self, nick: str = "alice", interactive: bool = True) -> None:
        super().__init__(nick, interactive)
        self.endpoint = ScriptedEndpoint()
        self.service = keep_connected(
            self.session, self.endpoint, self.clock, retry_policy=lambda attempt: 2.0
        )
        self.service.startService()

    def join(self) -> tuple[IProtocol, StringTransport]:
        protocol, transport = self.endpoint.accept()
        protocol.dataReceived(WELCOME)
        return protocol, transport


def test_lost_connection_is_announced_with_the_retry_delay():
    """Losing the connection says so and when the client will reconnect."""
    client = ServicedClient()
    protocol, _ = client.join()
    protocol.connectionLost(Failure(ConnectionLost()))
    assert client.view.statuses == ["connection lost; reconnecting in 2s"]


def test_reconnection_resumes_after_the_last_message_seen_and_says_so():
    """After the delay the client rejoins with its nickname, asking for what it missed."""
    client = ServicedClient("alice")
    protocol, _ = client.join()
    protocol.dataReceived(b"@id=41 <bob> last seen\r\n")
    protocol.connectionLost(Failure(ConnectionDone()))
    client.clock.advance(2.0)
    assert len(client.endpoint.attempts) == 2
    protocol, transport = client.endpoint.accept()
    assert transport.value() == b"/resume lobby 41\nalice\n"
    protocol.dataReceived("".join(line + "\r\n" for line in GREETING).encode() + WELCOME)
    protocol.dataReceived(b"@id=42 <bob> missed\r\n")
    assert client.view.statuses[-1] == "reconnected: back in the room as alice"
    assert client.view.lines.count(GREETING[0]) == 0
    assert client.view.lines[-1] == "<bob> missed"


def test_lines_entered_while_offline_are_sent_after_rejoining():
    """Nothing typed during an outage is lost: it is sent once the client is back."""
    client = ServicedClient("alice", interactive=False)
    protocol, _ = client.join()
    protocol.connectionLost(Failure(ConnectionDone()))
    client.session.user_line("during the outage")
    client.session.end_of_input()
    client.clock.advance(2.0)
    _, transport = client.join()
    assert transport.value() == b"/resume lobby 0\nalice\nduring the outage\n/quit\n"


def rejoining() -> tuple[Client, FakeServer]:
    """A pipe-mode bot that was in the room and is rejoining after a lost connection."""
    client, server = joined("bot", interactive=False)
    server.close()
    server = client.connect()
    assert server.received() == ["/resume lobby 0", "bot"]
    return client, server


def test_pipe_mode_rejoin_refused_its_nickname_tries_again():
    """A bot whose nickname is still taken on rejoining does not exit: it retries and gets in."""
    client, server = rejoining()
    shown = list(client.view.lines)
    server.say(*TAKEN)
    assert client.view.statuses[-1] == 'nickname "bot" is taken; trying again in 1s'
    client.clock.advance(1.0)
    assert server.received() == ["bot"]
    server.say("*** Welcome, bot! 1 user online.")
    assert client.session.phase is Phase.CHATTING
    assert client.view.lines == shown
    assert client.view.errors == []


def test_pipe_mode_rejoin_refused_its_nickname_gives_up_with_status_2():
    """A bot whose nickname stays taken retries, less and less often, then exits 2 saying why."""
    client, server = rejoining()
    server.say(*TAKEN)
    tried_at = []
    while client.clock.getDelayedCalls():
        client.clock.advance(client.clock.getDelayedCalls()[0].getTime() - client.clock.seconds())
        assert server.received() == ["bot"]
        tried_at.append(client.clock.seconds())
        server.say(*TAKEN)
    assert tried_at == [1, 3, 7, 15, 23, REJOIN_PATIENCE]
    assert client.view.errors == ['nickname "bot" is taken; gave up rejoining after 30s']
    assert server.transport.disconnecting
    server.close()
    assert result_of(client.session.finished) == EXIT_NICKNAME_REFUSED


def test_unreachable_server_ends_pipe_mode_with_status_1():
    """In pipe mode a server that cannot be reached at start ends the client with status 1."""
    client = ServicedClient(interactive=False)
    client.endpoint.refuse()
    assert client.view.errors == ["cannot connect to 127.0.0.1:55555: Connection refused"]
    assert result_of(client.session.finished) == EXIT_UNREACHABLE


def test_certificate_problems_are_described_briefly():
    """A TLS failure reads as what OpenSSL found wrong, not as its error structure."""
    problem = SSL.Error([("SSL routines", "", "certificate verify failed")])
    assert describe_failure(Failure(problem)) == "TLS: certificate verify failed"


def test_unreachable_server_is_retried_visibly_on_terminal():
    """On a terminal an unreachable server is retried, each attempt announced."""
    client = ServicedClient(interactive=True)
    client.endpoint.refuse()
    assert client.view.statuses == [
        "cannot connect to 127.0.0.1:55555 (Connection refused); retrying in 2s"
    ]
    client.clock.advance(2.0)
    assert len(client.endpoint.attempts) == 2
    assert result_of(client.session.finished) is None


def test_stopping_the_service_after_the_session_ends_stops_retrying():
    """Once the session is over and the service stopped, no more attempts are made."""
    client = ServicedClient(interactive=True)
    client.endpoint.refuse()
    client.session.leave()
    client.service.stopService()
    client.clock.advance(60)
    assert len(client.endpoint.attempts) == 1


# The input line


def test_short_input_is_shown_whole_with_the_cursor_in_place():
    """Input that fits is shown whole; the cursor stands before the character it is on."""
    shown = visible_input(list("hello"), 2, 20)
    assert (shown.text, shown.cursor_back) == ("hello", 3)


def test_long_input_scrolls_to_keep_the_cursor_in_view():
    """Input wider than the row shows the part that ends at the cursor."""
    chars = list("abcdefghijklmnopqrstuvwxyz")
    shown = visible_input(chars, len(chars), 10)
    assert shown.text == "rstuvwxyz"
    assert shown.cursor_back == 0


def test_wide_characters_take_two_columns():
    """CJK characters count double; accented letters count once."""
    assert text_width("日本") == 4
    assert text_width("é") == 1
    assert visible_input(list("日本語"), 3, 5).text == "本語"
    assert visible_input(list("日本語"), 3, 4).text == "語"


# Colours and timestamps


def test_plain_style_has_time_and_no_escape_codes():
    """Without colour a line is ``HH:MM`` and the line, with no escape codes."""
    shown = LineStyle(colour=False).line("<bob> hi", 0.0)
    assert re.fullmatch(r"\d\d:\d\d <bob> hi", shown)


def test_colour_style_keeps_the_text():
    """With colour, the text of the line is unchanged once escape codes are removed."""
    shown = LineStyle(colour=True).line("* bob waves", 0.0)
    assert ESCAPE.search(shown)
    assert ESCAPE.sub("", shown)[6:] == "* bob waves"


def test_server_cannot_send_escape_sequences_to_the_terminal():
    """Control characters and escape sequences from the server are removed."""
    shown = LineStyle(colour=False).line("<bob> \x1b[2Jgotcha\x07", 0.0)
    assert shown.endswith("<bob> gotcha")


def test_nickname_colour_is_stable_and_ignores_case():
    """A nickname always gets the same colour, whatever its case."""
    assert nick_colour("Alice") == nick_colour("alice")


# Options


def test_defaults_are_localhost_55555():
    """No arguments: 127.0.0.1 port 55555, colours on."""
    options = parse_options([], {})
    assert (options.host, options.port, options.endpoint, options.colour) == (
        "127.0.0.1", 55555, None, True,
    )


def test_host_may_be_an_endpoint_string():
    """A HOST like ``unix:/path`` is taken as a Twisted endpoint string."""
    assert parse_options(["unix:/tmp/chat.sock"], {}).endpoint == "unix:/tmp/chat.sock"
    assert parse_options(["::1", "5000"], {}).endpoint is None


def test_no_color_environment_variable_turns_colours_off():
    """NO_COLOR set to anything turns colours off, as --no-color does."""
    assert parse_options([], {"NO_COLOR": "1"}).colour is False
    assert parse_options(["--no-color"], {}).colour is False


def test_tls_no_verify_needs_tls(capsys):
    """--tls-no-verify without --tls is a usage error."""
    with pytest.raises(SystemExit) as stopped:
        parse_options(["--tls-no-verify"], {})
    assert stopped.value.code == 2
    assert "--tls-no-verify goes with --tls" in capsys.readouterr().err


def test_address_names_the_server_for_messages():
    """The address in messages is HOST:PORT, or the endpoint string."""
    assert ClientOptions(host="::1", port=5000).address == "[::1]:5000"
    assert ClientOptions(endpoint="unix:/s").address == "unix:/s"


# Pipe mode's standard input and output


class PipeUnderTest:
    """PipeIO on in-memory stdio, its session connected to a fake server."""

    def __init__(self, nick: str | None = "bot") -> None:
        self.errors = io.StringIO()
        self.pipe = PipeIO(self.errors)
        self.session = Session(
            self.pipe, Clock(), address="127.0.0.1:55555", nick=nick, interactive=False
        )
        self.pipe.session = self.session
        self.stdio = StringTransport()
        self.pipe.makeConnection(self.stdio)
        self.server = FakeServer(self.session)

    def printed(self) -> str:
        output: bytes = self.stdio.value()
        return output.decode()


def test_pipe_prints_received_lines_without_cr():
    """Each line from the server is printed with a plain LF."""
    pipe = PipeUnderTest()
    pipe.server.say("*** Welcome, bot! 1 user online.", "<bob> hi")
    assert pipe.printed() == "*** Welcome, bot! 1 user online.\n<bob> hi\n"


def test_pipe_sends_a_last_line_without_newline_then_quits():
    """Input that does not end with a newline still has its last line sent."""
    pipe = PipeUnderTest()
    pipe.server.say("*** Welcome, bot! 1 user online.")
    pipe.server.received()
    pipe.pipe.dataReceived(b"one\r\ntwo")
    pipe.pipe.readConnectionLost()
    assert pipe.server.received() == ["one", "two", "/quit"]


def test_pipe_reports_its_own_problems_on_stderr():
    """What the client itself has to say goes to stderr, named, not to stdout."""
    pipe = PipeUnderTest()
    pipe.server.say('!!! nickname "bot" is taken', GREETING[-1])
    assert pipe.errors.getvalue() == 'tcpchat-client: nickname "bot" is taken\n'
    assert pipe.printed() == ""


def test_pipe_prints_the_servers_refusal_of_a_line_as_it_came():
    """A refused line is reported on stdout by the server's own ``!!!`` line, nothing more."""
    pipe = PipeUnderTest()
    pipe.server.say("*** Welcome, bot! 1 user online.")
    pipe.pipe.dataReceived(b"x" * 3000 + b"\n")
    pipe.server.say("!!! line too long (3000 bytes; the limit is 2048 bytes): it was not sent")
    assert pipe.printed().splitlines()[-1] == (
        "!!! line too long (3000 bytes; the limit is 2048 bytes): it was not sent"
    )
    assert pipe.errors.getvalue() == ""


def test_user_typing_ids_sees_its_answer_and_acks_stay_in_step():
    """The user's own /ids is a command like any: its answer is shown; the barrier's is not."""
    client, server = joined("alice")
    for line in ("/ids", "hello"):
        client.session.user_line(line)
    assert server.received() == ["/ids", "/ids", "hello"]
    server.say(IDS_ON, IDS_ON, "@id=3")
    assert client.view.lines.count(IDS_ON) == 1
    assert client.view.own == ["<alice> hello"]


def test_pipe_lets_go_of_output_nobody_reads_any_more():
    """A bot whose output reader went away can still finish (and so exit), not hang."""
    pipe = PipeUnderTest()
    pipe.pipe.writeConnectionLost()
    pipe.pipe.close()
    assert pipe.pipe.closed.called


# The terminal UI, on an in-memory terminal


class _CursorPositionParser(insults.ClientProtocol.ControlSequenceParser):
    def H(self, proto, handler, buf):
        """ESC [ ROW ; COLUMN H, which insults' own emulator takes for ESC [ H."""
        row, _, column = buf.partition(b";")
        handler.cursorPosition(int(column or 1) - 1, int(row or 1) - 1)


class Emulator(insults.ClientProtocol):
    """A terminal emulator for the tests, which knows where ESC [ ROW ; COLUMN H goes."""

    controlSequenceParser = _CursorPositionParser()


class ScreenUnderTest:
    """A ChatTerminal joined as alice, whose output is rendered by an emulated terminal."""

    def __init__(self, width: int = 60, height: int = 24) -> None:
        self.clock = clock = Clock()
        self.width, self.height = width, height
        self.chat_terminal = ChatTerminal(LineStyle(colour=False), clock, width, height)
        self.session = Session(
            self.chat_terminal, clock, address="test", nick="alice", interactive=True
        )
        self.chat_terminal.session = self.session
        self.stdio = StringTransport()
        self.keyboard = terminal_protocol(self.chat_terminal)
        self.keyboard.makeConnection(self.stdio)
        self.server = FakeServer(self.session)
        self.server.say("*** Welcome, alice! 1 user online.", *QUIET_ANSWERS)
        self.server.received()

    def type(self, keys: bytes) -> None:
        self.keyboard.dataReceived(keys)

    def screen(self) -> list[str]:
        """Every row of the emulated screen, without trailing blanks."""
        screen = helper.TerminalBuffer()
        screen.width, screen.height = self.width, self.height
        emulator = Emulator(lambda: screen)
        emulator.makeConnection(StringTransport())
        # insults' emulator takes ESC [ ? 2004 l (bracketed paste off) for a broken mode.
        shown = self.stdio.value().replace(b"\x1b[?2004h", b"").replace(b"\x1b[?2004l", b"")
        emulator.dataReceived(shown)
        return [row.rstrip() for row in bytes(screen).decode().split("\n")]

    def rows(self) -> list[str]:
        """The non-empty rows above the status line without their times, and the input line."""
        rows = self.screen()
        chat = [TIMESTAMP.sub("", row) for row in rows[:-2] if row.strip()]
        return [*chat, rows[-1]]

    def status_row(self) -> str:
        return self.screen()[-2]


def test_incoming_message_appears_above_what_is_being_typed():
    """A message arriving while typing is shown above; the typed text stays as it was."""
    screen = ScreenUnderTest()
    screen.type(b"half typed")
    screen.server.say("<bob> hello alice")
    assert screen.rows()[-2:] == ["<bob> hello alice", "alice> half typed"]


def test_enter_sends_the_line_and_shows_it_as_own_message():
    """Enter sends the edited line and shows it as ``<alice> ...``."""
    screen = ScreenUnderTest()
    screen.type(b"helo\x1b[D\x1b[Dl\r")
    assert screen.server.received() == ["hello"]
    screen.server.say("@id=1")
    assert screen.rows()[-2:] == ["<alice> hello", "alice>"]


def test_multibyte_characters_are_sent_as_utf8():
    """UTF-8 typed byte by byte is assembled into characters and sent intact."""
    screen = ScreenUnderTest()
    for byte in "é 日本".encode():
        screen.type(bytes([byte]))
    screen.type(b"\x7f\r")
    assert screen.server.received() == ["é 日"]


def test_up_arrow_recalls_the_previous_line():
    """History: Up brings back the last line sent."""
    screen = ScreenUnderTest()
    screen.type("dé jà\r".encode())
    screen.type(b"\x1b[A\r")
    assert screen.server.received() == ["dé jà", "dé jà"]


def test_ctrl_d_on_empty_line_leaves():
    """Ctrl-D on an empty line sends ``/quit``."""
    screen = ScreenUnderTest()
    screen.type(b"\x04")
    assert screen.server.received() == ["/quit"]


def test_ctrl_c_leaves_even_with_text_typed():
    """Ctrl-C leaves at once, whatever is on the input line."""
    screen = ScreenUnderTest()
    screen.type(b"unsent\x03")
    assert screen.server.received() == ["/quit"]


def test_closing_does_not_clear_the_screen():
    """Leaving removes only the status and input lines: the conversation stays on screen."""
    screen = ScreenUnderTest()
    screen.server.say("<bob> remember me")
    screen.chat_terminal.close()
    assert b"\x1bc" not in screen.stdio.value()
    assert b"\x1b[2J" not in screen.stdio.value()
    rows = screen.screen()
    assert rows[-2:] == ["", ""]
    assert TIMESTAMP.sub("", rows[-3]) == "<bob> remember me"


# Own lines follow what the server accepted, in its order


def test_refused_message_is_shown_as_refused_with_the_servers_reason():
    """A message the server refuses is never shown as said: it is shown refused, with why."""
    client, server = joined("alice")
    too_long = "!!! line too long (3000 bytes; the limit is 2048 bytes): it was not sent"
    client.session.user_line("x" * 3000)
    client.session.user_line("short")
    server.say(too_long, "@id=9")
    assert client.view.refused == [(f"<alice> {'x' * 3000}", too_long)]
    assert client.view.own == ["<alice> short"]
    assert too_long not in client.view.lines


def test_own_lines_are_shown_in_the_servers_order():
    """Own lines appear where the server put them among the others' lines."""
    client, server = joined("alice")
    client.session.user_line("first")
    client.session.user_line("second")
    server.say("@id=1", "<bob> between")
    assert client.view.own == ["<alice> first"]
    assert client.view.lines[-1] == "<bob> between"
    server.say("@id=3")
    assert client.view.own == ["<alice> first", "<alice> second"]


def test_message_after_an_unknown_command_is_not_taken_for_refused():
    """A command's error answers the command; the message after it is still acknowledged."""
    client, server = joined("alice")
    client.session.user_line("/dance")
    client.session.user_line("hello")
    assert server.received() == ["/dance", "/ids", "hello"]
    unknown = "!!! unknown command /dance; type /help for the list of commands"
    server.say(unknown, IDS_ON)
    server.say("@id=4")
    assert client.view.lines[-1] == unknown
    assert IDS_ON not in client.view.lines
    assert client.view.own == ["<alice> hello"]
    assert client.view.refused == []


def test_refused_message_after_a_command_is_shown_refused():
    """After a command's answer, an error answers the message that follows it."""
    client, server = joined("alice")
    client.session.user_line("/who")
    client.session.user_line("y" * 3000)
    too_long = "!!! line too long (3000 bytes): it was not sent"
    server.say("*** 1 user in lobby: alice", IDS_ON, too_long)
    assert client.view.lines[-1] == "*** 1 user in lobby: alice"
    assert client.view.refused == [(f"<alice> {'y' * 3000}", too_long)]


def test_nickname_change_inside_a_paste_names_each_line_as_the_server_did():
    """Lines pasted around a /nick show under the nickname the server gave each one."""
    client, server = joined("alice")
    for line in ("before", "/nick alicia", "after"):
        client.session.user_line(line)
    assert server.received() == ["before", "/nick alicia", "/ids", "after"]
    server.say("@id=1", "*** alice is now known as alicia", IDS_ON, "@id=2")
    assert client.view.own == ["<alice> before", "<alicia> after"]


def test_refused_nickname_change_inside_a_paste_keeps_the_old_name():
    """A /nick refused in the middle of a paste leaves the lines after it under the old name."""
    client, server = joined("alice")
    for line in ("/nick bob", "after"):
        client.session.user_line(line)
    server.say('!!! nickname "bob" is taken', IDS_ON, "@id=2")
    assert client.view.own == ["<alice> after"]
    assert client.view.nick == "alice"


def test_line_typed_offline_is_shown_after_the_missed_messages():
    """A line typed during an outage is shown after the catch-up, where the server put it."""
    client, server = joined("alice")
    server.close()
    client.session.user_line("back again")
    server = client.connect()
    assert server.received() == ["/resume lobby 0", "alice"]
    server.say("*** Welcome, alice! 1 user online.")
    assert server.received() == [*QUIET, "back again"]
    server.say(
        "*** history of lobby, last message:",
        "@id=3 [2026-11-28 14:02Z] <bob> meanwhile",
        "*** end of history",
        "@id=4",
    )
    assert client.view.own == ["<alice> back again"]
    assert client.view.lines[-3:] == [
        "*** Welcome, alice! 1 user online.",
        "[2026-11-28 14:02Z] <bob> meanwhile",
        "*** end of missed messages",
    ]
    marker = UnreadMarker(1, "lobby", reconnected=True, maybe_more=False)
    assert client.view.unread == [(marker, len(client.view.lines) - 2)]


def test_own_message_is_shown_as_the_server_relays_it():
    """Blank runs are one space for the others (the server's rule), and so in one's own view;
    blank fillers alone, which the server would drop without an ack, are not sent."""
    client, server = joined("alice")
    client.session.user_line("so     far\u3000\u3000away")
    client.session.user_line("\u2800\u2800")
    client.session.user_line("/me  waves   twice")
    assert server.received() == ["so     far\u3000\u3000away", "/me  waves   twice"]
    server.say("@id=1", "@id=2")
    assert client.view.own == ["<alice> so far away", "* alice waves twice"]


def test_control_characters_alone_are_not_sent():
    """A line the server would ignore (empty once cleaned) is not sent: acks stay in step."""
    client, server = joined("alice")
    client.session.user_line("\x01\x02")
    assert server.received() == []


# /nick with an invalid name


def test_invalid_nickname_change_is_explained_and_not_sent():
    """``/nick bad name`` says why the name is invalid, rather than the usage line."""
    client, server = joined("alice")
    client.session.user_line("/nick bad name")
    assert server.received() == []
    (error,) = client.view.errors
    assert error.startswith('nickname "bad name" is invalid')
    assert error.endswith("; your nickname is still alice")
    client.session.user_line("/nick " + "a" * 21)
    assert "at most 20" in client.view.errors[-1]


# Nickname colours


def test_256_colour_terminal_gets_a_large_palette_without_notice_or_error_colours():
    """With 256 colours there are many nickname colours, none the notices' or errors'."""
    assert parse_options([], {"TERM": "xterm-256color"}).colours_256
    assert parse_options([], {"TERM": "xterm", "COLORTERM": "truecolor"}).colours_256
    assert not parse_options([], {"TERM": "xterm"}).colours_256
    palette = palette_for(True)
    assert len(set(palette)) >= 100
    forbidden = {"36", "38;5;6", "38;5;14", "31", "1;31", "38;5;1", "38;5;9", "38;5;196"}
    for basic in (False, True):
        assert not forbidden & set(palette_for(basic))
    nicks = [f"user{number}" for number in range(30)]
    assert len({nick_colour(nick, palette) for nick in nicks}) > len(
        {nick_colour(nick, palette_for(False)) for nick in nicks}
    )


def test_no_nickname_has_the_colour_of_notices():
    """No nickname, on any terminal, is painted like a ``***`` notice or a ``!!!`` error."""
    for palette in (palette_for(False), palette_for(True)):
        style = LineStyle(colour=True, palette=palette)
        for number in range(300):
            shown = style.line(f"<user{number}> hi", 0.0)
            assert "\x1b[36m<" not in shown and "\x1b[1;31m<" not in shown


# Replayed lines


def test_replayed_line_shows_one_time_marked_as_past():
    """A history line shows the time it was said, in brackets, not the time it arrived too."""
    said = calendar.timegm((2026, 12, 2, 3, 56, 0))
    shown = LineStyle(colour=False).line("[2026-12-02 03:56Z] <dave> hi", said + 600)
    assert shown == time.strftime("[%H:%M]", time.localtime(said)) + " <dave> hi"
    older = LineStyle(colour=False).line("[2026-12-02 03:56Z] <dave> hi", said + 3 * 86400)
    assert older == time.strftime("[%m-%d %H:%M]", time.localtime(said)) + " <dave> hi"
    coloured = ESCAPE.sub("", LineStyle(colour=True).line("[2026-12-02 03:56Z] <dave> hi", said))
    assert coloured.count(":") == 1


def test_rejoin_marks_the_missed_messages_unread_with_their_count():
    """After a reconnect the replay starts at an unread marker counting the missed messages,
    not at a join-time history header, and its end says it ends them."""
    client, server = joined("alice")
    server.say("@id=7 <bob> seen")
    server.close()
    server = client.connect()
    server.say("*** Welcome, alice! 1 user online.")
    shown_before = len(client.view.lines)
    server.say(
        "*** history of lobby, last 12 messages:",
        *[f"@id={n} [2026-11-28 14:02Z] <bob> {n}" for n in range(8, 20)],
        "*** end of history",
    )
    assert client.view.unread == [(UnreadMarker(12, "lobby", True, False), shown_before)]
    assert "*** history of lobby, last 12 messages:" not in client.view.lines
    assert client.view.lines[-1] == "*** end of missed messages"


def test_rejoining_a_room_marks_where_the_messages_not_yet_seen_start():
    """Back in a room left earlier, the marker goes before the first message newer than the
    last one seen there, with the count of those from there on."""
    client, server = joined("alice")
    server.say("@id=3 <bob> seen in the lobby")
    client.session.user_line("/join dev")
    server.say("*** you are now in dev with 0 others", "@id=4 <carl> seen in dev")
    client.session.user_line("/join lobby")
    server.say(
        "*** you are now in lobby with 1 other",
        "*** history of lobby, last 3 messages:",
        "@id=3 [2026-11-28 14:02Z] <bob> seen in the lobby",
        "@id=5 [2026-11-28 14:03Z] <bob> new 1",
        "@id=6 [2026-11-28 14:04Z] <bob> new 2",
        "*** end of history",
    )
    marker, shown_before = client.view.unread[0]
    assert marker == UnreadMarker(2, "lobby", reconnected=False, maybe_more=False)
    assert client.view.lines[shown_before - 1].endswith("<bob> seen in the lobby")
    assert client.view.lines[shown_before].endswith("<bob> new 1")
    assert len(client.view.unread) == 1


def test_no_marker_for_a_first_visit_nor_for_history_asked_nor_when_nothing_is_new():
    """A room never joined before, /history in the room one is in, and a room whose
    replay holds only messages already seen get no unread marker."""
    client, server = joined("alice")
    client.session.user_line("/join dev")
    server.say(
        "*** you are now in dev with 1 other",
        "*** history of dev, last message:",
        "@id=2 [2026-11-28 14:02Z] <carl> before you came",
        "*** end of history",
    )
    client.session.user_line("/history 1")
    server.say(
        "*** history of dev, last message:", "@id=2 [2026-11-28 14:02Z] <carl> before you came",
        "*** end of history",
    )
    client.session.user_line("/join lobby")
    server.say("*** you are now in lobby with 0 others")
    client.session.user_line("/join dev")
    server.say(
        "*** you are now in dev with 1 other",
        "*** history of dev, last message:",
        "@id=2 [2026-11-28 14:02Z] <carl> before you came",
        "*** end of history",
    )
    assert client.view.unread == []


def test_join_time_history_keeps_its_header():
    """The first join's history is the room's recent history, and says so."""
    client = Client("alice")
    server = client.connect()
    server.say("*** Welcome, alice! 1 user online.", "*** history of lobby, last message:")
    assert client.view.lines[-1] == "*** history of lobby, last message:"


# A server that never greets


def test_connection_without_greeting_is_given_up_and_retried_with_backoff():
    """A server that accepts and says nothing is left after the greeting timeout, and retried
    ever later, as for a refused connection."""
    delays = []

    def policy(attempt: int) -> float:
        delays.append(attempt)
        return float(attempt)

    client = Client("alice")
    endpoint = ScriptedEndpoint()
    keep_connected(client.session, endpoint, client.clock, retry_policy=policy).startService()
    for tries in (2, 3, 4):
        protocol, transport = endpoint.accept()
        client.clock.advance(GREETING_TIMEOUT - 0.1)
        assert not transport.disconnecting
        client.clock.advance(0.1)
        assert transport.disconnecting
        protocol.connectionLost(Failure(ConnectionLost()))
        assert client.view.statuses[-1] == (
            f"no greeting from 127.0.0.1:55555 within 10s; retrying in {tries}s"
        )
        client.clock.advance(tries)
    assert delays == [2, 3, 4]


def test_greeting_cancels_the_greeting_timeout():
    """A server that greets in time is kept, however long the nickname takes."""
    client = Client(None)
    server = client.connect()
    server.say(GREETING[0])
    client.clock.advance(GREETING_TIMEOUT * 3)
    assert not server.transport.disconnecting


def test_silent_server_ends_pipe_mode_with_status_1():
    """In pipe mode a server that never greets at start is an error, status 1."""
    client = Client("bot", interactive=False)
    server = client.connect()
    client.clock.advance(GREETING_TIMEOUT)
    assert server.transport.disconnecting
    server.connection.connectionLost(Failure(ConnectionLost()))
    assert client.view.errors == [
        "cannot chat on 127.0.0.1:55555: no greeting from 127.0.0.1:55555 within 10s"
    ]


def test_greeting_timeout_is_an_option():
    """--greeting-timeout sets it; it must be a positive number."""
    assert parse_options([], {}).greeting_timeout == GREETING_TIMEOUT
    assert parse_options(["--greeting-timeout", "2.5"], {}).greeting_timeout == 2.5
    with pytest.raises(SystemExit):
        parse_options(["--greeting-timeout", "0"], {})


# A certificate that cannot be verified


UNTRUSTED = SSL.Error([("SSL routines", "", "certificate verify failed")])


def test_untrusted_certificate_says_what_to_do_and_backs_off_on_terminal():
    """A certificate that cannot be verified is explained once, with the ways out, and the
    retries back off instead of coming every 2s."""
    client = ServicedClient("alice")
    for _ in range(3):
        protocol, _ = client.endpoint.accept()
        protocol.connectionLost(Failure(UNTRUSTED))
        client.clock.advance(30)
    assert client.session.unwelcomed_connections == 3
    advice = [status for status in client.view.statuses if "--tls-no-verify" in status]
    assert len(advice) == 1 and "trustRoots" in advice[0]
    assert client.view.statuses[-1].startswith(
        "cannot connect to 127.0.0.1:55555 (TLS: certificate verify failed); retrying in"
    )


def test_untrusted_certificate_ends_pipe_mode_with_advice():
    """In pipe mode an untrusted certificate is an error, status 1, saying what to do."""
    client = Client("bot", interactive=False)
    server = client.connect()
    server.connection.connectionLost(Failure(UNTRUSTED))
    assert len(client.view.errors) == 1
    assert "certificate verify failed" in client.view.errors[0]
    assert "--tls-no-verify" in client.view.errors[0]
    assert result_of(client.session.finished) == EXIT_UNREACHABLE


def test_retry_delay_grows_across_connections_that_end_before_the_welcome():
    """Connections that open and fail before the welcome count as failed attempts."""
    attempts = []

    def policy(attempt: int) -> float:
        attempts.append(attempt)
        return 1.0

    client = Client("alice")
    endpoint = ScriptedEndpoint()
    service = keep_connected(client.session, endpoint, client.clock, retry_policy=policy)
    service.startService()
    for _ in range(3):
        protocol, _ = endpoint.accept()
        protocol.connectionLost(Failure(UNTRUSTED))
        client.clock.advance(1.0)
    protocol, _ = endpoint.accept()
    protocol.dataReceived(WELCOME)
    protocol.connectionLost(Failure(ConnectionLost()))
    assert attempts == [2, 3, 4, 1]


# Rows of a long line, and redrawing after a resize


def test_long_line_is_cut_into_indented_rows_never_wider_than_the_terminal():
    """Every row after the first starts with blanks, so no tail can pass for a line of its own."""
    rows = fold("12:00 <mallory> " + "." * 64 + "*** alice has left", 80)
    assert rows == ["12:00 <mallory> " + "." * 64, "      *** alice has left"]
    coloured = fold("\x1b[2m12:00\x1b[0m " + "日本" * 30, 20)
    assert all(text_width(ESCAPE.sub("", row)) <= 20 for row in coloured)
    assert all(row.startswith("      ") for row in coloured[1:])
    assert "".join(ESCAPE.sub("", row).strip() for row in coloured) == "12:00 " + "日本" * 30


def test_rows_end_at_a_space_near_the_end():
    """A row is cut at its last space when that is near its end, not within the word."""
    assert fold("aaaa bbbb cccc dddd", 12, indent=2) == ["aaaa bbbb", "  cccc dddd"]


def test_resize_draws_the_screen_again_from_the_lines_kept():
    """After a resize the screen is drawn from the top again, from the lines kept, cut at the
    new width: nothing of the old rows is left, whatever the terminal did with them."""
    screen = ScreenUnderTest(width=80, height=8)
    for number in range(10):
        screen.server.say(f"<bob> line {number} " + "x" * 30)
    screen.type(b"y" * 60)
    screen.stdio.clear()
    screen.width = 30
    screen.chat_terminal.terminalSize(30, 8)
    drawn = screen.stdio.value()
    assert drawn.startswith(b"\x1b[1;1H\x1b[J")
    rows = screen.screen()
    assert rows[-1].startswith("alice> ") and rows[-1].endswith("y" * 20)
    assert rows[-2].startswith("[lobby]")
    assert rows[-3].startswith("      ") and "line 9" in rows[-4]
    assert all(len(row) <= 30 for row in rows)


# Registered nicknames: the password


PASSWORD_PROMPT = "*** alice is registered: type its password"
WRONG_PASSWORD = "!!! wrong password for alice"
ALICE_WELCOME = "*** Welcome, alice! You are in lobby; 1 online."


def asked_for_password(
    interactive: bool = True, password: str | None = None
) -> tuple[Client, FakeServer]:
    """A client as alice (registered) whose server has just asked for her password."""
    client = Client("alice", interactive, password)
    server = client.connect()
    assert server.received() == ["/ids", "alice"]
    server.say(*GREETING, IDS_ON, PASSWORD_PROMPT)
    return client, server


def test_password_prompt_and_commands_holding_passwords_are_recognised():
    """A notice naming a password asks for it; /register, /password, /unregister hold one."""
    assert asks_for_password("alice is registered: type its Password")
    assert not asks_for_password("alice has joined; passwords are nice")
    assert holds_password("/register s3cret") and holds_password("/PASSWORD old new")
    assert not holds_password("//register s3cret") and not holds_password("register me")
    assert masked("/Unregister s3cret") == "/Unregister ********"
    assert masked("/register") == "/register"
    assert masked("/msg bob hi") == "/msg bob hi"


def test_given_password_answers_the_prompt_and_the_welcome_follows():
    """With --password-file or TCPCHAT_PASSWORD the prompt is answered; the user is not asked."""
    client, server = asked_for_password(interactive=False, password="s3cret pass")
    assert server.received() == ["s3cret pass"]
    assert client.view.password_asked == 0
    server.say(ALICE_WELCOME)
    assert client.session.phase is Phase.CHATTING
    assert client.view.lines[-2:] == [PASSWORD_PROMPT, ALICE_WELCOME]
    assert "s3cret" not in client.view.everything_shown()


def test_terminal_asks_for_the_password_and_again_after_a_wrong_one():
    """On a terminal the user types it (hidden); a wrong one shows why and asks again."""
    client, server = asked_for_password()
    assert client.view.password_asked == 1
    assert client.view.lines[-1] == PASSWORD_PROMPT
    assert server.received() == []
    client.session.password_entered("wrong")
    assert server.received() == ["wrong"]
    server.say(WRONG_PASSWORD, PASSWORD_PROMPT)
    assert client.view.lines[-2:] == [WRONG_PASSWORD, PASSWORD_PROMPT]
    assert client.view.password_asked == 2
    assert client.view.nick_asked == 0
    client.session.password_entered("right")
    assert server.received() == ["right"]
    server.say(ALICE_WELCOME)
    assert client.session.phase is Phase.CHATTING
    assert "wrong" not in client.view.everything_shown().replace(WRONG_PASSWORD, "")


def test_wrong_given_password_is_forgotten_and_the_user_asked_on_terminal():
    """A wrong password from the file or environment is not sent again: the user is asked,
    on this connection and the next."""
    client, server = asked_for_password(password="stale")
    assert server.received() == ["stale"]
    server.say(WRONG_PASSWORD, PASSWORD_PROMPT)
    assert server.received() == []
    assert client.view.password_asked == 1
    server.close()
    server = client.connect()
    server.say(*GREETING, PASSWORD_PROMPT)
    assert server.received() == ["/ids", "alice"]
    assert client.view.password_asked == 2


def test_password_typed_while_the_server_judges_the_last_one_answers_its_next_prompt():
    """Attempts are throttled; a password typed meanwhile is sent when the prompt comes again."""
    client, server = asked_for_password()
    client.session.password_entered("first")
    client.session.password_entered("second")
    assert server.received() == ["first"]
    server.say(WRONG_PASSWORD, PASSWORD_PROMPT)
    assert server.received() == ["second"]
    assert client.view.password_asked == 1


def test_pipe_mode_without_a_password_says_how_to_give_one_and_exits_1():
    """Pipe mode cannot ask: it says the nickname needs a password and how, and ends with 1."""
    client, server = asked_for_password(interactive=False)
    assert client.view.errors == [
        'nickname "alice" needs a password: '
        "give it with --password-file FILE or in TCPCHAT_PASSWORD"
    ]
    assert server.received() == []
    assert server.transport.disconnecting
    server.close()
    assert result_of(client.session.finished) == EXIT_PASSWORD == 1


def test_pipe_mode_with_a_wrong_password_exits_1_with_the_servers_reason():
    """A wrong password in pipe mode is not tried again: the server's reason, status 1."""
    client, server = asked_for_password(interactive=False, password="wrong")
    assert server.received() == ["wrong"]
    server.say(WRONG_PASSWORD, PASSWORD_PROMPT)
    assert server.received() == []
    assert client.view.errors == ["wrong password for alice"]
    server.close()
    assert result_of(client.session.finished) == EXIT_PASSWORD


def test_rejoining_answers_the_prompt_with_the_password_typed_this_session():
    """After a lost connection the password typed before is sent again, without asking."""
    client, server = asked_for_password()
    client.session.password_entered("typed once")
    server.say(ALICE_WELCOME)
    server.close()
    server = client.connect()
    assert server.received() == [f"/resume lobby 0 {TOKEN}", "alice"]
    shown = len(client.view.lines)
    server.say(*GREETING, "*** you will join lobby after message 0", PASSWORD_PROMPT)
    assert server.received() == ["typed once"]
    assert client.view.password_asked == 1
    server.say(ALICE_WELCOME)
    assert client.view.lines[shown:] == []
    assert client.view.statuses[-1] == "reconnected: back in the room as alice"


def test_pipe_mode_rejoining_answers_the_prompt_with_the_given_password():
    """A bot given its password logs in again with it on every reconnection."""
    client, server = asked_for_password(interactive=False, password="from env")
    server.say(ALICE_WELCOME)
    for _ in range(2):
        server.close()
        server = client.connect()
        server.say(*GREETING, PASSWORD_PROMPT)
        assert server.received()[-1] == "from env"
        server.say(ALICE_WELCOME)
    assert client.view.errors == []


def test_a_greeting_that_names_a_password_is_not_a_password_prompt():
    """Only after the line asking for a nickname does a notice naming a password ask for one."""
    client = Client("alice", interactive=False, password="s3cret")
    server = client.connect()
    server.received()
    server.say("*** Welcome to tcpchat. Never tell anyone your password!", GREETING[-1])
    assert server.received() == []
    assert client.view.errors == []
    server.say(ALICE_WELCOME)
    assert client.session.phase is Phase.CHATTING


def test_commands_holding_passwords_are_sent_and_their_arguments_never_shown():
    """``/register PASSWORD`` goes to the server as typed; nothing shows the password."""
    client, server = joined("alice")
    client.session.user_line("/register s3cret")
    client.session.user_line("hello")
    assert server.received() == ["/register s3cret", "/ids", "hello"]
    server.say("*** alice is registered now", IDS_ON, "@id=1")
    assert client.view.own == ["<alice> hello"]
    assert "s3cret" not in client.view.everything_shown()


def test_password_options_come_from_a_file_or_the_environment(tmp_path):
    """--password-file's first line is the password, else TCPCHAT_PASSWORD; never in repr."""
    password_file = tmp_path / "password"
    password_file.write_text("pass with spaces \nsecond line\n")
    from_file = parse_options(["--password-file", str(password_file)], {})
    assert from_file.password == "pass with spaces "
    assert "pass with" not in repr(from_file)
    assert parse_options([], {"TCPCHAT_PASSWORD": "env pass"}).password == "env pass"
    both = parse_options(["--password-file", str(password_file)], {"TCPCHAT_PASSWORD": "env"})
    assert both.password == "pass with spaces "
    assert parse_options([], {"TCPCHAT_PASSWORD": ""}).password is None
    assert parse_options([], {}).password is None


@pytest.mark.parametrize("content", [None, "", "\nsecond line\n"])
def test_password_file_that_gives_no_password_is_a_usage_error(tmp_path, capsys, content):
    """A password file that is missing or has an empty first line stops the client, status 2."""
    password_file = tmp_path / "password"
    if content is not None:
        password_file.write_text(content)
    with pytest.raises(SystemExit) as stopped:
        parse_options(["--password-file", str(password_file)], {})
    assert stopped.value.code == 2
    assert f"password file {password_file}" in capsys.readouterr().err


class LoginScreen(ScreenUnderTest):
    """A ChatTerminal as alice whose server has just asked for her password."""

    def __init__(self) -> None:
        self.clock = clock = Clock()
        self.width, self.height = 60, 24
        self.chat_terminal = ChatTerminal(LineStyle(colour=False), clock, 60)
        self.session = Session(
            self.chat_terminal, clock, address="test", nick="alice", interactive=True
        )
        self.chat_terminal.session = self.session
        self.stdio = StringTransport()
        self.keyboard = terminal_protocol(self.chat_terminal)
        self.keyboard.makeConnection(self.stdio)
        self.server = FakeServer(self.session)
        self.server.say(*GREETING, PASSWORD_PROMPT)
        self.server.received()


def test_password_is_typed_hidden_and_sent():
    """At the password prompt each character shows as ``*``; Enter sends the password."""
    screen = LoginScreen()
    assert screen.rows()[-1] == "password:"
    screen.type(b"s3cr\x7fret")
    assert screen.rows()[-1] == "password: ******"
    screen.type(b"\r")
    assert screen.server.received() == ["s3cret"]
    assert "s3cr" not in "\n".join(screen.rows())
    assert b"s3cr" not in screen.stdio.value()


def test_input_stays_hidden_until_the_server_lets_the_user_in():
    """After Enter the server may take seconds: what is typed meanwhile stays hidden."""
    screen = LoginScreen()
    screen.type(b"wrong\r")
    screen.type(b"again")
    assert screen.rows()[-1] == "password: *****"
    screen.server.say(WRONG_PASSWORD, PASSWORD_PROMPT)
    screen.type(b"\r")
    assert screen.server.received() == ["wrong", "again"]
    screen.server.say(ALICE_WELCOME)
    screen.type(b"hi")
    assert screen.rows()[-1] == "alice> hi"
    assert b"again" not in screen.stdio.value()


def test_passwords_are_kept_out_of_the_input_history():
    """Neither the password typed at the prompt nor a /register line can be recalled."""
    screen = LoginScreen()
    screen.type(b"s3cret\r")
    screen.server.say(ALICE_WELCOME)
    screen.server.received()
    screen.type(b"hello\r/register s3cret\r")
    screen.type(b"/password s3cret n3w")
    screen.type(b"\x1b[A")  # Up: the line being typed is not kept for Down either
    assert screen.rows()[-1] == "alice> hello"
    screen.type(b"\r")
    assert screen.chat_terminal.historyLines == [b"hello", b"hello"]
    assert screen.server.received() == ["hello", "/register s3cret", "/ids", "hello"]
    assert "s3cret" not in "\n".join(screen.rows()[:-1])


def test_history_is_out_of_reach_while_a_password_is_typed():
    """Up and Down do nothing at the password prompt: no recalled line, nothing kept."""
    screen = ScreenUnderTest()
    screen.type(b"hello\r")
    screen.server.close()
    screen.server = FakeServer(screen.session)
    screen.server.say(*GREETING, PASSWORD_PROMPT)
    screen.type(b"s3c\x1b[A\x1b[B")
    assert screen.rows()[-1] == "password: ***"
    assert screen.chat_terminal.historyLines == [b"hello"]
