"""The real irssi and WeeChat on tcpchat's IRC listener, with an nc user on the line listener.

One server for the module keeps its accounts and history in a ``--db``
file; each test has an account and nicknames of its own. The IRC client
runs in a private tmux terminal (typed into, its screen read); the nc
user is a socket that sends and reads lines as ``nc`` does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.checked import Client, notice
from tests.support.irc_clients import (
    IrcServer,
    irssi,
    wait_for_row,
    weechat,
)
from tests.support.servers import add_account
from tests.support.tmux import Terminal, Tmux, tmux_program

pytestmark = pytest.mark.e2e

PASSWORD = "correcthorse"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("irc-clients") / "chat.db"


@pytest.fixture(scope="module")
def server(db: Path) -> Iterator[IrcServer]:
    """One server for the module: line and IRC listeners, accounts and history in ``db``."""
    shared = IrcServer(db.parent, ["--db", str(db)]).start()
    try:
        yield shared
    finally:
        try:
            shared.stop()
        finally:
            shared.kill()


@pytest.fixture(scope="module")
def tmux(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tmux]:
    """A private tmux server whose terminals have a throwaway HOME and XDG directories."""
    home = tmp_path_factory.mktemp("irc-home")
    environment = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
                   "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache")}
    private = Tmux(tmux_program(), tmp_path_factory.mktemp("tmux"), environment)
    yield private
    private.stop()


Shown = Callable[[str, str], tuple[str, ...]]
"""How a client shows a message: ``shown(nick, text)`` is the parts of its row, in order."""


def talks_with_nc_then_parts_and_quits(
    user: Terminal, nick: str, nc: Client, nc_nick: str, said_before: str, shown: Shown
) -> None:
    """The IRC user joins #lobby, sees ``said_before`` in the history, talks with ``nc`` both
    ways, parts, joins again and quits; ``nc`` sees the join, the part and the quit."""
    user.type_line("/join #lobby")
    nc.expect(notice(nick, "joined"))
    wait_for_row(user, *shown(nc_nick, said_before))
    nc.send_line(f"hello {nick}, from nc")
    wait_for_row(user, *shown(nc_nick, f"hello {nick}, from nc"))
    user.type_line(f"hello {nc_nick}, from {nick}")
    nc.expect(f"<{nick}> hello {nc_nick}, from {nick}")
    user.type_line("/part #lobby see you")
    nc.expect(notice(nick, "left", "see you"))
    user.type_line("/join #lobby")
    nc.expect(notice(nick, "joined"))
    user.type_line("/quit off to bed")
    nc.expect(notice(nick, "left", "off to bed"))
    user.wait_for("exit status 0")


def test_irssi_logs_in_by_sasl_sees_the_history_talks_with_an_nc_user_parts_and_quits(
    server: IrcServer, db: Path, tmux: Tmux, tmp_path: Path,
    open_client: Callable[..., Client]
) -> None:
    """irssi logs in to an account made with tcpchat-admin, joins #lobby, shows what the nc
    user said before, and the two talk; the nc user sees irssi's part and quit."""
    add_account(db, "irsa", PASSWORD)
    nc = open_client(server, "ncirsa")
    nc.send_line("said before irssi came")
    user = irssi(tmux, tmp_path / "irssi", server, "irsa", PASSWORD)
    user.type_line("/connect tcpchat")
    wait_for_row(user, "You are now logged in as irsa")
    wait_for_row(user, "SASL authentication succeeded")
    wait_for_row(user, "Welcome to the tcpchat IRC network")  # registered: /join is not 451
    talks_with_nc_then_parts_and_quits(user, "irsa", nc, "ncirsa", "said before irssi came",
                                       lambda nick, text: (f"{nick}> {text}",))


def test_weechat_logs_in_by_sasl_sees_the_history_talks_with_an_nc_user_parts_and_quits(
    server: IrcServer, db: Path, tmux: Tmux, tmp_path: Path,
    open_client: Callable[..., Client]
) -> None:
    """WeeChat, set up with -r commands, logs in to an account made with tcpchat-admin, joins
    #lobby, shows what the nc user said before, and the two talk; the nc user sees WeeChat's
    part and quit."""
    add_account(db, "weea", PASSWORD)
    nc = open_client(server, "ncweea")
    nc.send_line("said before weechat came")
    user = weechat(tmux, tmp_path / "weechat", server, "weea", PASSWORD)
    wait_for_row(user, "You are now logged in as weea")
    wait_for_row(user, "SASL authentication successful")
    wait_for_row(user, "Welcome to the tcpchat IRC network")  # registered: /join is not 451
    talks_with_nc_then_parts_and_quits(user, "weea", nc, "ncweea", "said before weechat came",
                                       lambda nick, text: (nick, " | ", text))


def test_irssi_shows_the_invisible_user_mode_it_asked_for_on_connecting(
    server: IrcServer, db: Path, tmux: Tmux, tmp_path: Path
) -> None:
    """irssi asks for user mode +i once registered; /mode NICK then says it is set."""
    add_account(db, "irsi", PASSWORD)
    user = irssi(tmux, tmp_path / "irssi", server, "irsi", PASSWORD)
    user.type_line("/connect tcpchat")
    wait_for_row(user, "MOTD")
    user.type_line("/mode irsi")
    rows = wait_for_row(user, "Your user mode is")
    user.type_line("/quit")
    assert any("Your user mode is [+i]" in row for row in rows), rows
