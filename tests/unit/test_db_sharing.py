"""One --db file shared by the server's stores and the administrator's command, safely."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from chat.accounts.store import AccountStore


def other_process_opens_and_closes(path: Path) -> None:
    """What a `tcpchat-admin list` does to the file, from another process."""
    script = (
        "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
        "db.execute('SELECT count(*) FROM sqlite_master').fetchall(); db.close()"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=30)


def test_opening_the_accounts_beside_the_history_keeps_the_historys_wal(tmp_path: Path) -> None:
    """Opening the accounts in the server process leaves the locks of its other connection
    to the file in place: another process closing the file then does not delete the WAL
    that holds the server's latest writes (they would be lost)."""
    path = tmp_path / "chat.db"
    server = sqlite3.connect(path)
    server.execute("PRAGMA journal_mode=WAL")
    server.execute("PRAGMA wal_autocheckpoint=0")
    with server:
        server.execute("CREATE TABLE said (text TEXT)")
        server.execute("INSERT INTO said VALUES ('kept')")
    AccountStore(str(path)).close()
    other_process_opens_and_closes(path)
    assert (tmp_path / "chat.db-wal").exists()
    with server:
        server.execute("INSERT INTO said VALUES ('after')")
    fresh = sqlite3.connect(path)
    assert fresh.execute("SELECT text FROM said").fetchall() == [("kept",), ("after",)]
