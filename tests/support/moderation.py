"""Support for the moderation end-to-end tests: a server operator's account, a server that
names it, and clients connecting from the loopback address a test chooses.

The operator's account is made as an administrator makes it, with ``tcpchat-admin add``
(``/register`` refuses a name given to ``--operators``). On Linux every address of
127.0.0.0/8 is the loopback, so a client socket bound to 127.0.0.2 reaches a server on
127.0.0.1 from an address of its own, which a ban can name apart from the operator's.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.support import servers
from tests.support.checked import Client
from tests.support.servers import LINE_TIMEOUT, RunningServer

OPERATOR = "root"
PASSWORD = "correcthorse"
IPV6_LOOPBACK = "::1"


def add_account(db: Path, nick: str, password: str = PASSWORD) -> None:
    """``tcpchat-admin --db DB add NICK`` with ``password`` (the tests' one by default)."""
    servers.add_account(db, nick, password)


def server_arguments(db: Path, *extra: str) -> list[str]:
    """Options of a server keeping everything in ``db``, ``root`` its operator, no history
    replayed and no wait after a wrong password."""
    return [
        "--db", str(db), "--operators", OPERATOR, "--history", "0", "--login-delay", "0",
        *extra,
    ]


def ipv6_loopback_port() -> int | None:
    """A free TCP port on ::1, or None if this machine has no IPv6 loopback."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind((IPV6_LOOPBACK, 0))
            return int(probe.getsockname()[1])
    except OSError:
        return None


def ipv6_listener(port: int) -> list[str]:
    """The options that make a server listen on ::1 too."""
    return ["--listen", f"tcp6:{port}:interface=\\:\\:1"]


def wait_for_listeners(server: RunningServer, count: int) -> None:
    """Wait until ``server`` has said it listens on ``count`` endpoints."""
    deadline = time.monotonic() + LINE_TIMEOUT
    while server.log().count("tcpchat listening on") < count:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)


class ClientFrom(Client):
    """A :class:`Client` whose socket connects from ``source`` (None: wherever the system
    chooses)."""

    def __init__(self, host: str, port: int, source: str | None = None) -> None:
        self.sock = socket.create_connection(
            (host, port), timeout=LINE_TIMEOUT,
            source_address=None if source is None else (source, 0),
        )
        self.buffer = b""
        self.seen: list[str] = []


def log_in(client: Client, nick: str, password: str = PASSWORD) -> None:
    """Log ``client``, just connected, in to the registered ``nick``."""
    client.greeting()
    client.send_line(nick)
    client.expect("password")
    client.send_line(password)
    client.expect(f"Welcome, {nick}!")
