"""tcpchat-admin as a program: managing accounts in a database, its errors, beside a live server.

Each test runs ``python -m chat.admin`` from this checkout in
``tmp_path`` on ``tmp_path/chat.db``, and reads what it did back with
:class:`~chat.accounts.store.AccountStore`. A password goes in by
``--password-file``, ``TCPCHAT_PASSWORD`` or a pseudo-terminal, never on
the command line.
"""

from __future__ import annotations

import configparser
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from chat.accounts.passwords import verify_password
from chat.accounts.store import Account, AccountStore
from tests.support.checked import Client, error
from tests.support.servers import ROOT, RunningServer, checkout_environment

pytestmark = pytest.mark.e2e

Start = Callable[..., RunningServer]
Open = Callable[..., Client]

TIMEOUT = 20.0
PASSWORD = "correct horse"
NEW_PASSWORD = "battery staple"


def command(db: str, arguments: Sequence[str]) -> list[str]:
    """The command line of the tool from this checkout, on ``--db db``."""
    return [sys.executable, "-m", "chat.admin", "--db", db, *arguments]


def environment(password: str | None) -> dict[str, str]:
    """The checkout's environment, with TCPCHAT_PASSWORD set to ``password`` or unset."""
    env = checkout_environment()
    env.pop("TCPCHAT_PASSWORD", None)
    if password is not None:
        env["TCPCHAT_PASSWORD"] = password
    return env


def run_admin(
    cwd: Path, db: str, arguments: Sequence[str], password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the tool in ``cwd`` on ``--db db``, stdin not a terminal; ``password`` in
    TCPCHAT_PASSWORD."""
    return subprocess.run(
        command(db, arguments), cwd=cwd, env=environment(password),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )


def admin(
    db: Path, *arguments: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the tool on ``db``, in its folder."""
    return run_admin(db.parent, str(db), arguments, password)


def done(db: Path, *arguments: str, password: str | None = None) -> str:
    """Run the tool expecting success; what it printed."""
    ran = admin(db, *arguments, password=password)
    assert (ran.returncode, ran.stderr) == (0, ""), ran
    return ran.stdout


def refused(db: Path, *arguments: str, password: str | None = None) -> tuple[int, list[str]]:
    """Run the tool expecting it to fail: its exit status and its stderr's lines."""
    ran = admin(db, *arguments, password=password)
    assert ran.returncode != 0 and ran.stdout == "", ran
    return ran.returncode, ran.stderr.splitlines()


def stored(db: Path, name: str) -> tuple[Account, str] | None:
    """The account of ``name`` in ``db`` and its hash, as the server would find them."""
    store = AccountStore(str(db))
    try:
        return store.find(name)
    finally:
        store.close()


def password_of(db: Path, name: str, password: str) -> bool:
    """Whether ``name`` has an account whose password is ``password``."""
    found = stored(db, name)
    return found is not None and verify_password(password, found[1])


def is_operator(db: Path, name: str) -> bool:
    """Whether the account of ``name``, which must exist, is a server operator."""
    found = stored(db, name)
    assert found is not None, f"no account {name}"
    return found[0].operator


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "chat.db"


@pytest.fixture
def alice(db: Path) -> Path:
    """``db`` with an account alice, whose password is PASSWORD."""
    done(db, "add", "alice", password=PASSWORD)
    return db


def test_setup_declares_the_tcpchat_admin_script() -> None:
    """setup.cfg installs tcpchat-admin as chat.admin:main."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    scripts = config["options.entry_points"]["console_scripts"].split("\n")
    assert "tcpchat-admin = chat.admin:main" in scripts


def test_add_makes_an_account_with_the_password(db: Path) -> None:
    """add NAME with TCPCHAT_PASSWORD says so; the account has that password."""
    assert done(db, "add", "Alice", password=PASSWORD) == "added account Alice\n"
    assert password_of(db, "alice", PASSWORD)


def test_add_operator_makes_a_server_operator(db: Path) -> None:
    """add NAME --operator makes an operator account."""
    assert done(db, "add", "root", "--operator", password=PASSWORD) \
        == "added operator account root\n"
    assert is_operator(db, "root")


def test_add_reads_the_first_line_of_the_password_file(db: Path, tmp_path: Path) -> None:
    """--password-file FILE gives the password: its first line, without the line end."""
    secret = tmp_path / "secret"
    secret.write_text(f"{PASSWORD}\r\nsecond line\n")
    done(db, "add", "alice", "--password-file", str(secret))
    assert password_of(db, "alice", PASSWORD)


def test_the_password_file_comes_before_the_environment(db: Path, tmp_path: Path) -> None:
    """With both --password-file and TCPCHAT_PASSWORD, the file's password is used."""
    secret = tmp_path / "secret"
    secret.write_text(f"{NEW_PASSWORD}\n")
    done(db, "add", "alice", "--password-file", str(secret), password=PASSWORD)
    assert password_of(db, "alice", NEW_PASSWORD)


def test_list_shows_each_account_its_role_and_registration(alice: Path) -> None:
    """list gives one line per account: name, operator or user, and when it was registered."""
    done(alice, "add", "Bob", "--operator", password=PASSWORD)
    lines = done(alice, "list").splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["alice", "user", "registered"], ["Bob", "operator", "registered"]
    ]
    assert lines[0].split()[3] == time.strftime("%Y-%m-%d", time.gmtime())


def test_list_of_no_accounts_says_so(alice: Path) -> None:
    """list with every account removed says there are none."""
    done(alice, "remove", "alice")
    assert done(alice, "list") == "no accounts\n"


def test_reset_gives_a_new_password(alice: Path) -> None:
    """reset NAME replaces the password: the new one verifies, the old one no longer."""
    assert done(alice, "reset", "ALICE", password=NEW_PASSWORD) == "new password for alice\n"
    assert password_of(alice, "alice", NEW_PASSWORD)
    assert not password_of(alice, "alice", PASSWORD)


def test_remove_deletes_the_account(alice: Path) -> None:
    """remove NAME says so and the account is gone."""
    assert done(alice, "remove", "Alice") == "removed account alice\n"
    assert stored(alice, "alice") is None


def test_grant_and_revoke_make_an_operator_and_undo_it(alice: Path) -> None:
    """grant NAME makes the account an operator, revoke NAME makes it no longer one."""
    assert done(alice, "grant", "alice") == "alice is now a server operator\n"
    granted = is_operator(alice, "alice")
    assert done(alice, "revoke", "alice") == "alice is no longer a server operator\n"
    assert (granted, is_operator(alice, "alice")) == (True, False)


@pytest.mark.parametrize("action", ["remove", "reset", "grant", "revoke"])
def test_an_account_that_does_not_exist_fails_with_status_1(alice: Path, action: str) -> None:
    """remove, reset, grant and revoke of a nickname with no account fail in one line."""
    assert refused(alice, action, "bob", password=PASSWORD) == (
        1, ["tcpchat-admin: no account named bob"]
    )


def test_adding_an_existing_account_fails_with_status_1(alice: Path) -> None:
    """add of a nickname that has an account (in any case) fails in one line, changing nothing."""
    assert refused(alice, "add", "ALICE", password=NEW_PASSWORD) == (
        1, ["tcpchat-admin: an account named ALICE exists already"]
    )
    assert password_of(alice, "alice", PASSWORD)


def test_a_password_the_rules_refuse_fails_with_status_1(db: Path) -> None:
    """A password too short is refused with its reason, and no account is made."""
    assert refused(db, "add", "alice", password="short") == (
        1, ["tcpchat-admin: password refused: shorter than 8 characters"]
    )
    assert stored(db, "alice") is None


def test_an_invalid_nickname_fails_with_status_2(db: Path) -> None:
    """A NAME that breaks the nickname rules is a wrong command line, said in one line."""
    status, lines = refused(db, "add", "a b", password=PASSWORD)
    assert (status, len(lines)) == (2, 1)
    assert lines[0].startswith('tcpchat-admin: nickname "a b" is invalid')


def test_without_a_password_source_add_fails_with_status_2(db: Path) -> None:
    """Off a terminal, with no --password-file nor TCPCHAT_PASSWORD, add says what to give."""
    status, lines = refused(db, "add", "alice")
    assert (status, lines) == (2, [
        "tcpchat-admin: no password: not on a terminal; give --password-file FILE"
        " or TCPCHAT_PASSWORD"
    ])


def test_a_missing_password_file_fails_with_status_2(db: Path, tmp_path: Path) -> None:
    """A --password-file that cannot be read is said in one line."""
    missing = tmp_path / "missing"
    assert refused(db, "add", "alice", "--password-file", str(missing)) == (
        2, [f"tcpchat-admin: cannot read --password-file {missing}: No such file or directory"]
    )


def test_a_password_on_the_command_line_is_a_usage_error(db: Path) -> None:
    """add NAME PASSWORD is refused by the argument parser: passwords never go in argv."""
    status, lines = refused(db, "add", "alice", PASSWORD)
    assert status == 2 and lines[-1].startswith("tcpchat-admin: error: unrecognized arguments")
    assert stored(db, "alice") is None


def test_no_command_is_a_usage_error(db: Path) -> None:
    """The tool without a command shows its usage and ends with status 2."""
    status, lines = refused(db)
    assert status == 2 and lines[0].startswith("usage: tcpchat-admin")


def test_a_missing_database_fails_for_every_command_but_add(db: Path) -> None:
    """list on a file that does not exist fails, and makes no file."""
    assert refused(db, "list") == (
        1, [f"tcpchat-admin: no database at {db} (give the server's --db)"]
    )
    assert not db.exists()


def test_a_file_that_is_not_sqlite_fails_with_status_1(db: Path) -> None:
    """A --db that is not an SQLite database is refused in one line and left alone."""
    db.write_text("notes\n")
    assert refused(db, "list") == (
        1, [f"tcpchat-admin: cannot use --db {db}: not an SQLite database"]
    )
    assert db.read_text() == "notes\n"


@pytest.mark.parametrize("path", ["", ":memory:"])
def test_a_database_in_memory_is_a_usage_error(tmp_path: Path, path: str) -> None:
    """--db '' or :memory: keeps nothing, so it is refused."""
    ran = run_admin(tmp_path, path, ["list"])
    assert (ran.returncode, ran.stderr) == (
        2, f"tcpchat-admin: --db {path!r} is no file: give the server's database\n"
    )


# On a terminal: the password is asked for, twice, and not echoed.

class Terminal:
    """The tool run on a pseudo-terminal of its own, typed into."""

    def __init__(self, db: Path, arguments: Sequence[str], password: str | None = None) -> None:
        self.master, slave = os.openpty()
        self.process = subprocess.Popen(
            command(str(db), arguments), cwd=db.parent, env=environment(password),
            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        )
        os.close(slave)
        self.output = b""

    def answer(self, prompt: bytes, typed: str) -> None:
        """Wait for ``prompt``, then type ``typed`` and Enter."""
        deadline = time.monotonic() + TIMEOUT
        while prompt not in self.output:
            assert self._read(deadline - time.monotonic()), f"no {prompt!r} in {self.output!r}"
        os.write(self.master, typed.encode() + b"\n")

    def finish(self) -> tuple[int, str]:
        """Its exit status and all it wrote to the terminal."""
        deadline = time.monotonic() + TIMEOUT
        while self._read(deadline - time.monotonic()):
            pass
        status = self.process.wait(TIMEOUT)
        os.close(self.master)
        return status, self.output.decode(errors="replace")

    def _read(self, timeout: float) -> bool:
        """Read what there is within ``timeout``; False at the end or on timeout."""
        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 4096)
        except OSError:  # EIO: the program has ended and closed the terminal
            return False
        self.output += chunk
        return bool(chunk)


def test_on_a_terminal_the_password_is_asked_twice_and_not_echoed(db: Path) -> None:
    """add on a terminal asks for the password and again, shows neither, and uses it."""
    terminal = Terminal(db, ["add", "alice"])
    terminal.answer(b"password for alice: ", PASSWORD)
    terminal.answer(b"the same password again: ", PASSWORD)
    status, output = terminal.finish()
    assert status == 0 and "added account alice" in output and PASSWORD not in output
    assert password_of(db, "alice", PASSWORD)


def test_on_a_terminal_two_different_passwords_fail(db: Path) -> None:
    """Two different answers on a terminal fail in one line with status 1; nothing is added."""
    terminal = Terminal(db, ["add", "alice"])
    terminal.answer(b"password for alice: ", PASSWORD)
    terminal.answer(b"the same password again: ", NEW_PASSWORD)
    status, output = terminal.finish()
    assert status == 1 and "tcpchat-admin: the two passwords differ" in output
    assert stored(db, "alice") is None


def test_on_a_terminal_the_environment_password_is_not_used(db: Path) -> None:
    """On a terminal the password is asked for even when TCPCHAT_PASSWORD is set."""
    terminal = Terminal(db, ["add", "alice"], password=NEW_PASSWORD)
    terminal.answer(b"password for alice: ", PASSWORD)
    terminal.answer(b"the same password again: ", PASSWORD)
    assert terminal.finish()[0] == 0
    assert password_of(db, "alice", PASSWORD)


# Beside a running server on the same database.

def test_the_tool_works_while_a_server_runs_on_the_same_database(
    start_server: Start, open_client: Open, db: Path
) -> None:
    """With the server holding the database, every command works and the server serves on."""
    server = start_server("--db", str(db))
    alice, bob = open_client(server, "alice"), open_client(server, "bob")
    done(db, "add", "carol", password=PASSWORD)
    done(db, "grant", "carol")
    done(db, "reset", "carol", password=NEW_PASSWORD)
    assert done(db, "list").split()[:2] == ["carol", "operator"]
    done(db, "remove", "carol")
    alice.send_line("still here")
    assert bob.expect("<alice> still here")


def test_history_written_beside_the_tool_survives_a_restart(
    start_server: Start, open_client: Open, db: Path
) -> None:
    """Messages the server stores while the tool writes accounts are replayed after a restart."""
    server = start_server("--db", str(db))
    alice, bob = open_client(server, "alice"), open_client(server, "bob")
    alice.send_line("before the account")
    bob.expect("<alice> before the account")
    done(db, "add", "carol", password=PASSWORD)
    alice.send_line("after the account")
    bob.expect("<alice> after the account")
    alice.leave()
    bob.leave()
    server.restart()
    dave = open_client(server, "dave")
    dave.expect("<alice> after the account")
    assert password_of(db, "carol", PASSWORD)


def test_a_server_starts_on_a_database_the_tool_made(
    start_server: Start, open_client: Open, db: Path
) -> None:
    """The server accepts a --db the tool created first, and the account stays in it."""
    done(db, "add", "alice", "--operator", password=PASSWORD)
    server = start_server("--db", str(db))
    open_client(server, "bob")
    assert done(db, "list").split()[:2] == ["alice", "operator"]


def test_a_removed_account_owns_no_room_when_its_name_is_registered_again(
    start_server: Start, open_client: Open, db: Path
) -> None:
    """Olive makes a room where a guest stays; removed by the tool and registered again, the
    name does not own the room, as after /unregister: she may not ban there."""
    server = start_server("--db", str(db))
    olive, keeper = open_client(server, "olive"), open_client(server, "keeper")
    olive.ask(f"/register {PASSWORD}", "registered")
    olive.ask("/join attic", "you are now in attic")
    keeper.ask("/join attic", "you are now in attic")
    olive.leave()
    done(db, "remove", "olive")
    again = open_client(server, "olive")
    again.ask(f"/register {NEW_PASSWORD}", "registered")
    again.ask("/join attic", "you are now in attic")
    answer = again.ask("/ban zed", "ban")[-1]
    assert error("only its operators and server operators may ban from attic")(answer), answer
