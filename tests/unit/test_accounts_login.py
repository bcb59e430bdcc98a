"""Accounts as a person on a line connection meets them: the password prompt, the commands.

Each test runs a whole server in memory (:class:`chat.testing.Chat` with
in-memory accounts that answer at once) and reads what the person is shown.
The accounts store itself has its own tests (``test_accounts_*``).
"""

from __future__ import annotations

import pytest

from chat.testing import Chat, TypedConnection
from tests.support.contract import fired

PASSWORD = "correcthorse"
NEW_PASSWORD = "batterystaple"
WRONG = "wronghorse"
DELAY = 10.0
"""``--login-delay`` of these tests: long enough to tell waiting from not waiting."""


@pytest.fixture
def chat() -> Chat:
    return Chat(accounts=True, flood_rate=0, login_delay=DELAY)


def is_password_prompt(line: str) -> bool:
    return line.startswith("*** ") and "password" in line


def welcomed(lines: list[str], nick: str) -> bool:
    return any(line.startswith(f"*** Welcome, {nick}!") for line in lines)


def register(chat: Chat, nick: str, password: str = PASSWORD) -> None:
    """``nick`` joins, registers with /register, and quits."""
    member = chat.connect(nick)
    member.type(f"/register {password}")
    assert member.received() == [
        f"*** {nick} is registered: from now on it asks for its password"
    ]
    leave(member)


def leave(connection: TypedConnection) -> None:
    connection.type("/quit")
    connection.received()
    connection.lose()


def at_prompt(chat: Chat, nick: str, host: str = "127.0.0.1") -> TypedConnection:
    """A new connection that has typed ``nick``, a registered nickname, and was asked for
    its password."""
    connection = chat.connect(host=host)
    connection.type(nick)
    [prompt] = connection.received()
    assert is_password_prompt(prompt), prompt
    return connection


def join(chat: Chat, nick: str) -> list[str]:
    """What a new connection is shown once it has typed ``nick``."""
    connection = chat.connect()
    connection.type(nick)
    return connection.received()


def logged_in(chat: Chat, nick: str, password: str = PASSWORD) -> TypedConnection:
    connection = at_prompt(chat, nick)
    connection.type(password)
    assert welcomed(connection.received(), nick)
    return connection


# The password prompt


def test_a_registered_nickname_asks_for_its_password_instead_of_the_welcome(chat: Chat) -> None:
    """After /register, the next connection under the nickname is asked for its password."""
    register(chat, "alice")
    connection = chat.connect()
    connection.type("alice")
    [line] = connection.received()
    assert is_password_prompt(line)
    assert chat.registry.find("alice") is None


def test_the_right_password_gets_the_welcome(chat: Chat) -> None:
    """The account's password, typed at the prompt, joins the room."""
    register(chat, "alice")
    bob = chat.connect("bob")
    connection = at_prompt(chat, "alice")
    connection.type(PASSWORD)
    assert welcomed(connection.received(), "alice")
    assert bob.received() == ["*** alice has joined"]


def test_a_wrong_password_is_refused_and_asked_again_with_the_connection_open(
    chat: Chat,
) -> None:
    """A wrong password gets a !!! line and the prompt again; nothing is closed or joined."""
    register(chat, "alice")
    connection = at_prompt(chat, "alice")
    connection.type(WRONG)
    refusal, prompt = connection.received()
    assert refusal.startswith("!!! ") and "wrong password" in refusal
    assert is_password_prompt(prompt)
    assert not connection.transport.disconnecting
    assert chat.registry.find("alice") is None


def test_after_a_wrong_password_the_next_attempt_waits_the_login_delay(chat: Chat) -> None:
    """The right password typed just after a wrong one is answered once the delay is over."""
    register(chat, "alice")
    connection = at_prompt(chat, "alice")
    connection.type(WRONG)
    connection.received()
    connection.type(PASSWORD)
    assert connection.received() == []
    chat.clock.advance(DELAY - 1)
    assert connection.received() == []
    chat.clock.advance(1)
    assert welcomed(connection.received(), "alice")


def test_a_wrong_password_slows_the_account_from_another_address_too(chat: Chat) -> None:
    """Guessing from many addresses is slowed: the account's own count makes them wait."""
    register(chat, "alice")
    guesser = at_prompt(chat, "alice", host="192.0.2.1")
    guesser.type(WRONG)
    guesser.received()
    owner = at_prompt(chat, "alice", host="198.51.100.7")
    owner.type(PASSWORD)
    assert owner.received() == []
    chat.clock.advance(DELAY)
    assert welcomed(owner.received(), "alice")


def test_the_right_password_starts_the_waits_over(chat: Chat) -> None:
    """Wrong passwords before a right one are forgotten: the next wrong one waits the
    delay once, not doubled for each before."""
    register(chat, "alice")
    connection = at_prompt(chat, "alice")
    connection.type(WRONG, WRONG, PASSWORD)
    chat.clock.advance(DELAY)
    chat.clock.advance(2 * DELAY)
    assert welcomed(connection.received(), "alice")
    leave(connection)
    again = at_prompt(chat, "alice")
    again.type(WRONG, PASSWORD)
    chat.clock.advance(DELAY)
    assert welcomed(again.received(), "alice")


def test_nick_at_the_prompt_joins_under_another_nickname(chat: Chat) -> None:
    """/nick OTHER leaves the prompt for a guest login as OTHER."""
    register(chat, "alice")
    connection = at_prompt(chat, "alice")
    connection.type("/nick bob")
    assert welcomed(connection.received(), "bob")
    assert chat.registry.find("alice") is None


def test_quit_at_the_prompt_says_bye_and_closes(chat: Chat) -> None:
    """/quit at the prompt is the command, not a password."""
    register(chat, "alice")
    connection = at_prompt(chat, "alice")
    connection.type("/quit")
    assert connection.received() == ["*** Bye"]
    assert connection.transport.disconnecting


def test_an_empty_line_at_the_prompt_asks_again_without_an_error(chat: Chat) -> None:
    """Enter alone is not a wrong password: the prompt again, and no wait after it."""
    register(chat, "alice")
    connection = at_prompt(chat, "alice")
    connection.type("")
    [prompt] = connection.received()
    assert is_password_prompt(prompt)
    connection.type(PASSWORD)
    assert welcomed(connection.received(), "alice")


# Who may use a registered nickname


def test_a_guest_cannot_nick_to_a_registered_nickname(chat: Chat) -> None:
    """/nick to a registered nickname, in any case, is refused to a guest, saying why."""
    register(chat, "alice")
    bob = chat.connect("bob")
    bob.type("/nick ALICE")
    [refusal] = bob.received()
    assert refusal.startswith("!!! ") and "registered" in refusal and "password" in refusal
    assert chat.registry.find("bob") is not None


def test_the_account_may_nick_back_to_its_own_nickname(chat: Chat) -> None:
    """The member logged in to alice may leave the nickname and take it back."""
    register(chat, "alice")
    alice = logged_in(chat, "alice")
    alice.type("/nick alicia", "/nick alice")
    assert alice.received() == [
        "*** alice is now known as alicia", "*** alicia is now known as alice"
    ]


def test_the_nickname_takes_the_spelling_of_the_account(chat: Chat) -> None:
    """Registered as Alice, logged in typing aLICE: the room knows Alice."""
    register(chat, "Alice")
    bob = chat.connect("bob")
    connection = at_prompt(chat, "aLICE")
    connection.type(PASSWORD)
    assert welcomed(connection.received(), "Alice")
    assert bob.received() == ["*** Alice has joined"]


def test_closed_registration_refuses_register() -> None:
    """With --registration closed, /register says accounts are made by an administrator."""
    closed = Chat(accounts=True, flood_rate=0, registration="closed")
    alice = closed.connect("alice")
    alice.type(f"/register {PASSWORD}")
    [refusal] = alice.received()
    assert refusal.startswith("!!! ") and "registration is closed" in refusal
    leave(alice)
    assert welcomed(join(closed, "alice"), "alice")


def test_require_account_refuses_guests_and_lets_accounts_in() -> None:
    """With --require-account a guest is refused and asked again; an account gets in."""
    strict = Chat(accounts=True, flood_rate=0, require_account=True)
    assert strict.accounts is not None
    fired(strict.accounts.register("carol", PASSWORD))
    guest = strict.connect()
    guest.type("alice")
    refusal, prompt = guest.received()
    assert refusal.startswith("!!! ") and "registered nicknames only" in refusal
    assert "choose a nickname" in prompt
    assert strict.registry.find("alice") is None
    guest.type("carol")
    [password_prompt] = guest.received()
    assert is_password_prompt(password_prompt)
    guest.type(PASSWORD)
    assert welcomed(guest.received(), "carol")


# /password and /unregister


def test_password_with_a_wrong_old_one_is_refused_and_keeps_the_password(chat: Chat) -> None:
    """/password with the wrong old password changes nothing."""
    register(chat, "alice")
    alice = logged_in(chat, "alice")
    alice.type(f"/password {WRONG} {NEW_PASSWORD}")
    [refusal] = alice.received()
    assert refusal.startswith("!!! ") and "wrong password" in refusal
    leave(alice)
    chat.clock.advance(chat.config.login_delay)
    logged_in(chat, "alice", PASSWORD)


def test_a_wrong_password_in_a_command_slows_the_next_guess_as_at_login(chat: Chat) -> None:
    """Guessing through /unregister is as slow as guessing at the prompt."""
    register(chat, "alice")
    alice = logged_in(chat, "alice")
    alice.type(f"/unregister {WRONG}")
    [refusal] = alice.received()
    assert "wrong password" in refusal
    alice.type(f"/unregister {WRONG}")
    assert alice.received() == []
    chat.clock.advance(chat.config.login_delay)
    [refusal] = alice.received()
    assert "wrong password" in refusal


def test_password_changes_it_the_new_one_logs_in_and_the_old_one_not(chat: Chat) -> None:
    """After /password OLD NEW the old password is wrong and the new one gets in."""
    register(chat, "alice")
    alice = logged_in(chat, "alice")
    alice.type(f"/password {PASSWORD} {NEW_PASSWORD}")
    assert alice.received() == ["*** password changed"]
    leave(alice)
    again = at_prompt(chat, "alice")
    again.type(PASSWORD)
    refusal, _ = again.received()
    assert "wrong password" in refusal
    again.type(NEW_PASSWORD)
    chat.clock.advance(DELAY)
    assert welcomed(again.received(), "alice")


def test_password_right_after_register_works(chat: Chat) -> None:
    """The session that registered is logged in to the account: /password works at once."""
    alice = chat.connect("alice")
    alice.type(f"/register {PASSWORD}", f"/password {PASSWORD} {NEW_PASSWORD}")
    assert alice.received()[-1] == "*** password changed"


def test_a_guest_has_no_password_to_change(chat: Chat) -> None:
    """/password from a guest says it is not registered."""
    bob = chat.connect("bob")
    bob.type(f"/password {PASSWORD} {NEW_PASSWORD}")
    [refusal] = bob.received()
    assert refusal.startswith("!!! ") and "not registered" in refusal


def test_unregister_frees_the_nickname_for_a_guest(chat: Chat) -> None:
    """After /unregister and leaving, the nickname is anyone's, without a password."""
    register(chat, "alice")
    alice = logged_in(chat, "alice")
    alice.type(f"/unregister {PASSWORD}")
    assert alice.received() == ["*** alice is no longer registered"]
    leave(alice)
    assert welcomed(join(chat, "alice"), "alice")


def test_after_unregister_the_member_may_register_again(chat: Chat) -> None:
    """/unregister leaves a guest: /register then makes the account anew."""
    alice = chat.connect("alice")
    alice.type(f"/register {PASSWORD}", f"/unregister {PASSWORD}", f"/register {NEW_PASSWORD}")
    assert alice.received()[-1] == "*** alice is registered: from now on it asks for its password"
    leave(alice)
    logged_in(chat, "alice", NEW_PASSWORD)


def test_unregister_with_a_wrong_password_keeps_the_account(chat: Chat) -> None:
    """/unregister with a wrong password is refused; the nickname still asks for its password."""
    register(chat, "alice")
    alice = logged_in(chat, "alice")
    alice.type(f"/unregister {WRONG}")
    [refusal] = alice.received()
    assert refusal.startswith("!!! ") and "wrong password" in refusal
    leave(alice)
    at_prompt(chat, "alice")


def test_an_account_whose_password_has_a_space_can_unregister(chat: Chat) -> None:
    """An account made by an administrator with "correct horse" can delete itself."""
    assert chat.accounts is not None
    fired(chat.accounts.register("alice", "correct horse"))
    alice = logged_in(chat, "alice", "correct horse")
    alice.type("/unregister correct horse")
    assert alice.received() == ["*** alice is no longer registered"]


# Coming back while the server holds the old connection


def test_logging_in_again_takes_over_the_old_connection(chat: Chat) -> None:
    """The account logging in on a new connection displaces its old one; one member stays."""
    register(chat, "alice")
    bob = chat.connect("bob")
    old = logged_in(chat, "alice")
    bob.received()
    new = at_prompt(chat, "alice")
    new.type(PASSWORD)
    assert welcomed(new.received(), "alice")
    assert old.transport.disconnected
    assert bob.received() == ["*** alice has left (reconnected)", "*** alice has joined"]
    assert len(chat.registry) == 2
    bob.type("hello")
    assert new.received() == ["<bob> hello"]
    assert old.received() == []


def test_a_wrong_password_does_not_take_over(chat: Chat) -> None:
    """A wrong password on a new connection leaves the logged-in member alone."""
    register(chat, "alice")
    old = logged_in(chat, "alice")
    new = at_prompt(chat, "alice")
    new.type(WRONG)
    new.received()
    assert not old.transport.disconnecting
    assert chat.registry.find("alice") is old.protocol.connection.member


# Server operators


def test_operators_makes_the_logged_in_account_a_server_operator() -> None:
    """--operators names accounts (in any case): their sessions are server operators."""
    chat = Chat(accounts=True, flood_rate=0, operators=("ALICE",))
    assert chat.accounts is not None
    chat.accounts.register("alice", PASSWORD)  # as tcpchat-admin add does
    alice = logged_in(chat, "alice")
    bob = chat.connect("bob")
    assert alice.protocol.connection.session.server_operator
    assert not bob.protocol.connection.session.server_operator


def test_an_operators_nickname_cannot_be_registered_with_register() -> None:
    """With open registration, a guest under an --operators name that has no account
    yet cannot make it and so become a server operator."""
    chat = Chat(accounts=True, flood_rate=0, operators=("alice",))
    alice = chat.connect("alice")
    alice.type(f"/register {PASSWORD}")
    [refusal] = alice.received()
    assert refusal.startswith("!!! ") and "administrator" in refusal
    assert not alice.protocol.connection.session.server_operator


def test_a_guest_under_an_operators_nickname_is_no_operator() -> None:
    """Without its account, an --operators nickname gives nothing."""
    chat = Chat(accounts=True, flood_rate=0, operators=("alice",))
    alice = chat.connect("alice")
    assert not alice.protocol.connection.session.server_operator
