"""Accounts on the real ``twistd tcpchat``: nc, the real telnet, the bundled client, tcpchat-admin.

One server for the module keeps its accounts in a ``--db`` file; each test
uses nicknames of its own. Passwords go to the server as a person types
them (a socket, as ``nc`` sends lines; keys in a tmux terminal for
``telnet``) or as the client and the admin tool take them: from a file or
``TCPCHAT_PASSWORD``, never on a command line.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.checked import Client, error, notice
from tests.support.client_process import CLIENT, TIMEOUT, client_environment
from tests.support.servers import ROOT, RunningServer, add_account, running
from tests.support.tmux import Tmux, tmux_program

pytestmark = pytest.mark.e2e

PASSWORD = "correcthorse"
LOGIN_DELAY = "0.2"
SHOWS = "(it shows as you type)"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("accounts") / "chat.db"


@pytest.fixture(scope="module")
def server(db: Path) -> Iterator[RunningServer]:
    """One server for the module, its accounts in ``db``, no history replayed."""
    with running(db.parent, "--db", str(db), "--history", "0", "--login-delay", LOGIN_DELAY) \
            as shared:
        yield shared


def is_password_prompt(line: str) -> bool:
    return line.startswith("*** ") and "password" in line


def registered(server: RunningServer, open_client: Callable[..., Client], nick: str) -> None:
    """``nick`` joins, registers with /register, and quits."""
    member = open_client(server, nick)
    member.ask(f"/register {PASSWORD}", "registered")
    member.leave()


def run_client(arguments: list[str], given: str, **environment: str) -> (
    subprocess.CompletedProcess[str]
):
    """The client in pipe mode with ``given`` piped to it and only these password variables."""
    inherited = client_environment()
    inherited.pop("TCPCHAT_PASSWORD", None)
    return subprocess.run(
        [*CLIENT, *arguments], input=given, capture_output=True, text=True, timeout=TIMEOUT,
        cwd=ROOT, env={**inherited, **environment}, check=False,
    )


def test_nc_registers_then_logs_in_after_a_wrong_password(
    server: RunningServer, open_client: Callable[..., Client]
) -> None:
    """Register, disconnect; back, the nickname asks for the password, says it shows (nc
    is no telnet), refuses a wrong one and lets the right one in, lines sent in one go."""
    registered(server, open_client, "nina")
    bob = open_client(server, "bob")
    nina = open_client(server)
    nina.greeting()
    nina.send("nina\nwronghorse\n" + PASSWORD + "\nhello\n")
    prompt = nina.expect(is_password_prompt)
    assert SHOWS in prompt
    nina.expect(error("wrong password"))
    nina.expect(is_password_prompt)
    nina.expect("Welcome, nina!")
    bob.expect("<nina> hello")


def test_an_account_added_with_tcpchat_admin_beside_the_server_logs_in(
    server: RunningServer, open_client: Callable[..., Client], db: Path
) -> None:
    """An account written into the live server's --db by tcpchat-admin is asked for at once."""
    add_account(db, "Oscar", PASSWORD)
    oscar = open_client(server)
    oscar.greeting()
    oscar.send_line("oscar")
    oscar.expect(is_password_prompt)
    oscar.send_line(PASSWORD)
    oscar.expect("Welcome, Oscar!")


def test_the_client_logs_in_with_a_password_file_or_tcpchat_password(
    server: RunningServer, open_client: Callable[..., Client], tmp_path: Path
) -> None:
    """Pipe mode answers the real prompt from --password-file, or TCPCHAT_PASSWORD; a wrong
    one exits 1 saying so."""
    registered(server, open_client, "piper")
    bob = open_client(server, "bob")
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    address = ["--nick", "piper", server.host, str(server.port)]
    from_file = run_client(["--password-file", str(password_file), *address], "from a file\n")
    assert from_file.returncode == 0, from_file.stderr
    bob.expect("<piper> from a file")
    from_environment = run_client(address, "from the environment\n", TCPCHAT_PASSWORD=PASSWORD)
    assert from_environment.returncode == 0, from_environment.stderr
    bob.expect("<piper> from the environment")
    wrong = run_client(address, "never sent\n", TCPCHAT_PASSWORD="wronghorse")
    assert (wrong.returncode, wrong.stderr) == (1, "tcpchat-client: wrong password for piper\n")
    assert PASSWORD not in from_file.stdout + from_environment.stdout


def test_closed_registration_refuses_register(
    start_server: Callable[..., RunningServer], open_client: Callable[..., Client]
) -> None:
    """With --registration closed, /register is refused and the nickname stays a guest's."""
    closed = start_server("--db", ":memory:", "--registration", "closed")
    alice = open_client(closed, "alice")
    [refusal] = alice.ask(f"/register {PASSWORD}", "registration")
    assert error("registration is closed")(refusal)
    alice.leave()
    open_client(closed, "alice")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    private = Tmux(tmux_program(), tmp_path)
    yield private
    private.stop()


def test_real_telnet_does_not_show_the_password(
    server: RunningServer, open_client: Callable[..., Client], tmux: Tmux
) -> None:
    """telnet negotiating (a port with a minus) hides the password as it is typed, and
    shows what is typed again once logged in."""
    telnet = shutil.which("telnet")
    if telnet is None:
        pytest.skip("telnet is not installed: apt-get install -y telnet")
    registered(server, open_client, "tina")
    bob = open_client(server, "bob")
    terminal = tmux.terminal("tina", [telnet, "--", server.host, f"-{server.port}"])
    terminal.wait_for("choose a nickname")
    terminal.type_line("tina")
    rows = terminal.wait_for("tina is registered")
    assert not any(SHOWS in row for row in rows)
    terminal.type_line(PASSWORD)
    rows = terminal.wait_for("Welcome, tina!")
    assert not any(PASSWORD in row for row in rows), rows
    terminal.type("typed after")
    terminal.wait_for("typed after")
    terminal.press("Enter")
    bob.expect(notice("tina", "joined"))
    bob.expect("<tina> typed after")
