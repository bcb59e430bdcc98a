"""Line users and IRC users of one real server see one chat, in one order.

One ``twistd -n tcpchat --irc`` for the module; nc-style users on the line
listener and raw IRC clients on the IRC listener (sockets sending lines,
as irssi would at the wire), all in the lobby (``#lobby``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.checked import Client, notice
from tests.support.irc_clients import IrcServer
from tests.support.servers import LineConnection

pytestmark = pytest.mark.e2e

MESSAGES_EACH = 15
_IRC_SAID = re.compile(r"^(?:@\S+ )?:([^!]+)!\S+ PRIVMSG #lobby :(.*)$")
_LINE_SAID = re.compile(r"^<([^>]+)> (.*)$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    workdir: Path = tmp_path_factory.mktemp("irc-mixed")
    shared = IrcServer(workdir, ["--db", str(workdir / "chat.db"), "--flood", "0"]).start()
    try:
        yield shared
    finally:
        shared.stop()


class IrcUser(LineConnection):
    """A raw IRC client: registered, in #lobby, its own messages echoed (echo-message)."""

    def __init__(self, server: IrcServer, nick: str) -> None:
        super().__init__(server.host, server.irc_port)
        self.nick = nick
        self.send("CAP LS 302\r\nCAP REQ :echo-message\r\nCAP END\r\n"
                  f"NICK {nick}\r\nUSER {nick} 0 * :{nick} on IRC\r\nJOIN #lobby\r\n")
        self.expect(lambda line: f" 366 {nick} #lobby " in line)

    def say(self, text: str) -> None:
        self.send(f"PRIVMSG #lobby :{text}\r\n")


def _said(line: str) -> tuple[str, str] | None:
    found = _IRC_SAID.match(line) or _LINE_SAID.match(line)
    return None if found is None else (found.group(1), found.group(2))


def _collect(connection: LineConnection, count: int) -> list[tuple[str, str]]:
    """The next ``count`` messages ``connection`` is shown, as (sender, text)."""
    seen: list[tuple[str, str]] = []
    while len(seen) < count:
        said = _said(connection.read_line())
        if said is not None and said[1].startswith("m "):
            seen.append(said)
    return seen


def test_messages_from_both_front_ends_reach_everyone_in_one_order(
    server: IrcServer, open_client: Callable[..., Client]
) -> None:
    """Two line users and two IRC users send at once; all four are shown the messages in the
    same order (IRC users with echo-message their own too; a line user is not sent its own)."""
    lines = [open_client(server, nick) for nick in ("linea", "lineb")]
    ircs = [IrcUser(server, nick) for nick in ("irca", "ircb")]
    lines[0].expect(notice("ircb", "joined"))
    senders: list[Callable[[str], None]] = [
        lines[0].send_line, lines[1].send_line, ircs[0].say, ircs[1].say,
    ]
    names = ["linea", "lineb", "irca", "ircb"]

    def send_all(send: Callable[[str], None], name: str) -> None:
        for number in range(MESSAGES_EACH):
            send(f"m {name} {number}")

    threads = [threading.Thread(target=send_all, args=pair)
               for pair in zip(senders, names, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    total = MESSAGES_EACH * len(names)
    seen = {name: _collect(user, total) for name, user in zip(names[2:], ircs, strict=True)}
    seen |= {name: _collect(user, total - MESSAGES_EACH)
             for name, user in zip(names[:2], lines, strict=True)}
    first = seen["irca"]
    assert sorted(first) == sorted((name, f"m {name} {n}") for name in names
                                   for n in range(MESSAGES_EACH))
    assert seen["ircb"] == first
    for name in names[:2]:
        assert seen[name] == [said for said in first if said[0] != name], name
    for name in names:
        own = [text for sender, text in first if sender == name]
        assert own == [f"m {name} {n}" for n in range(MESSAGES_EACH)]  # each sender's order
    for user in [*lines, *ircs]:
        user.sock.close()


def test_a_rename_a_private_message_and_a_part_cross_front_ends(
    server: IrcServer, open_client: Callable[..., Client]
) -> None:
    nc = open_client(server, "ncuser")
    irc = IrcUser(server, "ircuser")
    nc.expect(notice("ircuser", "joined"))
    nc.send_line("/msg ircuser psst")
    irc.expect(lambda line: line.endswith(" PRIVMSG ircuser :psst")
               and line.startswith(":ncuser!"))
    irc.send("PRIVMSG ncuser :back at you\r\n")
    nc.expect("*ircuser* back at you")
    irc.send("NICK ircnew\r\n")
    nc.expect(notice("ircuser", "ircnew"))
    nc.send_line("/nick ncnew")
    irc.expect(lambda line: line.startswith(":ncuser!") and " NICK " in line
               and line.endswith("ncnew"))
    irc.send("PART #lobby :later\r\n")
    nc.expect(notice("ircnew", "left", "later"))
    irc.sock.close()
