"""Private messages to registered users who are offline: kept, then handed over at login.

Each test runs a whole server in memory (:class:`chat.testing.Chat` with accounts) and gives
it what ``twistd tcpchat`` gives it: a :class:`~chat.accounts.mailbox.Mailbox`, here in
memory and answering at once, on the harness's clock. The mailbox's own rules (expiry, the
bound kept in one statement) have their tests in ``test_accounts_mailbox``.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator

import pytest

from chat.accounts import passwords
from chat.accounts.mailbox import Mailbox
from chat.testing import Chat, TypedConnection
from tests.support.contract import fired

PASSWORD = "correcthorse"
NOON = calendar.timegm((2026, 12, 2, 12, 0, 0))
"""When these tests start: 2026-12-02 12:00Z."""
KEPT = "*** carol is offline: the message is kept and delivered at their next login"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passwords hashed with scrypt's lowest cost: these tests log in many times over."""
    monkeypatch.setattr(passwords, "N", 2)
    monkeypatch.setattr(passwords, "R", 1)


def chat_with_mailbox(per_user: int = 50) -> Iterator[Chat]:
    chat = Chat(accounts=True, flood_rate=0, login_delay=0)
    chat.clock.advance(NOON)
    mailbox = Mailbox(":memory:", None, per_user=per_user, clock=chat.clock.seconds)
    fired(mailbox.start())
    chat.server.realm.mailbox = mailbox
    assert chat.accounts is not None
    fired(chat.accounts.register("carol", PASSWORD))
    yield chat
    fired(mailbox.stop())


@pytest.fixture
def chat() -> Iterator[Chat]:
    yield from chat_with_mailbox()


@pytest.fixture
def small_box() -> Iterator[Chat]:
    """Two messages kept per user, as ``--offline-messages 2``."""
    yield from chat_with_mailbox(per_user=2)


def log_in(chat: Chat, nick: str) -> list[str]:
    """What ``nick``, a registered nickname, is shown on logging in with its password."""
    connection = chat.connect()
    connection.type(nick)
    connection.received()
    connection.type(PASSWORD)
    return connection.received()


def logged_in(chat: Chat, nick: str) -> TypedConnection:
    connection = chat.connect()
    connection.type(nick, PASSWORD)
    connection.received()
    return connection


def delivered(lines: list[str]) -> list[str]:
    return [line for line in lines if line.endswith("(sent while you were offline)")]


def test_a_message_to_an_offline_registered_user_is_kept(chat: Chat) -> None:
    """/msg carol while she is offline: the sender is told it is kept for her next login."""
    bob = chat.connect("bob")
    bob.type("/msg carol see you at six")
    assert bob.received() == [KEPT]


def test_kept_messages_come_at_the_next_login_in_order_with_their_time(chat: Chat) -> None:
    """carol logs in two hours later: after the welcome, each message, oldest first, with
    the time it was sent and who sent it."""
    bob, dan = chat.connect("bob"), chat.connect("dan")
    bob.type("/msg carol first")
    chat.clock.advance(90)
    dan.type("/msg carol second")
    bob.type("/msg Carol third")
    chat.clock.advance(2 * 3600)
    lines = log_in(chat, "carol")
    assert lines[0].startswith("*** Welcome, carol!")
    assert delivered(lines) == [
        "[2026-12-02 12:00Z] *bob* first (sent while you were offline)",
        "[2026-12-02 12:01Z] *dan* second (sent while you were offline)",
        "[2026-12-02 12:01Z] *bob* third (sent while you were offline)",
    ]


def test_kept_messages_are_handed_over_once(chat: Chat) -> None:
    """Logging in again shows none of them a second time."""
    chat.connect("bob").type("/msg carol once")
    carol = chat.connect()
    carol.type("carol", PASSWORD)
    assert len(delivered(carol.received())) == 1
    carol.lose()
    assert delivered(log_in(chat, "carol")) == []


def test_a_full_box_is_refused_with_an_error_line(small_box: Chat) -> None:
    """With two kept already, the third gets a !!! line and is not kept."""
    bob = small_box.connect("bob")
    bob.type("/msg carol one", "/msg carol two", "/msg carol three")
    assert bob.received() == [
        KEPT, KEPT, "!!! carol is offline and has too many kept messages already; try later"
    ]
    assert [line.split("*bob* ")[1] for line in delivered(log_in(small_box, "carol"))] == [
        "one (sent while you were offline)", "two (sent while you were offline)"
    ]


def test_nothing_is_kept_for_a_nickname_nobody_registered(chat: Chat) -> None:
    """/msg to a guest's nickname that is not online is the usual "no user" error."""
    bob = chat.connect("bob")
    gus = chat.connect("gus")
    gus.lose()
    bob.received()
    bob.type("/msg gus hello", "/msg nobody hello")
    assert bob.received() == ['!!! no user is called "gus"', '!!! no user is called "nobody"']


def test_nothing_is_kept_with_offline_messages_off() -> None:
    """With ``--offline-messages 0`` a message to an offline account is "no user"."""
    for chat in chat_with_mailbox(per_user=0):
        bob = chat.connect("bob")
        bob.type("/msg carol hello")
        assert bob.received() == ['!!! no user is called "carol"']


def test_a_message_to_an_online_user_is_not_kept(chat: Chat) -> None:
    """carol online gets it at once; it does not come again at her next login."""
    carol = logged_in(chat, "carol")
    chat.connect("bob").type("/msg carol live")
    assert carol.received() == ["*** bob has joined", "*bob* live"]
    carol.lose()
    assert delivered(log_in(chat, "carol")) == []


def test_unregister_throws_away_what_was_kept_for_the_nickname(chat: Chat) -> None:
    """Messages kept for carol while she went by cara are not shown to whoever registers
    carol after she unregisters."""
    carol = logged_in(chat, "carol")
    carol.type("/nick cara")
    chat.connect("bob").type("/msg carol for the old carol")
    carol.type("/nick carol", f"/unregister {PASSWORD}")
    assert carol.received()[-1] == "*** carol is no longer registered"
    carol.type(f"/register {PASSWORD}", "/quit")
    carol.lose()
    assert delivered(log_in(chat, "carol")) == []


def test_unregister_under_another_nickname_throws_away_the_accounts_messages(
    chat: Chat,
) -> None:
    """carol, going by cara, unregisters: what was kept for carol is thrown away all the same."""
    carol = logged_in(chat, "carol")
    carol.type("/nick cara")
    chat.connect("bob").type("/msg carol for the old carol")
    carol.type(f"/unregister {PASSWORD}", "/quit")
    carol.lose()
    newcomer = chat.connect("carol")
    newcomer.type(f"/register {PASSWORD}", "/quit")
    newcomer.lose()
    assert delivered(log_in(chat, "carol")) == []
