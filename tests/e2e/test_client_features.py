"""What the terminal client offers beyond a line editor, in real pseudo-terminals (tmux).

One server and one tmux server serve the whole module, to keep it quick:
each test has users of its own (and, where counts matter, a room of its
own), and the terminals stay until the module ends. Keys are typed with
``send-keys`` and the screen read with ``capture-pane``.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.client_process import client_environment
from tests.support.servers import ROOT, RunningServer, running
from tests.support.tmux import TIMEOUT, WIDTH, Terminal, Tmux, tmux_program

TIMESTAMP = re.compile(r"^\d\d:\d\d(:\d\d)? ")

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the module, with its history (for the unread marker)."""
    with running(tmp_path_factory.mktemp("client-features"), "--db", ":memory:") as shared:
        yield shared


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clients' XDG_CONFIG_HOME: no config file of the machine's user is read."""
    return tmp_path_factory.mktemp("config-home")


@pytest.fixture(scope="module")
def tmux(tmp_path_factory: pytest.TempPathFactory, home: Path) -> Iterator[Tmux]:
    """A private tmux server for the module, killed with everything in it at the end."""
    environment = client_environment()
    environment["XDG_CONFIG_HOME"] = str(home)
    private = Tmux(tmux_program(), tmp_path_factory.mktemp("tmux"), environment)
    yield private
    private.stop()


def client(tmux: Tmux, name: str, arguments: list[str], *environment: str) -> Terminal:
    """``tcpchat-client ARGUMENTS`` in a new terminal named ``name``; rows read without times."""
    command = ["env", *environment, sys.executable, "-m", "chat.client", *arguments]
    return tmux.terminal(name, command, cwd=ROOT, row_prefix=TIMESTAMP)


def joined(tmux: Tmux, server: RunningServer, nick: str, *arguments: str) -> Terminal:
    """A user in the lobby, started with --nick (the welcome seen, or the lobby's history
    after it, which can push the welcome off the screen)."""
    terminal = client(tmux, nick, ["--nick", nick, *arguments, server.host, str(server.port)])
    welcome = f"*** Welcome, {nick}!"
    terminal.wait_until(lambda rows: any(welcome in row or row.endswith("*** end of history")
                                          for row in rows), f"{welcome!r} not on screen")
    return terminal


def test_config_file_settings_apply_and_the_command_line_overrides_them(tmux, shared_server,
                                                                        tmp_path):
    """The config file names the server, colours off and a time format; --nick overrides its
    nickname."""
    config = tmp_path / "client.toml"
    config.write_text(
        f'server = "{shared_server.host}"\nport = {shared_server.port}\nnick = "fromfile"\n'
        'colour = false\ntimestamp = "%H:%M:%S"\n'
    )
    terminal = client(tmux, "configured", ["--config", str(config), "--nick", "fromcli"])
    terminal.wait_for("*** Welcome, fromcli!")
    screen = terminal.screen(colours=True)
    assert any(re.match(r"\d\d:\d\d:\d\d \*\*\* Welcome, fromcli!", row) for row in screen)
    assert "\x1b[" not in "".join(screen)
    terminal.press("C-d")
    terminal.wait_for("exit status 0")


def status_of(terminal: Terminal) -> str:
    """The status line: the row above the input line."""
    return terminal.rows()[-2]


def wait_for_status(terminal: Terminal, *parts: str) -> str:
    """Wait until the status line holds every one of ``parts``; the status line then."""
    rows = terminal.wait_until(lambda rows: len(rows) >= 2 and all(part in rows[-2] for part in
                                                                    parts), f"status {parts}")
    return rows[-2]


def test_status_line_shows_room_users_away_account_and_the_connection_across_a_restart(
        tmux, server):
    """The row above the input: the room and its users, away, the account; while the server
    restarts, the countdown to reconnecting; then connected again, logged in again, and away
    again (set quietly)."""
    alice = joined(tmux, server, "alice")
    assert wait_for_status(alice, "[lobby]", "1 user |", "connected")
    joined(tmux, server, "bob")
    wait_for_status(alice, "2 users")
    alice.type_line("/away lunch")
    alice.type_line("/register long enough")
    wait_for_status(alice, "away: lunch", "account alice")
    server.restart()
    wait_for_status(alice, "reconnecting in ")
    wait_for_status(alice, "connected", "account alice", "away: lunch")
    assert not any("marked as away" in row for row in alice.rows()[-6:])


def test_tab_completes_nicknames_commands_and_rooms(tmux, shared_server):
    """``ze`` Tab at the start of a line is ``zebra: ``; ``/jo`` is ``/join ``, then the rooms."""
    zebra, yak = shared_server.connect("zebra"), shared_server.connect("yak")
    try:
        yak.send_line("/join zoo")
        yak.expect("you are now in zoo")
        keeper = joined(tmux, shared_server, "keeper")
        keeper.type("ze")
        keeper.press("Tab")
        keeper.type("hi")
        keeper.wait_for("keeper> zebra: hi")
        keeper.press("Enter")
        zebra.expect("<keeper> zebra: hi")
        keeper.type("/jo")
        keeper.press("Tab")
        keeper.type("zo")
        keeper.press("Tab")
        keeper.wait_for("keeper> /join zoo")
        keeper.press("Enter")
        keeper.wait_for("*** you are now in zoo")
        keeper.press("C-d")
    finally:
        zebra.close()
        yak.close()


def wait_for_bytes(path: Path, wanted: bytes) -> bytes:
    """Wait until the file at ``path`` holds ``wanted``; what it holds then."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        held = path.read_bytes() if path.exists() else b""
        if wanted in held:
            return held
        assert time.monotonic() < deadline, f"{wanted!r} never written: {held[-300:]!r}"
        time.sleep(0.05)


def test_a_private_message_rings_the_bell_and_a_mention_is_highlighted(tmux, shared_server,
                                                                       tmp_path):
    """By default a private message rings the bell (the BEL byte reaches the terminal); a
    message naming you is highlighted, and rings only with --bell."""
    written = tmp_path / "ringo.out"
    ringo = joined(tmux, shared_server, "ringo")
    ringo.record_output(written)
    caller = shared_server.connect("caller")
    try:
        caller.send_line("hey ringo, look")
        ringo.wait_for("<caller> hey ringo, look")
        caller.send_line("/msg ringo psst")
        held = wait_for_bytes(written, b"\x07")
        assert held.count(b"\x07") == 1
        ringo.wait_for("*caller* psst")
        mention = next(row for row in ringo.screen(colours=True) if "hey ringo" in row)
        assert re.search(r"\x1b\[[0-9;]*33[0-9;]*mhey ringo, look", mention), repr(mention)
        loud = tmp_path / "loud.out"
        ringer = joined(tmux, shared_server, "ringer", "--bell")
        ringer.record_output(loud)
        caller.send_line("ringer: and you")
        wait_for_bytes(loud, b"\x07")
    finally:
        caller.close()


def test_page_up_scrolls_back_with_a_marker_while_the_input_stays_usable(tmux, shared_server):
    """PageUp shows older lines and a marker; typing still works; lines that come are counted;
    PageDown brings the live chat back with them."""
    talker = shared_server.connect("talker")
    try:
        pager = joined(tmux, shared_server, "pager")
        for number in range(25):
            talker.send_line(f"line {number:02d}")
        pager.wait_for("<talker> line 24")
        pager.press("PPage")
        rows = pager.wait_for("-- scrolled back: PageDown")
        assert "<talker> line 24" not in rows and "<talker> line 05" in rows
        pager.type("typed meanwhile")
        talker.send_line("while paged back")
        pager.wait_for("-- scrolled back: 1 new line below")
        assert pager.rows()[-1] == "pager> typed meanwhile"
        pager.press("NPage")
        rows = pager.wait_for("<talker> while paged back")
        assert not any("scrolled back" in row for row in rows)
        pager.press("Enter")
        talker.expect("<pager> typed meanwhile")
        pager.press("C-d")
    finally:
        talker.close()


def test_a_paste_is_sent_line_by_line_and_a_long_one_asks_first(tmux, shared_server):
    """Two pasted lines arrive in order at once; six are sent only after y, all in order."""
    reader = shared_server.connect("reader")
    try:
        paster = joined(tmux, shared_server, "paster")
        paster.paste("one\ntwo\n")
        paster.wait_for("*** sending 2 pasted lines")
        assert [reader.expect("<paster>") for _ in range(2)] == ["<paster> one", "<paster> two"]
        paster.paste("".join(f"line {number}\n" for number in range(6)))
        assert paster.wait_for("send 6 lines? [y/N]")[-1] == "send 6 lines? [y/N]"
        paster.type("y")
        paster.wait_for("<paster> line 5")
        assert [reader.expect("<paster>") for _ in range(6)] == [
            f"<paster> line {number}" for number in range(6)
        ]
        paster.press("C-d")
    finally:
        reader.close()


def test_back_in_a_room_an_unread_marker_separates_what_was_seen_from_what_is_new(
        tmux, shared_server):
    """Leaving a room and coming back: its history shows the lines seen, then a marker with
    the count of those said meanwhile, then those."""
    speaker = shared_server.connect("speaker")
    try:
        speaker.send_line("/join hall")
        speaker.expect("you are now in hall")
        visitor = joined(tmux, shared_server, "visitor")
        visitor.type_line("/join hall")
        visitor.wait_for("*** you are now in hall")
        speaker.send_line("seen before leaving")
        visitor.wait_for("<speaker> seen before leaving")
        visitor.type_line("/join lobby")
        wait_for_status(visitor, "[lobby]")  # its history may push the move off the screen
        speaker.send_line("said meanwhile 1")
        speaker.send_line("said meanwhile 2")
        speaker.send_line("/history 1")  # answered once both are kept
        speaker.expect("said meanwhile 2")
        visitor.type_line("/join hall")
        rows = visitor.wait_for("said meanwhile 2")
        start = rows.index("*** history of hall, last 3 messages:")
        marker = "-- 2 unread messages since you were last in hall "
        assert [re.sub(r"^\[\d\d:\d\d\] ", "", row) for row in rows[start + 1 : start + 5]] == [
            "<speaker> seen before leaving",
            marker + "-" * (WIDTH - 1 - len(marker)),
            "<speaker> said meanwhile 1",
            "<speaker> said meanwhile 2",
        ]
        visitor.press("C-d")
    finally:
        speaker.close()


def test_whois_is_a_block_and_topic_and_away_are_confirmed_on_the_status_line(
        tmux, shared_server):
    """/whois shows the server's answer as rows under one heading; /topic and /away are
    answered by the server and show on the status line until undone."""
    other = shared_server.connect("other")
    try:
        asker = joined(tmux, shared_server, "asker")
        asker.type_line("/whois other")
        rows = asker.wait_for("*** whois other")
        heading = rows.index("*** whois other")
        assert rows[heading + 1].split() == ["account", "none", "(a", "guest)"]
        assert re.fullmatch(r" {6}online +since \d\d:\d\d, idle \d+s", rows[heading + 2])
        assert rows[heading + 3].split() == ["in", "lobby"]
        asker.type_line("/join den")
        wait_for_status(asker, "[den]", "1 user")
        asker.type_line("/topic plans for today")
        asker.wait_for("*** asker set the topic of den: plans for today")
        asker.type_line("/away back soon")
        asker.wait_for("*** you are marked as away: back soon")
        assert wait_for_status(asker, "away: back soon", "topic: plans for today")
        asker.type_line("/away")
        asker.type_line("/topic -")
        asker.wait_for("*** asker cleared the topic of den")
        status = wait_for_status(asker, "[den]", "connected")
        assert "away" not in status and "topic" not in status
        asker.press("C-d")
    finally:
        other.close()
