"""The real irssi and WeeChat in tmux terminals, against a real server with an IRC listener.

:class:`IrcServer` is a :class:`RunningServer` that also serves IRC
(``--irc``) on a second loopback port. :func:`add_account` makes an
account with ``tcpchat-admin``, the password in ``TCPCHAT_PASSWORD``.
:func:`irssi` and :func:`weechat` start the client in a tmux terminal with
a home directory of its own in the test's temporary directory, so no
configuration of the machine's user is read: the only server it knows is
the test's on 127.0.0.1, it connects nowhere by itself, and it keeps no
chat logs (irssi's autolog off; WeeChat without its logger plugin). The
password reaches irssi in its private config file and WeeChat through an
environment variable, never on a command line.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.support.servers import (
    START_TIMEOUT,
    RunningServer,
    free_port,
)
from tests.support.tmux import Terminal, Tmux

PASSWORD_VARIABLE = "IRC_TEST_PASSWORD"
# irssi warns that TERM should name tmux when it runs in tmux; the other terminals keep theirs.
TMUX_TERM = "TERM=tmux-256color"


def program(name: str) -> str:
    """The path of an IRC client, or skip the test saying how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed: apt-get install -y {name}")
    return path


class IrcServer(RunningServer):
    """``twistd -n tcpchat`` with its line listener and an IRC listener, both on loopback."""

    def __init__(self, workdir: Path, args: list[str]) -> None:
        super().__init__(workdir, args)
        self.irc_port = free_port()

    def arguments(self) -> list[str]:
        return [*super().arguments(), "--irc", f"tcp:{self.irc_port}:interface={self.host}"]

    def start(self) -> IrcServer:
        """Start, and wait until both listeners listen."""
        super().start()
        listening = f"tcpchat listening on {self.host}:{self.irc_port}"
        deadline = time.monotonic() + START_TIMEOUT
        while listening not in self.log():
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"no IRC listener within {START_TIMEOUT}s:\n{self.log()}")
            time.sleep(0.05)
        return self



def irssi_config(server: IrcServer, nick: str, password: str) -> str:
    """An irssi config naming only ``server``, logging in by SASL PLAIN as ``nick``.

    irssi's own flood protection (one command every 2.2 s after the first
    five) is off, so that the test does not wait on it.
    """
    return f"""\
servers = (
  {{ address = "{server.host}"; chatnet = "tcpchat"; port = "{server.irc_port}";
     use_tls = "no"; autoconnect = "no"; }}
);
chatnets = {{
  tcpchat = {{ type = "IRC"; sasl_mechanism = "PLAIN"; sasl_username = "{nick}";
              sasl_password = "{password}"; }};
}};
settings = {{
  core = {{ nick = "{nick}"; user_name = "{nick}"; real_name = "{nick} in irssi";
           settings_autosave = "no"; }};
  "irc/core" = {{ cmd_queue_speed = "0"; cmds_max_at_once = "1000"; }};
  "fe-common/core" = {{ autolog = "no"; }};
}};
"""


def irssi(tmux: Tmux, home: Path, server: IrcServer, nick: str, password: str) -> Terminal:
    """irssi in a new terminal named ``nick``, its home ``home``, not yet connected
    (``/connect tcpchat`` connects it)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config"
    config.touch(mode=0o600)
    config.write_text(irssi_config(server, nick, password))
    command = ["env", TMUX_TERM, program("irssi"), f"--home={home}", "--noconnect"]
    terminal = tmux.terminal(nick, command, cwd=home)
    terminal.wait_for("Irssi v")
    return terminal


def weechat(tmux: Tmux, home: Path, server: IrcServer, nick: str, password: str) -> Terminal:
    """WeeChat in a new terminal named ``nick``, its home ``home`` (``-d``), with only its irc
    plugin (no logger, no scripts), connecting to ``server`` as ``nick`` by SASL PLAIN.

    WeeChat's own flood protection (2 s between messages) is off, so that
    the test does not wait on it.
    """
    home.mkdir(parents=True, exist_ok=True)
    setup = ";".join([
        f"/server add tcpchat {server.host}/{server.irc_port} -notls -nicks={nick}"
        f" -username={nick} -realname={nick}_in_weechat -sasl_mechanism=plain"
        # -r evaluates its commands: WeeChat reads the password from its environment.
        f" -sasl_username={nick} -sasl_password=${{env:{PASSWORD_VARIABLE}}}"
        " -anti_flood_prio_high=0 -anti_flood_prio_low=0",
        "/connect tcpchat",
    ])
    command = ["env", f"{PASSWORD_VARIABLE}={password}", program("weechat"), "--no-connect",
               "--dir", str(home), "--plugins", "irc", "--run-command", setup]
    return tmux.terminal(nick, command, cwd=home)


def wait_for_row(terminal: Terminal, *parts: str) -> list[str]:
    """Wait until one row holds every one of ``parts`` in order; the rows then."""
    return terminal.wait_until(lambda rows: any(in_order(row, parts) for row in rows),
                               f"no row with {parts!r}")


def in_order(row: str, parts: tuple[str, ...]) -> bool:
    position = 0
    for part in parts:
        found = row.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True
