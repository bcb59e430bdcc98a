"""Moderation on the real ``twistd tcpchat``: kicks, bans by nickname, address and network
(IPv4 and IPv6), durations running out, everything kept across a restart, and a kick as
the real telnet shows it.

Each test starts its own server on a ``--db`` of its own, with ``root`` (an account made by
``tcpchat-admin add``) named by ``--operators``; people connect with plain sockets, lines as
``nc`` sends them, some from a loopback address of their own (:mod:`tests.support.moderation`).
The rules themselves are tested on the in-memory harness (``test_moderation_commands``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.checked import Client, error, notice, received_lines
from tests.support.moderation import (
    IPV6_LOOPBACK,
    OPERATOR,
    PASSWORD,
    ClientFrom,
    add_account,
    ipv6_listener,
    ipv6_loopback_port,
    log_in,
    server_arguments,
    wait_for_listeners,
)
from tests.support.servers import RunningServer
from tests.support.tmux import Tmux, tmux_program

pytestmark = pytest.mark.e2e

DB = "chat.db"


@pytest.fixture(scope="module")
def operator_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database holding only root's account, made once and copied for each test."""
    db = tmp_path_factory.mktemp("operator") / DB
    add_account(db, OPERATOR)
    return db


@pytest.fixture
def moderated(
    start_server: Callable[..., RunningServer], operator_db: Path, tmp_path: Path
) -> Callable[..., RunningServer]:
    """Start a server on a copy of ``operator_db``, with root as its operator."""

    def start(*extra: str) -> RunningServer:
        db = tmp_path / DB
        if not db.exists():
            shutil.copy(operator_db, db)
        return start_server(*server_arguments(db, *extra))

    return start


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    """Open clients to a server (joined as ``nick`` if given, from ``source`` if given);
    every one is closed after the test."""
    opened: list[Client] = []

    def open_one(
        server: RunningServer, nick: str | None = None, *, source: str | None = None,
        host: str | None = None, port: int | None = None,
    ) -> Client:
        client = ClientFrom(host or server.host, port or server.port, source)
        opened.append(client)
        if nick is not None:
            client.join(nick)
        return client

    yield open_one
    for client in opened:
        client.close()


def operator(server: RunningServer, clients: Callable[..., Client]) -> Client:
    root = clients(server)
    log_in(root, OPERATOR)
    return root


def to_room(room: str, *members: Client) -> None:
    for member in members:
        member.send_line(f"/join {room}")
        member.expect(f"you are now in {room}")


def closed_after(client: Client) -> list[str]:
    """Every line ``client`` gets until the server closes the connection."""
    return received_lines(client.read_until_closed())


def test_nc_users_see_a_kick_then_a_ban(
    moderated: Callable[..., RunningServer], clients: Callable[..., Client]
) -> None:
    """root kicks vic out of den: den hears "kicked" and the reason, vic gets a !!! line
    with it and is in the lobby; root bans vic from the lobby: vic is told and closed, and
    a new connection as vic is refused with "banned"."""
    server = moderated()
    root = operator(server, clients)
    gus, vic = clients(server, "gus"), clients(server, "vic")
    to_room("den", root, gus, vic)
    gus.expect(notice("vic", "joined"))
    root.send_line("/kick vic stop shouting")
    gus.expect(notice("vic", "kicked", "stop shouting"))
    assert error("kicked", "stop shouting")(vic.read_line())
    vic.expect("you are now in lobby")
    to_room("lobby", root)
    root.send_line("/ban vic 1h flooding")
    assert error("banned", "flooding")(closed_after(vic)[-1])
    again = clients(server)
    again.greeting()
    again.send_line("vic")
    again.expect(error("banned", "flooding"))
    again.expect("choose a nickname")


def test_a_ban_of_a_network_refuses_its_addresses_only(
    moderated: Callable[..., RunningServer], clients: Callable[..., Client]
) -> None:
    """/ban 127.0.0.2/31: the member from 127.0.0.2 is told and closed at once, a
    connection from 127.0.0.3 gets one !!! line with "banned" and is closed; root and
    the others, on 127.0.0.1, stay."""
    server = moderated()
    root = operator(server, clients)
    inside = clients(server, "ina", source="127.0.0.2")
    gus = clients(server, "gus")
    root.send_line("/ban 127.0.0.2/31 spam")
    root.expect(notice("banned 127.0.0.2/31"))
    assert closed_after(inside)[-1] == "!!! you are banned from the server by root for ever: spam"
    refused = clients(server, source="127.0.0.3")
    assert closed_after(refused) == ["!!! you are banned from the server for ever: spam"]
    gus.send_line("/who")
    gus.expect("2 users in lobby")
    assert "choose a nickname" in clients(server).greeting()[-1]


def test_a_ban_of_an_ipv6_network(
    moderated: Callable[..., RunningServer], clients: Callable[..., Client]
) -> None:
    """On a server listening on ::1 too, /ban ::/64 closes the member from ::1 and refuses
    the next connection from there; IPv4 connections are greeted."""
    port = ipv6_loopback_port()
    if port is None:
        pytest.skip("this machine has no IPv6 loopback (::1)")
    server = moderated(*ipv6_listener(port))
    wait_for_listeners(server, 2)
    root = operator(server, clients)
    six = clients(server, "six", host=IPV6_LOOPBACK, port=port)
    root.send_line("/ban ::/64")
    root.expect(notice("banned ::/64"))
    assert closed_after(six)[-1] == "!!! you are banned from the server by root for ever"
    refused = clients(server, host=IPV6_LOOPBACK, port=port)
    assert closed_after(refused) == ["!!! you are banned from the server for ever"]
    assert "choose a nickname" in clients(server).greeting()[-1]


def test_a_ban_and_a_mute_of_two_seconds_end_by_themselves(
    moderated: Callable[..., RunningServer], clients: Callable[..., Client]
) -> None:
    """/ban bob 2s and /mute carl 2s: bob is refused and carl not heard at first, then,
    two seconds on, bob gets in and carl is heard."""
    server = moderated()
    root = operator(server, clients)
    bob, carl = clients(server, "bob"), clients(server, "carl")
    root.send_line("/ban bob 2s")
    root.send_line("/mute carl 2s")
    started = time.monotonic()
    root.expect(notice("muted carl"))
    closed_after(bob)
    carl.send_line("too soon")
    carl.expect(error("muted"))
    again = clients(server)
    again.greeting()
    again.send_line("bob")
    again.expect(error("banned"))
    time.sleep(max(0.0, started + 2.2 - time.monotonic()))
    again.send_line("bob")
    again.expect("Welcome, bob!")
    carl.send_line("heard now")
    root.expect("<carl> heard now")


def test_bans_mutes_topics_and_operators_survive_a_restart(
    moderated: Callable[..., RunningServer], clients: Callable[..., Client]
) -> None:
    """Set before a restart on the same --db: a server ban, den's topic, owner, operator
    and a mute in it. After it, zed is refused, den is listed though empty, bob is shown
    its topic and may still kick, carl is still muted there, alice still owns it."""
    server = moderated()
    root = operator(server, clients)
    alice, bob, carl = clients(server, "alice"), clients(server, "bob"), clients(server, "carl")
    alice.ask(f"/register {PASSWORD}", "registered")
    to_room("den", alice, bob, carl)
    alice.ask("/topic plans for Friday", "set the topic")
    alice.ask("/op bob", "made bob an operator")
    alice.ask("/mute carl", "muted carl")
    root.ask("/ban zed", "banned zed")

    server.restart()
    gus = clients(server, "gus")
    assert gus.ask("/rooms", "rooms") == ["*** 2 rooms: lobby (1), den (0)"]
    zed = clients(server)
    zed.greeting()
    zed.send_line("zed")
    zed.expect(error("banned"))
    bob, carl = clients(server, "bob"), clients(server, "carl")
    to_room("den", bob)
    assert bob.read_line().startswith("*** topic of den: plans for Friday (set by alice")
    to_room("den", carl)
    carl.send_line("am I heard?")
    carl.expect(error("muted"))
    bob.send_line("/kick carl")
    carl.expect(error("kicked"))
    alice = clients(server)
    log_in(alice, "alice")
    to_room("den", alice)
    alice.ask("/deop bob", "took operator status from bob")


@pytest.mark.xfail(strict=True, reason="bug: a room kept while empty comes back after a restart "
                   "under its key (make_service opens moderation.kept_rooms(), folded names): "
                   "Den is listed and shown as den")
def test_a_kept_room_keeps_its_spelling_across_a_restart(
    moderated: Callable[..., RunningServer], clients: Callable[..., Client]
) -> None:
    """alice makes Den and leaves; after a restart /rooms still lists it as Den."""
    server = moderated()
    alice = clients(server, "alice")
    alice.ask(f"/register {PASSWORD}", "registered")
    to_room("Den", alice)
    alice.leave()
    server.restart()
    gus = clients(server, "gus")
    assert gus.ask("/rooms", "rooms") == ["*** 2 rooms: lobby (1), Den (0)"]


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    private = Tmux(tmux_program(), tmp_path)
    yield private
    private.stop()


def test_telnet_shows_the_kick_line(
    moderated: Callable[..., RunningServer], clients: Callable[..., Client], tmux: Tmux
) -> None:
    """A person on the real telnet, kicked out of den, reads why and that they are back
    in the lobby."""
    telnet = shutil.which("telnet")
    if telnet is None:
        pytest.skip("telnet is not installed: apt-get install -y telnet")
    server = moderated()
    root = operator(server, clients)
    to_room("den", root)
    terminal = tmux.terminal("tina", [telnet, "--", server.host, f"-{server.port}"])
    terminal.wait_for("choose a nickname")
    terminal.type_line("tina")
    terminal.wait_for("Welcome, tina!")
    terminal.type_line("/join den")
    root.expect(notice("tina", "joined"))
    root.send_line("/kick tina off topic")
    terminal.wait_for(
        "!!! you were kicked out of den by root: off topic; you are back in the lobby"
    )
    terminal.wait_for("you are now in lobby")
