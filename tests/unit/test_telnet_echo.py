"""The password prompt and telnet's echo: hidden for telnet peers, said to show for nc ones.

A telnet client stops showing what is typed when the server says WILL ECHO
(it then echoes itself, which tcpchat does not), and shows it again after
WONT ECHO. Only a peer that has sent a telnet command is sent one; an nc
user is told instead that the password shows as it is typed. The peer's
answers (DO ECHO, DONT ECHO) are consumed: they never reach the password
or get an answer that could start a negotiation loop.
"""

from __future__ import annotations

import pytest

from chat.domain.registry import FLUSH_DELAY
from chat.testing import Chat, TypedConnection
from tests.support.contract import fired

IAC = b"\xff"
WILL_ECHO = b"\xff\xfb\x01"
WONT_ECHO = b"\xff\xfc\x01"
DO_ECHO = b"\xff\xfd\x01"
DONT_ECHO = b"\xff\xfe\x01"
DO_SGA = b"\xff\xfd\x03"
"""What telnet sends first when it negotiates (``telnet HOST -PORT``)."""
FIRST_REPLY = b"\xff\xfd\x00\xff\xfc\x03"
"""The server's answer to it: DO BINARY (asked after any first command), WONT SGA."""
PASSWORD = "correcthorse"
SHOWS = "(it shows as you type)"


@pytest.fixture
def chat() -> Chat:
    chat = Chat(accounts=True, flood_rate=0, login_delay=0)
    assert chat.accounts is not None
    fired(chat.accounts.register("alice", PASSWORD))
    return chat


def sent(chat: Chat, connection: TypedConnection) -> bytes:
    """The bytes the server sent since the last call, once the reactor turn is over."""
    chat.clock.advance(FLUSH_DELAY)
    data: bytes = connection.transport.value()
    connection.transport.clear()
    return data


def text_lines(data: bytes, *commands: bytes) -> list[str]:
    """The lines of ``data`` once the telnet ``commands`` expected in it are taken out;
    any other telnet byte fails the test."""
    for command in commands:
        data = data.replace(command, b"", 1)
    assert IAC not in data, data
    return data.decode().split("\r\n")[:-1]


def receive(connection: TypedConnection, data: bytes) -> None:
    connection.protocol.dataReceived(data)


def telnet_at_prompt(chat: Chat) -> TypedConnection:
    """A telnet peer that negotiated and typed alice; the prompt has been read."""
    connection = chat.connect()
    receive(connection, DO_SGA + b"alice\r\n")
    sent(chat, connection)
    return connection


def nc_at_prompt(chat: Chat) -> TypedConnection:
    connection = chat.connect()
    receive(connection, b"alice\n")
    sent(chat, connection)
    return connection


def test_a_telnet_peer_is_sent_will_echo_with_the_prompt(chat: Chat) -> None:
    """After a telnet command from the peer, the prompt comes with WILL ECHO before it,
    and does not say the password shows."""
    connection = chat.connect()
    receive(connection, DO_SGA + b"alice\r\n")
    data = sent(chat, connection)
    assert data.count(WILL_ECHO) == 1
    assert data.index(WILL_ECHO) < data.index(b"password")
    [prompt] = text_lines(data, FIRST_REPLY, WILL_ECHO)
    assert SHOWS not in prompt


def test_an_nc_peer_gets_no_telnet_byte_and_is_told_the_password_shows(chat: Chat) -> None:
    """A peer that never sent IAC is never sent one: its prompt says the password shows."""
    connection = chat.connect()
    receive(connection, b"alice\n")
    data = sent(chat, connection)
    [prompt] = text_lines(data)
    assert prompt.startswith("*** ") and "password" in prompt and SHOWS in prompt
    receive(connection, PASSWORD.encode() + b"\n")
    data = sent(chat, connection)
    assert IAC not in data
    assert text_lines(data)[0].startswith("*** Welcome, alice!")


def test_wont_echo_follows_the_right_password(chat: Chat) -> None:
    """Once logged in, the telnet client is told to show what is typed again, once."""
    connection = telnet_at_prompt(chat)
    receive(connection, DO_ECHO + PASSWORD.encode() + b"\r\n")
    data = sent(chat, connection)
    assert data.count(WONT_ECHO) == 1
    assert WILL_ECHO not in data
    assert text_lines(data, WONT_ECHO)[0].startswith("*** Welcome, alice!")


def test_wont_echo_follows_nick_at_the_prompt(chat: Chat) -> None:
    """Leaving the prompt with /nick OTHER turns telnet's echo back on."""
    connection = telnet_at_prompt(chat)
    receive(connection, DO_ECHO + b"/nick bob\r\n")
    data = sent(chat, connection)
    assert data.count(WONT_ECHO) == 1
    assert text_lines(data, WONT_ECHO)[0].startswith("*** Welcome, bob!")


def test_echo_stays_off_after_a_wrong_password(chat: Chat) -> None:
    """A wrong password is answered with the prompt again, and no change of echo."""
    connection = telnet_at_prompt(chat)
    receive(connection, DO_ECHO + b"wronghorse\r\n")
    data = sent(chat, connection)
    refusal, prompt = text_lines(data)
    assert refusal.startswith("!!! ") and "password" in prompt


def test_the_prompt_after_a_wrong_password_does_not_tell_telnet_it_shows(chat: Chat) -> None:
    """The prompt asked again to a telnet peer whose echo is off says nothing of showing."""
    connection = telnet_at_prompt(chat)
    receive(connection, DO_ECHO + b"wronghorse\r\n")
    _, prompt = text_lines(sent(chat, connection))
    assert SHOWS not in prompt


def test_the_peers_answers_are_not_answered_nor_part_of_the_password(chat: Chat) -> None:
    """DO ECHO, even split across reads and in the middle of the password, and the DONT
    ECHO after WONT ECHO, produce no reply and leave the password whole."""
    connection = telnet_at_prompt(chat)
    receive(connection, b"correct\xff")
    receive(connection, b"\xfd")
    receive(connection, b"\x01horse\r\n")
    data = sent(chat, connection)
    assert text_lines(data, WONT_ECHO)[0].startswith("*** Welcome, alice!")
    receive(connection, DONT_ECHO)
    assert sent(chat, connection) == b""


def test_a_peer_refusing_echo_is_not_told_wont_echo(chat: Chat) -> None:
    """A telnet client that answers WILL ECHO with DONT ECHO kept its echo: nothing is
    undone after the login."""
    connection = telnet_at_prompt(chat)
    receive(connection, DONT_ECHO)
    assert sent(chat, connection) == b""
    receive(connection, PASSWORD.encode() + b"\r\n")
    data = sent(chat, connection)
    assert text_lines(data)[0].startswith("*** Welcome, alice!")


def test_echo_asked_for_by_the_peer_is_refused_outside_the_prompt(chat: Chat) -> None:
    """A DO ECHO the server did not offer gets WONT ECHO; a DONT ECHO gets nothing."""
    connection = chat.connect()
    receive(connection, DO_SGA)
    sent(chat, connection)
    receive(connection, DO_ECHO)
    assert sent(chat, connection) == WONT_ECHO
    receive(connection, DONT_ECHO)
    assert sent(chat, connection) == b""
