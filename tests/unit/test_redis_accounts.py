"""Accounts in Redis: the facade's tests against RedisAccounts, and what two nodes share.

The tests of :mod:`tests.unit.test_accounts_facade` that say what the
server sees of the accounts (not how the SQLite file is watched) run here
again, with ``running`` giving a :class:`~chat.redis.accounts.RedisAccounts`
on the session's redis-server; the ones after them are Redis's own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, TypeVar, cast

import pytest
from twisted.internet import defer, reactor
from twisted.internet.interfaces import IReactorFromThreads
from twisted.python.failure import Failure

from chat.accounts.passwords import verify_password
from chat.accounts.store import Account, AccountExistsError
from chat.redis import accounts as redis_accounts
from chat.redis.accounts import RedisAccounts
from tests.support.redis_server import RedisServer, redis, redis_server, settle
from tests.unit.test_accounts_facade import (
    NEW_PASSWORD,
    PASSWORD,
    alice,
    test_change_password_of_a_nickname_without_account_gives_false,
    test_change_password_refuses_a_new_password_the_rules_refuse,
    test_change_password_with_a_wrong_old_one_changes_nothing,
    test_change_password_with_the_right_old_one_replaces_it,
    test_check_of_a_nickname_without_account_gives_none,
    test_check_with_a_wrong_password_gives_none,
    test_check_with_the_right_password_gives_the_account,
    test_find_gives_the_account_or_none,
    test_register_makes_an_account,
    test_register_may_make_an_operator,
    test_register_refuses_a_password_the_rules_refuse,
    test_register_refuses_a_taken_nickname,
    test_register_refuses_an_invalid_nickname,
    test_registered_says_whether_a_nickname_has_an_account,
    test_set_operator_grants_and_revokes,
    test_set_operator_of_a_nickname_without_account_fails,
    test_unregister_with_a_wrong_password_keeps_the_account,
    test_unregister_with_the_right_password_removes_the_account,
)

__all__ = [  # the fixtures and the facade's tests, for pytest to find
    "alice",
    "redis",
    "redis_server",
    "test_change_password_of_a_nickname_without_account_gives_false",
    "test_change_password_refuses_a_new_password_the_rules_refuse",
    "test_change_password_with_a_wrong_old_one_changes_nothing",
    "test_change_password_with_the_right_old_one_replaces_it",
    "test_check_of_a_nickname_without_account_gives_none",
    "test_check_with_a_wrong_password_gives_none",
    "test_check_with_the_right_password_gives_the_account",
    "test_find_gives_the_account_or_none",
    "test_register_makes_an_account",
    "test_register_may_make_an_operator",
    "test_register_refuses_a_password_the_rules_refuse",
    "test_register_refuses_a_taken_nickname",
    "test_register_refuses_an_invalid_nickname",
    "test_registered_says_whether_a_nickname_has_an_account",
    "test_set_operator_grants_and_revokes",
    "test_set_operator_of_a_nickname_without_account_fails",
    "test_unregister_with_a_wrong_password_keeps_the_account",
    "test_unregister_with_the_right_password_removes_the_account",
]

T = TypeVar("T")
_REACTOR = cast(IReactorFromThreads, reactor)


class RedisRunning:
    """RedisAccounts on the session's Redis, started, and a way to wait for what they answer."""

    def __init__(self, redis: RedisServer) -> None:
        self.redis = redis
        self.accounts = RedisAccounts(redis.connect(), _REACTOR)
        self.others: list[RedisAccounts] = []

    def result(self, deferred: defer.Deferred[T]) -> T:
        return settle(deferred)

    def failure(self, deferred: defer.Deferred[Any]) -> BaseException:
        with pytest.raises(Exception) as failed:
            self.result(deferred)
        return failed.value

    def other_node(self) -> RedisAccounts:
        """Another node's accounts on the same Redis, started (stopped with these)."""
        other = RedisAccounts(self.redis.connect(), _REACTOR)
        self.result(other.start())
        self.others.append(other)
        return other


@pytest.fixture
def running(redis: RedisServer) -> Iterator[RedisRunning]:
    started = RedisRunning(redis)
    started.result(started.accounts.start())
    yield started
    for accounts in [started.accounts, *started.others]:
        started.result(accounts.stop())


def test_an_account_registered_on_one_node_logs_in_on_another(
    running: RedisRunning, alice: Account
) -> None:
    """Another node finds the account, checks its password, and refuses a wrong one."""
    other = running.other_node()
    assert running.result(other.registered("ALICE")) is True
    assert running.result(other.check("alice", PASSWORD)) == alice
    assert running.result(other.check("alice", NEW_PASSWORD)) is None


def test_two_nodes_registering_one_name_at_once_make_one_account(running: RedisRunning) -> None:
    """Both ask at once, in any case: one gets the account, the other AccountExistsError."""
    other = running.other_node()
    asked = [running.accounts.register("carol", PASSWORD), other.register("CAROL", NEW_PASSWORD)]
    outcomes = running.result(defer.DeferredList(asked, consumeErrors=True))
    made = [value for succeeded, value in outcomes if succeeded]
    refused = [cast(Failure, value).value for succeeded, value in outcomes if not succeeded]
    assert len(made) == 1 and len(refused) == 1
    assert isinstance(refused[0], AccountExistsError)
    checks = [running.result(other.check("carol", password)) for password in
              (PASSWORD, NEW_PASSWORD)]
    assert [check is not None for check in checks].count(True) == 1


def test_a_password_changed_on_one_node_is_the_password_on_another(
    running: RedisRunning, alice: Account
) -> None:
    """After change_password on one node the other takes only the new password."""
    other = running.other_node()
    assert running.result(running.accounts.change_password("alice", PASSWORD, NEW_PASSWORD))
    assert running.result(other.check("alice", PASSWORD)) is None
    assert running.result(other.check("alice", NEW_PASSWORD)) == alice


def test_an_account_removed_on_one_node_is_gone_on_another(
    running: RedisRunning, alice: Account
) -> None:
    """After unregister on one node the other has no account of that name."""
    other = running.other_node()
    assert running.result(running.accounts.unregister("alice", PASSWORD)) is True
    assert running.result(other.registered("alice")) is False
    assert running.result(other.find("alice")) is None


def test_accounts_lists_every_account_by_folded_name(running: RedisRunning) -> None:
    """accounts gives each account once, sorted by its folded name."""
    for name in ("bob", "Alice"):
        running.result(running.accounts.register(name, PASSWORD))
    listed = running.result(running.accounts.accounts())
    assert [account.name for account in listed] == ["Alice", "bob"]


def test_check_without_account_still_verifies_a_password(
    running: RedisRunning, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no account, a password is still verified (against a dummy hash): the time is alike."""
    verified: list[str] = []

    def spy(password: str, stored: str) -> bool:
        verified.append(stored)
        return verify_password(password, stored)

    monkeypatch.setattr(redis_accounts, "verify_password", spy)
    running.result(running.accounts.check("nobody", PASSWORD))
    assert len(verified) == 1 and verified[0].startswith("scrypt$16384$8$1$")


def test_hashing_and_checking_run_on_one_worker_thread(
    running: RedisRunning, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hashing and verifying run on one thread of their own, never the reactor's."""
    threads: set[int] = set()
    for name in ["hash_password", "verify_password"]:
        real = getattr(redis_accounts, name)
        monkeypatch.setattr(redis_accounts, name, _recording(real, threads))
    accounts = running.accounts
    running.result(accounts.register("alice", PASSWORD))
    running.result(accounts.check("alice", PASSWORD))
    running.result(accounts.check("nobody", PASSWORD))
    assert len(threads) == 1 and threading.get_ident() not in threads


def _recording(function: Any, threads: set[int]) -> Any:
    def recorded(*args: Any) -> Any:
        threads.add(threading.get_ident())
        return function(*args)

    return recorded


def test_stop_ends_the_hashing_thread(redis: RedisServer) -> None:
    """After stop has fired, no thread of the accounts is left."""
    accounts = RedisAccounts(redis.connect(), _REACTOR)
    settle(accounts.start())
    settle(accounts.stop())
    assert not [thread for thread in threading.enumerate() if "tcpchat-accounts" in thread.name]
