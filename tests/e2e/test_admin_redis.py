"""tcpchat-admin --redis: the accounts of a chat kept in Redis, beside its running nodes.

Each test runs ``python -m chat.admin --redis URL`` from this checkout
against the session's redis-server (tests/support/redis_server.py), on a
database of its own (``?db=N``, emptied first), and reads what it did back
with :class:`~chat.redis.accounts.RedisAccountStore`, as the nodes would find
it. The cluster test starts two real ``twistd -n tcpchat --redis`` nodes and
logs in on them after each change; they are stopped by their pid.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat.accounts.passwords import verify_password
from chat.accounts.store import Account
from chat.redis.accounts import RedisAccountStore
from chat.redis.address import BlockingConnection, RedisAddress, blocking_command
from tests.e2e.test_admin_tool import NEW_PASSWORD, PASSWORD, TIMEOUT, environment
from tests.support.checked import error
from tests.support.redis_server import RedisServer, redis_server
from tests.support.servers import LineConnection, RunningServer, all_running

__all__ = ["redis_server"]  # the fixture, for pytest to find

pytestmark = pytest.mark.e2e

TOOL_DB, CLUSTER_DB = 7, 8
"""The Redis databases these tests use, apart from the other tests' (db 0)."""


def run(*arguments: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the tool from this checkout with ``arguments``, stdin not a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "chat.admin", *arguments], env=environment(password),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )


class Cluster:
    """The accounts of a chat in one Redis database, through the tool and as nodes see them."""

    def __init__(self, server: RedisServer, db: int) -> None:
        self.address = RedisAddress(path=server.path, db=db)
        self.url = f"unix:{server.path}?db={db}"

    def done(self, *arguments: str, password: str | None = None) -> str:
        """Run the tool with --redis expecting success; what it printed."""
        ran = run("--redis", self.url, *arguments, password=password)
        assert (ran.returncode, ran.stderr) == (0, ""), ran
        return ran.stdout

    def refused(self, *arguments: str, password: str | None = None) -> tuple[int, list[str]]:
        """Run the tool with --redis expecting failure: its status and its stderr's lines."""
        ran = run("--redis", self.url, *arguments, password=password)
        assert ran.returncode != 0 and ran.stdout == "", ran
        return ran.returncode, ran.stderr.splitlines()

    def stored(self, name: str) -> tuple[Account, str] | None:
        """The account of ``name`` and its hash, as a node would find them."""
        with BlockingConnection(self.address) as connection:
            return RedisAccountStore(connection).find(name)

    def password_of(self, name: str, password: str) -> bool:
        found = self.stored(name)
        return found is not None and verify_password(password, found[1])

    def is_operator(self, name: str) -> bool:
        found = self.stored(name)
        assert found is not None, f"no account {name}"
        return found[0].operator


def _emptied(server: RedisServer, db: int) -> Cluster:
    cluster = Cluster(server, db)
    assert blocking_command(cluster.address, "FLUSHDB") == "OK"
    return cluster


@pytest.fixture
def redis_accounts(redis_server: RedisServer) -> Cluster:
    """An empty Redis database for the tool."""
    return _emptied(redis_server, TOOL_DB)


@pytest.fixture
def alice(redis_accounts: Cluster) -> Cluster:
    """The accounts with alice in them, whose password is PASSWORD."""
    redis_accounts.done("add", "alice", password=PASSWORD)
    return redis_accounts


def test_add_makes_an_account_in_redis_with_the_password(redis_accounts: Cluster) -> None:
    """add NAME says what it says with --db; the account in Redis has that password."""
    assert redis_accounts.done("add", "Alice", password=PASSWORD) == "added account Alice\n"
    assert redis_accounts.password_of("alice", PASSWORD)
    assert not redis_accounts.is_operator("alice")


def test_add_operator_makes_a_server_operator(redis_accounts: Cluster) -> None:
    """add NAME --operator makes an operator account in Redis."""
    assert redis_accounts.done("add", "root", "--operator", password=PASSWORD) \
        == "added operator account root\n"
    assert redis_accounts.is_operator("root")


def test_list_shows_each_account_its_role_and_registration(alice: Cluster) -> None:
    """list gives the lines --db gives, by folded nickname; with none left, says so."""
    alice.done("add", "Bob", "--operator", password=PASSWORD)
    lines = alice.done("list").splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["alice", "user", "registered"], ["Bob", "operator", "registered"]
    ]
    assert lines[0].split()[3] == time.strftime("%Y-%m-%d", time.gmtime())
    alice.done("remove", "alice")
    alice.done("remove", "bob")
    assert alice.done("list") == "no accounts\n"


def test_reset_gives_a_new_password(alice: Cluster) -> None:
    """reset NAME replaces the password in Redis: the new one verifies, the old one no longer."""
    assert alice.done("reset", "ALICE", password=NEW_PASSWORD) == "new password for alice\n"
    assert alice.password_of("alice", NEW_PASSWORD)
    assert not alice.password_of("alice", PASSWORD)


def test_remove_deletes_the_account(alice: Cluster) -> None:
    """remove NAME says so and the account is gone from Redis, its name free again."""
    assert alice.done("remove", "Alice") == "removed account alice\n"
    assert alice.stored("alice") is None
    assert alice.done("add", "alice", password=NEW_PASSWORD) == "added account alice\n"


def test_grant_and_revoke_make_an_operator_and_undo_it(alice: Cluster) -> None:
    """grant NAME and revoke NAME change the account's operator flag in Redis."""
    assert alice.done("grant", "alice") == "alice is now a server operator\n"
    granted = alice.is_operator("alice")
    assert alice.done("revoke", "alice") == "alice is no longer a server operator\n"
    assert (granted, alice.is_operator("alice")) == (True, False)


@pytest.mark.parametrize("action", ["remove", "reset", "grant", "revoke"])
def test_an_account_that_does_not_exist_fails_with_status_1(alice: Cluster, action: str) -> None:
    """remove, reset, grant and revoke of a nickname with no account fail as with --db."""
    assert alice.refused(action, "bob", password=PASSWORD) == (
        1, ["tcpchat-admin: no account named bob"]
    )


def test_adding_an_existing_account_fails_with_status_1(alice: Cluster) -> None:
    """add of a nickname that has an account (in any case) fails, changing nothing."""
    assert alice.refused("add", "ALICE", password=NEW_PASSWORD) == (
        1, ["tcpchat-admin: an account named ALICE exists already"]
    )
    assert alice.password_of("alice", PASSWORD)


def test_db_and_redis_together_are_a_usage_error(redis_accounts: Cluster, tmp_path: Path) -> None:
    """--db and --redis at once: one line, status 2, and no database file made."""
    db = tmp_path / "chat.db"
    ran = run("--db", str(db), "--redis", redis_accounts.url, "add", "alice", password=PASSWORD)
    assert (ran.returncode, ran.stdout, ran.stderr) == (
        2, "", "tcpchat-admin: give --db PATH or --redis URL, not both\n"
    )
    assert not db.exists() and redis_accounts.stored("alice") is None


@pytest.mark.parametrize("where", ["unix:{tmp}/none.sock", "redis://127.0.0.1:1/0"])
def test_an_unreachable_redis_is_one_line_and_status_2(tmp_path: Path, where: str) -> None:
    """No Redis at the URL: one line naming where it looked, status 2, no traceback."""
    url = where.format(tmp=tmp_path)
    ran = run("--redis", url, "list")
    assert (ran.returncode, ran.stdout) == (2, "")
    place = f"{tmp_path}/none.sock" if url.startswith("unix:") else "127.0.0.1:1"
    assert ran.stderr.startswith(f"tcpchat-admin: --redis: Redis at {place}: ")
    assert len(ran.stderr.splitlines()) == 1


def test_a_malformed_url_is_one_line_and_status_2() -> None:
    """A --redis that is no Redis URL is said as twistd tcpchat says it, with status 2."""
    ran = run("--redis", "http://example.org", "list")
    assert (ran.returncode, ran.stdout) == (2, "")
    assert ran.stderr.startswith("tcpchat-admin: --redis: 'http://example.org': use redis://")


def test_a_wrong_redis_password_is_one_line_and_status_2(redis_server: RedisServer) -> None:
    """A password given to a Redis that has none is refused by Redis, in one line."""
    ran = run("--redis", f"unix:{redis_server.path}?password=wrong", "list")
    assert (ran.returncode, ran.stdout, len(ran.stderr.splitlines())) == (2, "", 1)
    assert ran.stderr.startswith("tcpchat-admin: --redis: ") and "AUTH" in ran.stderr


# Beside two running nodes of the chat.

def _logs_in(node: RunningServer, nick: str, password: str) -> LineConnection:
    """``nick`` answers its password prompt on ``node`` and is welcomed."""
    user = node.connect()
    user.expect("choose a nickname")
    user.send_line(nick)
    user.expect(lambda line: line.startswith("*** ") and "password" in line)
    user.send_line(password)
    user.expect(f"Welcome, {nick}!")
    return user


@pytest.fixture
def nodes(
    redis_server: RedisServer, tmp_path: Path
) -> Iterator[tuple[Cluster, list[RunningServer]]]:
    """Two nodes of one chat, neither with a --db, on an emptied Redis database."""
    cluster = _emptied(redis_server, CLUSTER_DB)
    arguments = ["--db", "", "--history", "0", "--login-delay", "0.1", "--redis", cluster.url]
    with all_running(tmp_path, [arguments] * 2) as started:
        yield cluster, started


def test_every_node_sees_each_change_at_the_next_login(
    nodes: tuple[Cluster, list[RunningServer]],
) -> None:
    """An account the tool adds logs in on both nodes; made an operator, it is one at its
    login on the other node (/whois there says so); reset, its old password is refused;
    removed, its name is a guest's."""
    cluster, (a, b) = nodes
    cluster.done("add", "carol", password=PASSWORD)
    _logs_in(a, "carol", PASSWORD).close()
    cluster.done("grant", "carol")
    carol = _logs_in(b, "carol", PASSWORD)
    watcher = b.connect("watcher")
    watcher.send_line("/whois carol")
    assert "server operator" in watcher.expect("carol: ")
    carol.close()
    cluster.done("reset", "carol", password=NEW_PASSWORD)
    user = a.connect()
    user.expect("choose a nickname")
    user.send_line("carol")
    user.expect(lambda line: line.startswith("*** ") and "password" in line)
    user.send_line(PASSWORD)
    user.expect(error("wrong password"))
    user.close()
    _logs_in(b, "carol", NEW_PASSWORD).close()
    cluster.done("remove", "carol")
    guest = a.connect()
    guest.join("carol")
    guest.send_line("/whois carol")
    assert "a guest (no account)" in guest.expect("carol: ")
    for connection in (watcher, guest):
        connection.close()


def test_a_removed_account_owns_no_room_when_its_name_is_registered_again(
    nodes: tuple[Cluster, list[RunningServer]],
) -> None:
    """Olive makes a room on A, which a guest on B joins and stays in; once the tool removes
    her account, whoever registers the name again (on B) does not own the room, as after
    /unregister: she may not ban there."""
    cluster, (a, b) = nodes
    olive, keeper = a.connect("olive"), b.connect("keeper")
    olive.send_line(f"/register {PASSWORD}")
    olive.expect("registered")
    olive.send_line("/join attic")
    olive.expect("you are now in attic")
    keeper.send_line("/join attic")
    keeper.expect("you are now in attic")
    olive.close()
    cluster.done("remove", "olive")
    again = b.connect()
    again.join("olive")
    again.send_line(f"/register {NEW_PASSWORD}")
    again.expect("registered")
    again.send_line("/join attic")
    again.expect("you are now in attic")
    again.send_line("/ban zed")
    again.expect(error("only its operators and server operators may ban from attic"))
    again.close()
    keeper.close()


def test_joining_a_room_that_exists_on_another_node_does_not_make_its_owner(
    nodes: tuple[Cluster, list[RunningServer]],
) -> None:
    """A guest makes a room on A and stays; a registered user who joins it on B does not own
    it (as on one node, where only whoever creates a room owns it): she may not ban there."""
    _cluster, (a, b) = nodes
    maker = a.connect("maker")
    maker.send_line("/join den")
    maker.expect("you are now in den")
    rita = b.connect("rita")
    rita.send_line(f"/register {PASSWORD}")
    rita.expect("registered")
    rita.send_line("/join den")
    rita.expect("you are now in den")
    rita.send_line("/ban zed")
    try:
        answer = rita.expect(lambda line: "ban" in line)
        assert error("only its operators and server operators may ban from den")(answer), answer
    finally:
        for user in (maker, rita):
            user.close()


def test_a_removed_accounts_letters_do_not_go_to_the_next_holder_of_the_name(
    nodes: tuple[Cluster, list[RunningServer]],
) -> None:
    """A letter kept for offline pia on A is not handed over, after the tool removes her
    account, to whoever registers the name again there and logs in."""
    cluster, (a, _b) = nodes
    pia = a.connect("pia")
    pia.send_line(f"/register {PASSWORD}")
    pia.expect("registered")
    pia.close()
    sam = a.connect("sam")
    sam.send_line("/msg pia for pia only")
    sam.expect("is offline: the message is kept")
    sam.close()
    cluster.done("remove", "pia")
    again = a.connect()
    again.join("pia")
    again.send_line(f"/register {NEW_PASSWORD}")
    again.expect("registered")
    again.close()
    later = _logs_in(a, "pia", NEW_PASSWORD)
    later.send_line("/whois pia")
    seen = later.expect("pia: ")
    later.close()
    assert not [line for line in later.seen if "for pia only" in line], seen
