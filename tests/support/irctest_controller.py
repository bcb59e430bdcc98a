"""The irctest controller for tcpchat: irctest starts a fresh ``twistd -n tcpchat --irc`` per test.

Used by ``.ci/irctest`` (``--controller tests.support.irctest_controller``,
with this checkout on ``PYTHONPATH`` and ``../shared/irctest`` as the
working directory). The server listens for IRC on the loopback port
irctest gives it and for line clients on another free one; its database
is in the test's temporary directory, so every test starts from an empty
chat. Pacing is off (``--flood 0``), as InspIRCd's fakelag is for
irctest, and the per-address limit too: every test client comes from
127.0.0.1. ``registerUser`` makes the account with ``tcpchat-admin``; the
server operator account irctest expects (``OPER operuser operpassword``)
is in every test's database from the start (made once, then copied).
A server password is not a tcpchat idea (``PASS`` is an account's
password), so a test that needs one is not applicable.

Both listeners bind to 127.0.0.1 whatever address irctest names (it names
0.0.0.0, the wildcard). irctest does not stop a server whose test was
skipped in ``setUp`` after it started (unittest runs no ``tearDown`` then),
so every server started is also stopped when the irctest process exits.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController

ROOT = Path(__file__).resolve().parents[2]
TWISTD = (
    "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; sys.exit(run())"
)

ADMIN = "import sys; from chat.admin import main; sys.exit(main())"


def _environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), environment.get("PYTHONPATH")])
    )
    return environment


OPERATOR = ("operuser", "operpassword")
LOOPBACK = "127.0.0.1"

_started: list[subprocess.Popen[Any]] = []
"""Every server this irctest process started, stopped at its exit."""


@atexit.register
def _stop_every_server() -> None:
    for process in _started:
        if process.poll() is None:
            process.terminate()
    for process in _started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _add_account(database: Path, name: str, password: str, *options: str) -> None:
    subprocess.run(
        [sys.executable, "-c", ADMIN, "--db", str(database), "add", name, *options],
        env={**_environment(), "TCPCHAT_PASSWORD": password},
        check=True, capture_output=True, timeout=30,
    )


@functools.cache
def _template_database() -> Path:
    """A database holding only the server operator account, made once per irctest run."""
    database = Path(tempfile.mkdtemp(prefix="tcpchat-irctest-")) / "chat.db"
    _add_account(database, *OPERATOR, "--operator")
    return database


class TcpchatController(BaseServerController, DirectoryBasedController):
    software_name = "tcpchat"
    supported_sasl_mechanisms = {"PLAIN"}
    supports_sts = False

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: str | None,
        ssl: bool,
        run_services: bool,
        faketime: str | None,
        websocket_hostname: str | None,
        websocket_port: int | None,
    ) -> None:
        if password is not None:
            raise NotImplementedByController("server password")
        if ssl:
            raise NotImplementedByController("TLS in the irctest controller")
        if websocket_hostname is not None or websocket_port is not None:
            raise NotImplementedByController("Websocket")
        assert getattr(self, "proc", None) is None
        self.port, self.hostname = port, hostname
        self.create_config()
        assert self.directory
        _, line_port = self.get_hostname_and_port()
        self.database = Path(self.directory) / "chat.db"
        for template in _template_database().parent.glob("chat.db*"):
            shutil.copy(template, self.database.with_name(template.name))
        self.proc = self.execute(
            [
                sys.executable, "-c", TWISTD, "-n", "--pidfile=",
                "--logfile", str(Path(self.directory) / "twistd.log"),
                "tcpchat",
                "--listen", f"tcp:{line_port}:interface={LOOPBACK}",
                "--irc", f"tcp:{port}:interface={LOOPBACK}",
                "--irc-name", "My.Little.Server",
                "--db", str(self.database),
                "--flood", "0", "--max-per-ip", "0",
            ],
            env=_environment(),
        )
        _started.append(self.proc)

    def registerUser(
        self, case: Any, username: str, password: str | None = None
    ) -> None:
        if password is None:
            raise NotImplementedByController("account registration without a password")
        _add_account(self.database, username, password)


def get_irctest_controller_class() -> type[TcpchatController]:
    return TcpchatController
