"""The twisted.cred checker of accounts: the account's name for its password, else unauthorised."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from twisted.cred import portal
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword, UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from twisted.internet.interfaces import IReactorFromThreads
from zope.interface import Interface, implementer

from chat.accounts import store as store_module
from chat.accounts.checker import AccountChecker
from chat.accounts.store import Accounts, AccountStore
from chat.domain.errors import PasswordRequiredError
from chat.session.checkers import Guest, GuestChecker
from tests.support.history_support import ThreadedClock

TIMEOUT = 5.0
PASSWORD = "correct horse"


class Checking:
    """An AccountChecker over accounts on a worker thread, with Bob registered."""

    def __init__(self, path: Path) -> None:
        self.clock = ThreadedClock()
        self.accounts = Accounts(str(path), cast(IReactorFromThreads, self.clock))
        self.checker = AccountChecker(self.accounts)

    def result(self, deferred: defer.Deferred[Any]) -> Any:
        return self.clock.result(deferred, TIMEOUT)

    def avatar_id(self, username: bytes, password: bytes) -> Any:
        return self.result(self.checker.requestAvatarId(UsernamePassword(username, password)))


@pytest.fixture
def checking(tmp_path: Path) -> Iterator[Checking]:
    started = Checking(tmp_path / "chat.db")
    started.result(started.accounts.start())
    started.result(started.accounts.register("Bob", PASSWORD))
    yield started
    started.result(started.accounts.stop())


def test_the_checker_answers_username_and_password_credentials(checking: Checking) -> None:
    """It is an ICredentialsChecker for IUsernamePassword."""
    assert ICredentialsChecker.providedBy(checking.checker)
    assert checking.checker.credentialInterfaces == (IUsernamePassword,)


def test_the_right_password_gives_the_name_as_registered(checking: Checking) -> None:
    """bob with Bob's password is let in as b"Bob", the account's name in UTF-8."""
    assert checking.avatar_id(b"bob", PASSWORD.encode()) == b"Bob"


def test_a_wrong_password_is_unauthorized(checking: Checking) -> None:
    """A wrong password fails with UnauthorizedLogin."""
    with pytest.raises(UnauthorizedLogin):
        checking.avatar_id(b"Bob", b"not the password")


def test_a_nickname_without_account_is_unauthorized(checking: Checking) -> None:
    """A nickname nobody registered fails with UnauthorizedLogin."""
    with pytest.raises(UnauthorizedLogin):
        checking.avatar_id(b"carol", PASSWORD.encode())


def test_bytes_that_are_not_utf8_are_unauthorized(checking: Checking) -> None:
    """A username and password that are not UTF-8 fail as unauthorised, not with an error."""
    with pytest.raises(UnauthorizedLogin):
        checking.avatar_id(b"B\xffb", b"\xfe\xfd" * 8)


def test_a_utf8_password_is_checked_as_text(checking: Checking) -> None:
    """A password registered with non-ASCII characters lets in with its UTF-8 bytes."""
    checking.result(checking.accounts.register("carol", "mot de passe é"))
    assert checking.avatar_id(b"carol", "mot de passe é".encode()) == b"carol"


class IAvatar(Interface):
    """What the realm of the test hands out."""


@implementer(portal.IRealm)
class NamingRealm:
    """A realm whose avatar is the avatar id it was given."""

    def requestAvatar(self, avatarId: Any, mind: Any, *interfaces: Any) -> Any:
        return IAvatar, avatarId, lambda: None


def test_a_portal_with_the_checker_logs_in_as_the_account(checking: Checking) -> None:
    """Through a Portal, the realm gets the account's name as the avatar id."""
    logins = portal.Portal(NamingRealm(), [checking.checker])
    credentials = UsernamePassword(b"BOB", PASSWORD.encode())
    _, avatar, _ = checking.result(logins.login(credentials, None, IAvatar))
    assert avatar == b"Bob"


def test_a_guest_is_let_in_at_once_and_an_account_added_beside_is_seen_next(
    checking: Checking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guest's nickname with no account is let in with no Deferred to wait on (every
    guest's login asks), and a nickname that tcpchat-admin registers in the file
    meanwhile asks for its password at the very next login."""
    monkeypatch.setattr(store_module, "RACY_SECONDS", 0.0)
    guests = GuestChecker(checking.accounts)
    checking.result(checking.accounts.registered("carol"))  # the names, read once settled
    assert guests.avatar_id_now(Guest("carol")) == b"carol"
    admin = AccountStore(checking.accounts.path)
    try:
        admin.add("Carol", "scrypt$16384$8$1$c2FsdA==$a2V5")
    finally:
        admin.close()
    read_again = guests.avatar_id_now(Guest("carol"))
    assert isinstance(read_again, defer.Deferred)
    with pytest.raises(PasswordRequiredError):
        checking.result(read_again)


def test_the_logins_of_one_turn_of_the_reactor_share_one_look_at_the_files(
    checking: Checking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the reactor runs, the database files are looked at by the first guest's
    login of a turn only (a join storm reads many in one turn); an account that
    tcpchat-admin registers is seen by the logins of the next turn."""
    monkeypatch.setattr(store_module, "RACY_SECONDS", 0.0)
    looks: list[str] = []
    real_stat = store_module._stat

    def stat(path: str) -> Any:
        looks.append(path)
        return real_stat(path)

    monkeypatch.setattr(store_module, "_stat", stat)
    guests = GuestChecker(checking.accounts)
    checking.result(checking.accounts.registered("carol"))
    checking.clock.running = True
    looks.clear()
    assert [guests.avatar_id_now(Guest(nick)) for nick in ("carol", "dave", "erin")] == [
        b"carol", b"dave", b"erin"
    ]
    assert len(looks) == 1
    admin = AccountStore(checking.accounts.path)
    try:
        admin.add("Carol", "scrypt$16384$8$1$c2FsdA==$a2V5")
    finally:
        admin.close()
    assert guests.avatar_id_now(Guest("carol")) == b"carol"  # the same turn
    checking.clock.advance(0)
    with pytest.raises(PasswordRequiredError):
        checking.result(guests.avatar_id_now(Guest("carol")))  # type: ignore[arg-type]
