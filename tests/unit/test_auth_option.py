"""--auth: an administrator's twisted.cred checker for nicknames the database has no account for."""

from __future__ import annotations

import pytest
from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.python import usage

from chat.options import Options
from chat.session.checkers import chat_portal
from chat.testing import Chat, TypedConnection


def parsed(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


def test_auth_takes_a_strcred_checker() -> None:
    """`--auth memory:NAME:PASSWORD` (or file:, unix, ...) becomes a checker of the server."""
    [checker] = parsed("--auth", "memory:alice:sesame")["auth"]
    assert checker.requestAvatarId  # a twisted.cred checker


def test_without_auth_there_is_no_extra_checker() -> None:
    assert parsed()["auth"] == ()


def test_an_unknown_auth_kind_is_a_usage_error() -> None:
    with pytest.raises(usage.UsageError):
        parsed("--auth", "no-such-checker:x")


def chat_with_auth(require_account: bool) -> Chat:
    chat = Chat(accounts=True, flood_rate=0, require_account=require_account)
    checker = InMemoryUsernamePasswordDatabaseDontUse(alice=b"sesame")
    chat.server.portal = chat_portal(chat.server.realm, require_account, (checker,))
    return chat


def typed(chat: Chat, *lines: str) -> tuple[TypedConnection, list[str]]:
    connection = chat.connect()
    connection.type(*lines)
    return connection, connection.received()


def test_with_accounts_required_an_auth_user_logs_in_with_its_password() -> None:
    """A closed community: only the nicknames of the administrator's checker get in."""
    chat = chat_with_auth(require_account=True)
    _, lines = typed(chat, "alice")
    assert len(lines) == 1 and "password" in lines[0]
    _, lines = typed(chat, "alice", "sesame")
    assert any(line.startswith("*** Welcome, alice!") for line in lines)


def test_a_wrong_auth_password_is_refused_and_asked_again() -> None:
    chat = chat_with_auth(require_account=True)
    _, lines = typed(chat, "alice", "wrong")
    assert lines[-2].startswith("!!! wrong password")
    assert "password" in lines[-1]


def test_with_accounts_required_a_name_no_checker_knows_cannot_join() -> None:
    chat = chat_with_auth(require_account=True)
    _, lines = typed(chat, "mallory", "anything")
    assert lines[-2].startswith("!!! wrong password")


def test_an_auth_user_cannot_change_a_password_tcpchat_does_not_keep() -> None:
    chat = chat_with_auth(require_account=True)
    alice, _ = typed(chat, "alice", "sesame")
    alice.type("/password sesame other")
    [refusal] = alice.received()
    assert refusal.startswith("!!! ") and "not registered" in refusal


def test_without_accounts_required_guests_still_join() -> None:
    chat = chat_with_auth(require_account=False)
    _, lines = typed(chat, "bob")
    assert lines[0].startswith("*** Welcome, bob!")


def test_a_memory_checker_made_by_auth_lets_its_user_in() -> None:
    """strcred's memory: checker keeps its users as text, not bytes: it works too."""
    [checker] = parsed("--auth", "memory:henry:sesame")["auth"]
    chat = Chat(accounts=True, flood_rate=0, require_account=True)
    chat.server.portal = chat_portal(chat.server.realm, True, (checker,))
    _, lines = typed(chat, "henry", "sesame")
    assert any(line.startswith("*** Welcome, henry!") for line in lines), lines
