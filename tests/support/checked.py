"""A line client for end-to-end tests that fails on any line a terminal could misread."""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import unicodedata
from collections.abc import Callable

from tests.support.servers import LINE_TIMEOUT, LineConnection, RunningServer

BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

def unsafe_characters(line: str) -> list[str]:
    """Characters of ``line`` that a terminal could take as control or reordering."""
    return [
        char for char in line
        if unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in BIDI
    ]


def received_lines(data: bytes) -> list[str]:
    """Split raw server output into lines, checking the framing and the text of each."""
    assert data.endswith(b"\r\n"), f"output does not end with CRLF: {data[-40:]!r}"
    assert data.count(b"\n") == data.count(b"\r") == data.count(b"\r\n"), data
    lines = data.decode("utf-8").split("\r\n")[:-1]
    for line in lines:
        assert not unsafe_characters(line), line
    return lines


class Client(LineConnection):
    """A test client that checks every line it receives is safe to print."""

    def read_line(self, timeout: float = LINE_TIMEOUT) -> str:
        line = super().read_line(timeout)
        assert not unsafe_characters(line), f"unsafe characters in {line!r}"
        return line

    def greeting(self) -> list[str]:
        """The lines sent on connect, up to and including the nickname prompt."""
        lines = [self.read_line()]
        while "choose a nickname" not in lines[-1]:
            lines.append(self.read_line())
        return lines

    def ask(self, command: str, answer: str) -> list[str]:
        """Send ``command``; return the lines received up to the one containing ``answer``."""
        self.send_line(command)
        lines = [self.read_line()]
        while answer not in lines[-1]:
            lines.append(self.read_line())
        return lines

    def leave(self) -> None:
        """Quit and wait for the close, so that the server has forgotten this connection."""
        with contextlib.suppress(OSError, TimeoutError, EOFError):
            self.send_line("/quit")
            self.read_until_closed()
        self.close()

    def reset(self) -> None:
        """Close abruptly: the peer gets a TCP RST instead of a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def notice(*words: str) -> Callable[[str], bool]:
    """Matches a notice line that contains every one of ``words``."""
    return lambda line: line.startswith("*** ") and all(word in line for word in words)


def error(*words: str) -> Callable[[str], bool]:
    """Matches an error line that contains every one of ``words``."""
    return lambda line: line.startswith("!!! ") and all(word in line for word in words)


def room(server: RunningServer, open_client: Callable[..., Client], *nicks: str) -> list[Client]:
    """Members joined in order, each having seen the joins of those after it."""
    members: list[Client] = []
    for nick in nicks:
        member = open_client(server, nick)
        for earlier in members:
            earlier.expect(notice(nick, "joined"))
        members.append(member)
    return members


def history_stamp(line: str) -> str:
    """``line`` without the ``[YYYY-MM-DD HH:MMZ] `` that marks a replayed line."""
    match = re.fullmatch(r"\[\d{4}-\d\d-\d\d \d\d:\d\dZ\] (.*)", line)
    assert match is not None, f"not a history line: {line!r}"
    return match.group(1)
