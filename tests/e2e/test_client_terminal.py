"""The client's terminal UI in real pseudo-terminals (tmux), against the real server.

Each user is a ``tcpchat-client`` in its own terminal of a private tmux
server (:mod:`tests.support.tmux`): keys are typed with ``send-keys`` and
the screen is read with ``capture-pane``, as a person would type and read.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_client import AccountsServer
from tests.support.certificates import write_self_signed
from tests.support.client_process import client_environment
from tests.support.servers import ROOT, free_port
from tests.support.silent_server import silent_server
from tests.support.tmux import TIMEOUT, WIDTH, Terminal, Tmux, tmux_program

TIMESTAMP = re.compile(r"^\d\d:\d\d ")
CONTINUATION = " " * 6

pytestmark = pytest.mark.e2e


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    """A private tmux server, killed with everything in it at the end of the test."""
    private = Tmux(tmux_program(), tmp_path, client_environment())
    yield private
    private.stop()


def client(tmux: Tmux, name: str, arguments: list[str], *environment: str) -> Terminal:
    """``tcpchat-client ARGUMENTS`` in a new terminal, with ``NAME=VALUE`` ``environment``;
    its rows are read without their HH:MM times."""
    command = ["env", *environment, sys.executable, "-m", "chat.client", *arguments]
    return tmux.terminal(name, command, cwd=ROOT, row_prefix=TIMESTAMP)


def lines(terminal: Terminal) -> list[str]:
    """The lines shown, each with its indented continuation rows shown to it."""
    shown: list[str] = []
    previous = ""
    for row in filter(None, terminal.screen()):
        if shown and row.startswith(CONTINUATION):
            # A row cut within a word fills the width; one cut at a space does not.
            joint = "" if len(previous) == WIDTH else " "
            shown[-1] += joint + row.removeprefix(CONTINUATION)
        else:
            shown.append(TIMESTAMP.sub("", row))
        previous = row
    return shown


def seen(rows: list[str]) -> list[str]:
    """The rows of the chat and the input line: all but the status line above the input."""
    return [*rows[:-2], rows[-1]]


def joined(tmux: Tmux, server: Any, nick: str) -> Terminal:
    """A user in the room, started with --nick."""
    terminal = client(tmux, nick, ["--nick", nick, server.host, str(server.port)])
    terminal.wait_for(f"*** Welcome, {nick}!")
    return terminal


def test_message_arrives_above_half_typed_text_which_stays_editable(tmux, server):
    """A message arriving while typing shows above; the typed text stays, and Enter sends it."""
    alice = joined(tmux, server, "alice")
    bob = joined(tmux, server, "bob")
    alice.type("half typ")
    bob.type("hello alice")
    bob.press("Enter")
    rows = alice.wait_for("<bob> hello alice")
    assert seen(rows)[-2:] == ["<bob> hello alice", "alice> half typ"]
    alice.type("ed")
    alice.press("Enter")
    bob.wait_for("<alice> half typed")
    assert alice.wait_for("<alice> half typed")[-1] == "alice>"


def test_non_ascii_typed_input_arrives_intact(tmux, server):
    """Accented and CJK characters typed and edited arrive as typed."""
    alice = joined(tmux, server, "alice")
    bob = joined(tmux, server, "bob")
    alice.type("日本 ça")
    alice.press("Left", "Left", "BSpace")
    alice.type("é ")
    alice.press("End")
    alice.type(" ok")
    alice.wait_for("alice> 日本é ça ok")
    alice.press("Enter")
    bob.wait_for("<alice> 日本é ça ok")


def test_ctrl_d_leaves_others_see_it_and_terminal_is_restored(tmux, server):
    """Ctrl-D leaves: the others see the leave notice, the client exits 0, the screen stays."""
    alice = joined(tmux, server, "alice")
    bob = joined(tmux, server, "bob")
    bob.type("before you go")
    bob.press("Enter")
    alice.wait_for("<bob> before you go")
    alice.press("C-d")
    bob.wait_for("*** alice has left")
    rows = alice.wait_for("terminal restored")
    assert "<bob> before you go" in rows
    assert rows[-3:] == ["*** Bye", "exit status 0", "terminal restored"]


def test_taken_nickname_is_explained_and_asked_again(tmux, server):
    """Without --nick the client asks; a taken nickname is explained, then asked again."""
    joined(tmux, server, "bob")
    carol = client(tmux, "carol", [server.host, str(server.port)])
    carol.wait_for("nickname:")
    carol.type("Bob")
    carol.press("Enter")
    rows = carol.wait_for('!!! nickname "Bob" is taken')
    assert rows[-1] == "nickname:"
    carol.type("carol")
    carol.press("Enter")
    carol.wait_for("*** Welcome, carol!")


def test_ctrl_c_stops_retrying_an_unreachable_server(tmux):
    """With nothing listening the retries are shown, and Ctrl-C ends them and the client."""
    port = free_port()
    alice = client(tmux, "alice", ["--nick", "alice", "127.0.0.1", str(port)])
    alice.wait_for("(Connection refused); retrying in")
    alice.press("C-c")
    assert alice.wait_for("terminal restored")[-2] == "exit status 0"


def test_lines_are_coloured_unless_no_color_is_set(tmux, server):
    """Lines are coloured by default; NO_COLOR=1 turns colours off."""
    coloured = joined(tmux, server, "alice")
    plain = client(tmux, "plain", ["--nick", "plain", server.host, str(server.port)], "NO_COLOR=1")
    plain.wait_for("*** Welcome, plain!")
    assert "\x1b[" in "".join(coloured.screen(colours=True))
    assert "\x1b[" not in "".join(plain.screen(colours=True))


def test_terminal_client_rejoins_after_server_restart(tmux, server):
    """When the server restarts the user is told, then is back in the room under the same name."""
    alice = joined(tmux, server, "alice")
    alice.type("unsent draft")
    server.restart()
    alice.wait_for("*** connection lost; reconnecting in")
    rows = alice.wait_for("*** reconnected: back in the room as alice")
    assert rows[-1] == "alice> unsent draft"
    alice.press("C-u")
    alice.type("/who")
    alice.press("Enter")
    alice.wait_for("*** 1 user in lobby: alice")


def test_refused_line_is_shown_refused_and_own_lines_follow_the_server(tmux, start_server):
    """A line the server refuses is shown as refused with its reason, never as said."""
    server = start_server("--max-line", "100")
    alice = joined(tmux, server, "alice")
    bob = joined(tmux, server, "bob")
    alice.type("x" * 120)
    alice.press("Enter")
    alice.type("short one")
    alice.press("Enter")
    rows = alice.wait_for("<alice> short one")
    assert not any(row.startswith("<alice> xxx") for row in rows)
    refused = next(index for index, row in enumerate(rows) if row.startswith("!!! not sent: "))
    assert rows[refused + 1].startswith("!!! line too long")
    assert refused < rows.index("<alice> short one")
    assert not any("xxx" in row for row in bob.wait_for("<alice> short one"))


def no_fragments(rows: list[str], width: int) -> bool:
    """Whether the input line is on the last row, whole in view, and nowhere else."""
    last = rows[-1]
    if not (last.startswith("alice> ") and last.endswith("05abcdefgh") and len(last) < width):
        return False
    return not [row for row in rows[:-1] if "abcdefgh" in row or row.startswith("alice>")]


def test_resizing_leaves_no_fragments_of_the_input_line(tmux, server):
    """Shrinking and widening the terminal redraws the input line once, with nothing left over."""
    alice = joined(tmux, server, "alice")
    draft = "draft " + "".join(f"{number:02d}abcdefgh" for number in range(6))
    alice.type(draft)
    alice.wait_for(draft)
    for width in (40, 25, 80, 33):
        alice.resize(width)
        # Drawn again on one row, its end in view, and nothing of it anywhere else: a
        # fragment the client left would stay, and this wait would fail.
        alice.wait_until(partial(no_fragments, width=width), f"fragments at width {width}")
    alice.press("Enter")
    alice.wait_for("<alice> draft 00")


def test_continuation_rows_of_a_wrapped_message_are_indented(tmux, server):
    """A message filled to the terminal's width cannot pass its tail off as a line of its own:
    the rows after a line's first are indented."""
    alice = joined(tmux, server, "alice")
    mallory = joined(tmux, server, "mallory")
    forged = "*** alice has left (quit: bye)"
    # "HH:MM <mallory> " takes 16 columns: the forged notice would start the second row.
    mallory.type("." * 64 + forged)
    mallory.press("Enter")
    for terminal in (alice, mallory):
        rows = [row for row in terminal.screen() if row]
        deadline = time.monotonic() + TIMEOUT
        while not any(forged in row for row in rows):
            assert time.monotonic() < deadline, "\n".join(rows)
            time.sleep(0.05)
            rows = [row for row in terminal.screen() if row]
        tail = next(row for row in rows if forged in row)
        assert tail == "      " + forged


def first_retry_delays(terminal: Terminal, news: str) -> tuple[int, int]:
    """The delays (seconds) of the first two lines that start with ``news`` and end with one."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        delays = [line.removeprefix(news) for line in lines(terminal) if line.startswith(news)]
        if len(delays) >= 2:
            return int(delays[0].removesuffix("s")), int(delays[1].removesuffix("s"))
        assert time.monotonic() < deadline, "\n".join(lines(terminal))
        time.sleep(0.05)


def test_a_server_that_never_greets_is_given_up_and_retried_with_backoff(tmux):
    """A server that accepts and says nothing: the client says so, and tries again later."""
    with silent_server() as silent:
        alice = client(
            tmux, "alice",
            ["--nick", "alice", "--greeting-timeout", "0.5", "127.0.0.1", str(silent.port)],
        )
        first, second = first_retry_delays(
            alice, f"*** no greeting from 127.0.0.1:{silent.port} within 0.5s; retrying in "
        )
        assert first < second
        assert silent.accepted >= 2
        alice.press("C-c")
        assert alice.wait_for("terminal restored")[-2] == "exit status 0"


def test_untrusted_certificate_is_explained_and_retried_less_and_less_often(tmux, start_server,
                                                                          tmp_path):
    """--tls against a self-signed server: what is wrong and what to do, then growing delays."""
    pem = write_self_signed(tmp_path, "127.0.0.1")
    port = free_port()
    start_server("--listen", f"ssl:{port}:interface=127.0.0.1:privateKey={pem}")
    alice = client(tmux, "alice", ["--nick", "alice", "--tls", "127.0.0.1", str(port)])
    problem = "(TLS: certificate verify failed)"
    first, second = first_retry_delays(
        alice, f"*** cannot connect to 127.0.0.1:{port} {problem}; retrying in "
    )
    assert first < second
    screen = " ".join(lines(alice))
    assert "--tls-no-verify" in screen and "trustRoots=" in screen
    alice.press("C-c")
    assert alice.wait_for("terminal restored")[-2] == "exit status 0"


def test_after_an_outage_missed_messages_come_first_then_what_was_typed_offline(tmux, server):
    """Back from an outage: the unread marker with the count of missed messages, each with one
    time marked as past, then the line typed while offline, shown where the server put it."""
    alice = joined(tmux, server, "alice")
    server.stop()
    alice.wait_for("(Connection refused); retrying in")
    alice.type("typed offline")
    alice.press("Enter")
    alice.wait_for("*** not connected: this will be sent once back")
    server.start()
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            carol = server.connect("carol")
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "the server did not come back"
            time.sleep(0.05)
    carol.send_line("while you were away")
    rows = alice.wait_for("<alice> typed offline")
    carol.close()
    back = rows.index("*** reconnected: back in the room as alice")
    assert rows[back + 1].startswith("-- 1 unread message, missed while disconnected ---")
    assert re.fullmatch(r"\[\d\d:\d\d\] <carol> while you were away", rows[back + 2])
    assert seen(rows)[back + 3 :] == [
        "*** end of missed messages", "<alice> typed offline", "alice>"
    ]


def test_password_is_asked_hidden_again_after_a_wrong_one_and_never_shown_or_recalled(tmux):
    """A registered nickname's password is typed as ``*``; a wrong one is explained and asked
    again; the right one gets in; it is nowhere on screen, nor brought back by Up."""
    accounts = AccountsServer()
    try:
        alice = client(tmux, "alice", ["--nick", "alice", "127.0.0.1", str(accounts.port)])
        alice.wait_for("*** alice is registered: type its password")
        alice.type("wrong horse")
        assert alice.wait_for("password: ***********")[-1] == "password: ***********"
        alice.press("Enter")
        alice.wait_for("!!! wrong password for alice")
        alice.type(AccountsServer.password)
        alice.press("Enter")
        alice.wait_for("*** Welcome, alice!")
        alice.press("Up")
        alice.type("hello")
        assert alice.wait_for("alice> hello")[-1] == "alice> hello"
        alice.press("Enter")
        alice.press("C-d")
        rows = alice.wait_for("terminal restored")
    finally:
        accounts.close()
    assert not any("horse" in row for row in rows)
    assert [lines[1:] for lines in accounts.received] == [
        ["alice", "wrong horse", AccountsServer.password, "/who", "/rooms", "hello", "/quit"]
    ]
