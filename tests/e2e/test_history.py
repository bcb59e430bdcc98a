"""The history database end to end: ``twistd -n tcpchat`` killed, doubled, or given a bad file.

Each test starts its own servers in ``tmp_path``, where ``tcpchat.db`` (the
default ``--db``) outlives them.
"""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.checked import Client
from tests.support.servers import RunningServer, run_twistd

pytestmark = pytest.mark.e2e

Start = Callable[..., RunningServer]
Open = Callable[..., Client]

REFUSAL_TIMEOUT = 10.0


def ids_of_own_messages(program: Client, count: int) -> list[int]:
    """Send ``count`` messages as fast as possible; the ids the server acknowledged."""
    for number in range(count):
        program.send_line(f"message {number}")
    return [int(program.expect(lambda line: line.startswith("@id="))[4:]) for _ in range(count)]


def with_ids(open_client: Open, server: RunningServer, nick: str) -> Client:
    """A program joined as ``nick`` that asked for message ids."""
    program = open_client(server)
    program.greeting()
    program.send_line("/ids")
    program.expect("message ids on")
    program.send_line(nick)
    program.expect(f"Welcome, {nick}!")
    return program


def refused_start(workdir: Path, *args: str) -> tuple[int, list[str]]:
    """Start ``twistd -n tcpchat`` expecting it to refuse: its exit status and what it printed."""
    arguments = RunningServer(workdir, list(args)).arguments()
    ended = run_twistd(workdir, arguments, timeout=REFUSAL_TIMEOUT, merge_output=True)
    return ended.returncode, [line for line in ended.stdout.splitlines() if line.strip()]


def test_ids_are_never_reused_after_kill_9(start_server: Start, open_client: Open) -> None:
    """A server killed right after acknowledging messages never gives their ids again."""
    server = start_server()
    shown = ids_of_own_messages(with_ids(open_client, server, "alice"), 20)
    server.stop(signal.SIGKILL)
    server.start()
    after = ids_of_own_messages(with_ids(open_client, server, "bob"), 1)
    assert after[0] > max(shown)


def test_a_second_server_on_the_same_database_refuses_to_start(
    start_server: Start, tmp_path: Path
) -> None:
    """Two servers on one --db would overwrite each other: the second exits with one line."""
    start_server()
    status, printed = refused_start(tmp_path)
    assert status != 0
    assert len(printed) == 1, printed
    assert "tcpchat.db" in printed[0] and "another tcpchat server" in printed[0]


def test_a_garbage_database_ends_start_up_with_one_line(tmp_path: Path) -> None:
    """A --db that is not SQLite: one line naming the file and the problem, non-zero exit."""
    (tmp_path / "tcpchat.db").write_bytes(b"\x00garbage\xff" * 1000)
    status, printed = refused_start(tmp_path)
    assert status != 0
    assert printed == ["tcpchat: cannot use --db tcpchat.db: not an SQLite database"]


def test_a_foreign_database_ends_start_up_with_one_line(tmp_path: Path) -> None:
    """A SQLite file of another program: one line, and its table is left as it was."""
    with sqlite3.connect(tmp_path / "other.db") as foreign:
        foreign.execute("CREATE TABLE history (id INTEGER PRIMARY KEY, url TEXT)")
        foreign.execute("INSERT INTO history VALUES (1, 'https://example.org/')")
    status, printed = refused_start(tmp_path, "--db", "other.db")
    assert status != 0
    assert len(printed) == 1, printed
    assert printed[0].startswith("tcpchat: cannot use --db other.db: ")
    assert "history table is not tcpchat's" in printed[0]
    with sqlite3.connect(tmp_path / "other.db") as foreign:
        assert foreign.execute("SELECT url FROM history").fetchall() == [("https://example.org/",)]


def test_a_folder_as_database_ends_start_up_with_one_line(tmp_path: Path) -> None:
    """--db naming a folder: one line."""
    (tmp_path / "tcpchat.db").mkdir()
    status, printed = refused_start(tmp_path)
    assert status != 0
    assert printed == ["tcpchat: cannot use --db tcpchat.db: it is a folder"]
