"""Accounts, the reactor's facade: Deferreds, one worker thread, checks that tell nothing by time.

The worker thread is real; its results come back through a
:class:`~tests.support.history_support.ThreadedClock`, whose ``result``
runs the calls from threads until the Deferred fires (5 s at most).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from twisted.internet import defer
from twisted.internet.interfaces import IReactorFromThreads

from chat.accounts import store as store_module
from chat.accounts.passwords import PasswordRefusedError, verify_password
from chat.accounts.store import (
    Account,
    AccountExistsError,
    Accounts,
    AccountStore,
    NoSuchAccountError,
)
from chat.domain.errors import NicknameInvalidError
from chat.storage import StoreError
from tests.support.history_support import ThreadedClock

T = TypeVar("T")
TIMEOUT = 5.0
PASSWORD = "correct horse"
NEW_PASSWORD = "battery staple"


class Running:
    """Accounts on a worker thread, and a way to wait for what they answer."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.clock = ThreadedClock()
        self.accounts = Accounts(path, cast(IReactorFromThreads, self.clock))

    def result(self, deferred: defer.Deferred[T]) -> T:
        value: T = self.clock.result(deferred, TIMEOUT)
        return value

    def failure(self, deferred: defer.Deferred[Any]) -> BaseException:
        with pytest.raises(Exception) as failed:
            self.result(deferred)
        return failed.value


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    started = Running(str(tmp_path / "chat.db"))
    started.result(started.accounts.start())
    yield started
    started.result(started.accounts.stop())


@pytest.fixture
def alice(running: Running) -> Account:
    """An account alice with PASSWORD."""
    return running.result(running.accounts.register("alice", PASSWORD))


def test_register_makes_an_account(running: Running) -> None:
    """register gives the new account, named as registered, not an operator."""
    account = running.result(running.accounts.register("Alice", PASSWORD))
    assert (account.name, account.key, account.operator) == ("Alice", "alice", False)


def test_register_may_make_an_operator(running: Running) -> None:
    """register(..., operator=True) makes a server operator."""
    assert running.result(running.accounts.register("root", PASSWORD, operator=True)).operator


def test_register_refuses_an_invalid_nickname(running: Running) -> None:
    """A nickname that breaks the rules fails with NicknameInvalidError."""
    error = running.failure(running.accounts.register("a b", PASSWORD))
    assert isinstance(error, NicknameInvalidError)


def test_register_refuses_a_password_the_rules_refuse(running: Running) -> None:
    """A password too short fails with PasswordRefusedError and its reason."""
    error = running.failure(running.accounts.register("alice", "short"))
    assert isinstance(error, PasswordRefusedError)
    assert error.reason == "shorter than 8 characters"


def test_register_refuses_a_taken_nickname(running: Running, alice: Account) -> None:
    """A nickname with an account already, in any case, fails with AccountExistsError."""
    assert isinstance(running.failure(running.accounts.register("ALICE", PASSWORD)),
                      AccountExistsError)


def test_registered_says_whether_a_nickname_has_an_account(
    running: Running, alice: Account
) -> None:
    """registered is True for a registered nickname in any case, False for another."""
    accounts = running.accounts
    assert running.result(accounts.registered("ALICE")) is True
    assert running.result(accounts.registered("bob")) is False


def test_find_gives_the_account_or_none(running: Running, alice: Account) -> None:
    """find gives the account of a registered nickname, None for another."""
    assert running.result(running.accounts.find("Alice")) == alice
    assert running.result(running.accounts.find("bob")) is None


def test_check_with_the_right_password_gives_the_account(
    running: Running, alice: Account
) -> None:
    """check with the account's password gives the account."""
    assert running.result(running.accounts.check("alice", PASSWORD)) == alice


def test_check_with_a_wrong_password_gives_none(running: Running, alice: Account) -> None:
    """check with another password gives None."""
    assert running.result(running.accounts.check("alice", NEW_PASSWORD)) is None


def test_check_of_a_nickname_without_account_gives_none(running: Running) -> None:
    """check of a nickname nobody registered gives None."""
    assert running.result(running.accounts.check("nobody", PASSWORD)) is None


def test_check_without_account_still_verifies_a_password(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no account, a password is still verified (against a dummy hash): the time is alike."""
    verified: list[str] = []
    real = verify_password

    def spy(password: str, stored: str) -> bool:
        verified.append(stored)
        return real(password, stored)

    monkeypatch.setattr(store_module, "verify_password", spy)
    running.result(running.accounts.check("nobody", PASSWORD))
    assert len(verified) == 1 and verified[0].startswith("scrypt$16384$8$1$")


def test_change_password_with_the_right_old_one_replaces_it(
    running: Running, alice: Account
) -> None:
    """change_password gives True; then the new password checks and the old one does not."""
    accounts = running.accounts
    assert running.result(accounts.change_password("alice", PASSWORD, NEW_PASSWORD)) is True
    assert running.result(accounts.check("alice", NEW_PASSWORD)) == alice
    assert running.result(accounts.check("alice", PASSWORD)) is None


def test_change_password_with_a_wrong_old_one_changes_nothing(
    running: Running, alice: Account
) -> None:
    """change_password with a wrong old password gives False; the password stays."""
    accounts = running.accounts
    assert running.result(accounts.change_password("alice", "wrong password", NEW_PASSWORD)) \
        is False
    assert running.result(accounts.check("alice", PASSWORD)) == alice


def test_change_password_of_a_nickname_without_account_gives_false(running: Running) -> None:
    """change_password of a nickname nobody registered gives False."""
    assert running.result(running.accounts.change_password("nobody", PASSWORD, NEW_PASSWORD)) \
        is False


def test_change_password_refuses_a_new_password_the_rules_refuse(
    running: Running, alice: Account
) -> None:
    """A new password that the rules refuse fails with PasswordRefusedError."""
    error = running.failure(running.accounts.change_password("alice", PASSWORD, "x" * 513))
    assert isinstance(error, PasswordRefusedError)


def test_unregister_with_the_right_password_removes_the_account(
    running: Running, alice: Account
) -> None:
    """unregister gives True and the nickname has no account any more."""
    assert running.result(running.accounts.unregister("alice", PASSWORD)) is True
    assert running.result(running.accounts.registered("alice")) is False


def test_unregister_with_a_wrong_password_keeps_the_account(
    running: Running, alice: Account
) -> None:
    """unregister with a wrong password gives False and the account stays."""
    assert running.result(running.accounts.unregister("alice", NEW_PASSWORD)) is False
    assert running.result(running.accounts.registered("alice")) is True


def test_set_operator_grants_and_revokes(running: Running, alice: Account) -> None:
    """set_operator True makes the account an operator; False makes it no longer one."""
    accounts = running.accounts
    running.result(accounts.set_operator("alice", True))
    granted = running.result(accounts.find("alice"))
    running.result(accounts.set_operator("alice", False))
    revoked = running.result(accounts.find("alice"))
    assert granted is not None and revoked is not None
    assert (granted.operator, revoked.operator) == (True, False)


def test_set_operator_of_a_nickname_without_account_fails(running: Running) -> None:
    """set_operator of a nickname nobody registered fails with NoSuchAccountError."""
    assert isinstance(running.failure(running.accounts.set_operator("nobody", True)),
                      NoSuchAccountError)


def test_a_change_made_by_the_administrator_is_seen_at_once(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account added by another connection to the file is found by the next call,
    also when the names were read (and kept) just before."""
    monkeypatch.setattr(store_module, "RACY_SECONDS", 0.0)
    assert running.result(running.accounts.registered("bob")) is False
    other = AccountStore(running.path)
    try:
        other.add("bob", "scrypt$16384$8$1$c2FsdA==$a2V5")
    finally:
        other.close()
    assert running.result(running.accounts.registered("bob")) is True


def test_a_nickname_without_account_is_answered_without_the_worker_thread(
    running: Running, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the names are read, and while the files do not change, registered and find
    answer at once for a nickname nobody registered (every guest's login asks)."""
    monkeypatch.setattr(store_module, "RACY_SECONDS", 0.0)
    accounts = running.accounts
    assert running.result(accounts.registered("bob")) is False
    asked, found = accounts.registered("bob"), accounts.find("carol")
    assert asked.called and found.called
    assert running.result(asked) is False and running.result(found) is None
    assert running.result(accounts.find("alice")) == alice


def test_names_read_from_files_modified_just_now_are_read_again_once_settled(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names read from files modified within RACY_SECONDS are used at once (a join storm
    right after the server starts asks no thread), and read once more when RACY_SECONDS
    have passed: a change in the same tick of the file system's clock shows then."""
    assert running.result(running.accounts.registered("bob")) is False
    assert running.accounts.registered("bob").called
    later = store_module._monotonic() + store_module.RACY_SECONDS
    monkeypatch.setattr(store_module, "_monotonic", lambda: later)
    read_again = running.accounts.registered("bob")
    assert not read_again.called
    assert running.result(read_again) is False


@pytest.mark.parametrize("path", ["", ":memory:"])
def test_in_memory_an_account_registered_or_removed_is_seen_by_the_next_call(
    path: str,
) -> None:
    """With no file to watch, this server's own register and unregister are still seen."""
    memory = Running(path)
    accounts = memory.accounts
    memory.result(accounts.start())
    try:
        assert memory.result(accounts.registered("alice")) is False
        memory.result(accounts.register("alice", PASSWORD))
        assert memory.result(accounts.registered("alice")) is True
        memory.result(accounts.unregister("alice", PASSWORD))
        assert memory.result(accounts.registered("alice")) is False
    finally:
        memory.result(accounts.stop())


def test_every_call_runs_on_one_worker_thread(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Store calls, hashing and verifying all run on the same thread, not the caller's."""
    threads: set[int] = set()
    for name in ["hash_password", "verify_password"]:
        monkeypatch.setattr(store_module, name, _recording(getattr(store_module, name), threads))
    monkeypatch.setattr(AccountStore, "find", _recording(AccountStore.find, threads))
    accounts = running.accounts
    running.result(accounts.register("alice", PASSWORD))
    running.result(accounts.check("alice", PASSWORD))
    running.result(accounts.check("nobody", PASSWORD))
    assert len(threads) == 1 and threading.get_ident() not in threads


def _recording(function: Any, threads: set[int]) -> Any:
    """``function``, noting the thread of every call in ``threads``."""

    def recorded(*args: Any) -> Any:
        threads.add(threading.get_ident())
        return function(*args)

    return recorded


@pytest.mark.parametrize("path", ["", ":memory:"])
def test_a_database_in_memory_keeps_accounts_between_calls(path: str) -> None:
    """With --db '' or :memory:, an account registered is checked by a later call."""
    memory = Running(path)
    memory.result(memory.accounts.start())
    try:
        memory.result(memory.accounts.register("alice", PASSWORD))
        assert memory.result(memory.accounts.check("alice", PASSWORD)) is not None
    finally:
        memory.result(memory.accounts.stop())


def test_stop_ends_the_worker_thread(tmp_path: Path) -> None:
    """After stop has fired, no thread of the accounts is left."""
    stopped = Running(str(tmp_path / "chat.db"))
    stopped.result(stopped.accounts.start())
    stopped.result(stopped.accounts.stop())
    assert not [thread for thread in threading.enumerate() if "tcpchat-accounts" in thread.name]


def test_stop_without_start_fires_at_once(tmp_path: Path) -> None:
    """stop of accounts never started has nothing to wait for."""
    assert Running(str(tmp_path / "chat.db")).accounts.stop().called


def test_start_on_a_database_that_cannot_be_used_fails(tmp_path: Path) -> None:
    """start fails with StoreError when the file is a folder; stop still ends the thread."""
    refused = Running(str(tmp_path))
    assert isinstance(refused.failure(refused.accounts.start()), StoreError)
    refused.result(refused.accounts.stop())
