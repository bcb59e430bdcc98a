"""IRC clients of the in-memory server, for the IRC front end's unit tests.

:class:`IRCConnection` is the IRC twin of :class:`chat.testing.TypedConnection`:
an IRC client on a StringTransport, registered through the real
:class:`chat.irc.IRCFactory` of a :class:`chat.testing.Chat`. :class:`Clients`
makes them; :func:`with_accounts` and :func:`logged_in` give a server with
accounts and a client logged in to one; :func:`hash_cheaply` keeps their
password hashing fast.
"""

from __future__ import annotations

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from chat.accounts import passwords
from chat.domain.registry import FLUSH_DELAY
from chat.irc import IRCFactory
from chat.testing import Chat
from tests.support.contract import fired

PASSWORD = "correcthorse"


class IRCConnection:
    """An IRC client on a StringTransport: send lines, read the server's."""

    def __init__(self, chat: Chat, port: int, host: str = "127.0.0.1") -> None:
        self.chat = chat
        address = IPv4Address("TCP", host, port)
        self.transport = StringTransport(peerAddress=address)
        self.protocol = IRCFactory(chat.server).buildProtocol(address)
        self.protocol.makeConnection(self.transport)

    def send(self, *lines: str) -> None:
        """Send ``lines``, each with CRLF, in one read."""
        self.protocol.dataReceived("".join(line + "\r\n" for line in lines).encode())

    def received(self) -> list[str]:
        """Lines the server sent since the last call, once the reactor turn is over."""
        self.chat.clock.advance(FLUSH_DELAY)
        data = self.transport.value()
        self.transport.clear()
        assert data == b"" or data.endswith(b"\r\n"), data
        return [line.decode() for line in data.split(b"\r\n")[:-1]]

    def commands(self) -> list[str]:
        """The command (or numeric) of each line received, tags and source left out."""
        return [without_source(line).split(" ")[0] for line in self.received()]


def without_source(line: str) -> str:
    if line.startswith("@"):
        line = line.partition(" ")[2]
    return line.partition(" ")[2] if line.startswith(":") else line


class Clients:
    """IRC clients and line users of one server in memory."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat
        self._ports = iter(range(30000, 40000))

    def irc(self, nick: str | None = None, *caps: str, join: str = "#lobby") -> IRCConnection:
        """A new IRC client, registered as ``nick`` (with ``caps``) if it is given, then
        in ``join`` (none if empty)."""
        client = IRCConnection(self.chat, next(self._ports))
        if nick is not None:
            if caps:
                client.send("CAP LS 302", f"CAP REQ :{' '.join(caps)}", "CAP END")
            client.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
            if join:
                client.send(f"JOIN {join}")
            client.received()
        return client


def hash_cheaply(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passwords hashed with scrypt's lowest cost (for an autouse fixture)."""
    monkeypatch.setattr(passwords, "N", 2)
    monkeypatch.setattr(passwords, "R", 1)


def with_accounts() -> Chat:
    """A server with the accounts root (a server operator), alice and carol."""
    chat = Chat(accounts=True, flood_rate=0, login_delay=0, operators=("root",))
    assert chat.accounts is not None
    for name in ("root", "alice", "carol"):
        fired(chat.accounts.register(name, PASSWORD))
    return chat


def logged_in(chat: Chat, nick: str, *lines: str) -> IRCConnection:
    """An IRC client logged in to the account ``nick`` with PASS, after ``lines``."""
    client = Clients(chat).irc()
    client.send(f"PASS {PASSWORD}", f"NICK {nick}", f"USER {nick} 0 * :{nick}", *lines)
    assert client.commands()[0] == "001"
    return client
