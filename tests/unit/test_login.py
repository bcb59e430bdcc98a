"""Logging in: the portal, the realm's nickname claims in the Directory, resuming a session."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest
from twisted.internet import defer

from chat.domain.errors import NicknameTakenError
from chat.domain.events import Quit
from chat.line.protocol import LineFactory
from chat.local import LocalDirectory
from chat.ports.directory import AlreadyClaimedError, Claim
from chat.session.checkers import Guest
from chat.session.login import Arrival, ChatSession, IChatSession
from chat.session.server import ChatServer
from chat.testing import Chat, RecordingClient, TypedConnection
from tests.support.contract import fired


@pytest.fixture
def chat() -> Chat:
    return Chat(flood_rate=0)


def log_in(chat: Chat, nick: str, client: RecordingClient) -> defer.Deferred[Any]:
    """Log ``client`` in as a guest called ``nick``, through the server's portal."""
    return chat.server.portal.login(Guest(nick), Arrival(client), IChatSession)


def session_of(chat: Chat, nick: str) -> ChatSession:
    member = chat.registry.find(nick)
    assert member is not None
    return chat.server.realm.sessions[member.id]


def holder(chat: Chat, nick: str) -> str | None:
    """Who holds ``nick`` in the server's Directory (None: nobody)."""
    claim = fired(chat.server.realm.directory.find(nick))
    return None if claim is None else claim.owner


def token_of(connection: TypedConnection) -> str:
    """The resume token a connection is told by /ids."""
    connection.type("/ids")
    [line] = connection.received()
    return line.rpartition(" ")[2]


def test_a_guest_logs_in_as_a_member_with_a_welcome(chat: Chat) -> None:
    """Through the portal, a guest becomes a member under its nickname and is welcomed."""
    client = RecordingClient()
    _, session, _ = fired(log_in(chat, "alice", client))
    assert chat.registry.find("alice") is session.member
    assert client.take()[0].startswith("*** Welcome, alice!")


def test_a_login_claims_the_nickname_in_the_directory(chat: Chat) -> None:
    """A member's nickname is held in the Directory by its session."""
    _, session, _ = fired(log_in(chat, "alice", RecordingClient()))
    assert holder(chat, "ALICE") == session.id


def test_a_nickname_claimed_elsewhere_is_taken(chat: Chat) -> None:
    """A nickname another process holds is refused, although no member here has it."""
    fired(chat.server.realm.directory.claim("alice", "elsewhere"))
    with pytest.raises(NicknameTakenError):
        fired(log_in(chat, "Alice", RecordingClient()))
    assert chat.registry.find("alice") is None


def test_a_nickname_claimed_elsewhere_is_refused_on_a_line_connection(chat: Chat) -> None:
    """The person typing a nickname another process holds is told it is taken."""
    fired(chat.server.realm.directory.claim("alice", "elsewhere"))
    connection = chat.connect()
    connection.type("alice")
    assert connection.received()[0] == '!!! nickname "alice" is taken'


def test_coming_back_with_the_resume_token_displaces_the_old_connection(chat: Chat) -> None:
    """A client back with its session's token cuts the connection it left behind."""
    old = chat.connect("alice")
    token = token_of(old)
    new = chat.connect()
    new.type(f"/resume lobby 0 {token}", "alice")
    assert old.transport.disconnected
    assert any(line.startswith("*** Welcome, alice!") for line in new.received())


def test_coming_back_with_the_resume_token_replaces_the_old_member(chat: Chat) -> None:
    """After the takeover the nickname belongs to the new connection's member alone."""
    old = chat.connect("alice")
    token = token_of(old)
    old_member = chat.registry.find("alice")
    new = chat.connect()
    new.type(f"/resume lobby 0 {token}", "alice")
    member = chat.registry.find("alice")
    assert member is not None and member is not old_member
    assert member is new.protocol.connection.member
    assert len(chat.registry) == 1


def test_the_room_is_told_the_old_session_left_reconnected(chat: Chat) -> None:
    """The others see the old session leave because it reconnected, then the new one join."""
    bob = chat.connect("bob")
    old = chat.connect("alice")
    token = token_of(old)
    bob.received()
    chat.connect().type(f"/resume lobby 0 {token}", "alice")
    assert bob.received() == ["*** alice has left (reconnected)", "*** alice has joined"]


def test_a_wrong_resume_token_does_not_displace_the_session(chat: Chat) -> None:
    """A newcomer with a token that is not the session's is refused; the old one stays."""
    bob = chat.connect("bob")
    old = chat.connect("alice")
    token_of(old)
    bob.received()
    new = chat.connect()
    new.type("/resume lobby 0 not-the-token", "alice")
    assert new.received()[1] == '!!! nickname "alice" is taken'
    assert not old.transport.disconnected
    assert bob.received() == []


def test_a_rename_claims_the_new_nickname(chat: Chat) -> None:
    """After /nick, another process cannot claim the new nickname."""
    alice = chat.connect("alice")
    alice.type("/nick alicia")
    with pytest.raises(AlreadyClaimedError):
        fired(chat.server.realm.directory.claim("alicia", "elsewhere"))
    assert holder(chat, "alicia") == session_of(chat, "alicia").id


def test_a_rename_frees_the_old_nickname(chat: Chat) -> None:
    """After /nick, someone else can log in under the old nickname."""
    chat.connect("alice").type("/nick alicia")
    newcomer = chat.connect()
    newcomer.type("alice")
    assert newcomer.received()[0].startswith("*** Welcome, alice!")


def test_a_change_of_case_keeps_the_nickname_claimed(chat: Chat) -> None:
    """/nick to the same nickname in another case keeps it held, in the new spelling."""
    chat.connect("alice").type("/nick Alice")
    claim = fired(chat.server.realm.directory.find("alice"))
    assert claim is not None and claim.nick == "Alice"


def test_leaving_frees_the_nickname(chat: Chat) -> None:
    """Once a member has quit, its nickname is free in the Directory."""
    _, session, _ = fired(log_in(chat, "alice", RecordingClient()))
    session.leave(Quit())
    assert holder(chat, "alice") is None
    fired(chat.server.realm.directory.claim("alice", "elsewhere"))


def test_quitting_on_a_line_connection_lets_another_take_the_nickname(chat: Chat) -> None:
    """After /quit and the close, someone else can log in under the nickname."""
    alice = chat.connect("alice")
    alice.type("/quit")
    alice.lose()
    newcomer = chat.connect()
    newcomer.type("alice")
    assert newcomer.received()[0].startswith("*** Welcome, alice!")


class LaterDirectory:
    """A Directory whose claims are answered only when the test says so, as a remote
    one's are (it has no ``claim_now``)."""

    def __init__(self) -> None:
        self.local: LocalDirectory[str] = LocalDirectory()
        self.claims: list[tuple[defer.Deferred[Claim[str]], str, str]] = []

    def claim(self, nick: str, owner: str) -> defer.Deferred[Claim[str]]:
        answer: defer.Deferred[Claim[str]] = defer.Deferred()
        self.claims.append((answer, nick, owner))
        return answer

    def release(self, claim: Claim[str]) -> defer.Deferred[None]:
        return self.local.release(claim)

    def find(self, nick: str) -> defer.Deferred[Claim[str] | None]:
        return self.local.find(nick)

    def online(self) -> defer.Deferred[list[Claim[str]]]:
        return self.local.online()

    def online_count(self) -> defer.Deferred[int]:
        return self.local.online_count()

    def answer(self) -> None:
        """Answer the oldest claim not answered yet."""
        answer, nick, owner = self.claims.pop(0)
        self.local.claim(nick, owner).chainDeferred(answer)


def test_a_claim_answered_after_the_connection_closed_leaves_no_member() -> None:
    """A login whose claim comes back once the connection is gone makes no member."""
    chat = Chat(flood_rate=0)
    directory = LaterDirectory()
    server = ChatServer(chat.registry, chat.config, chat.clock, directory)
    connection = TypedConnection(LineFactory(server), chat.clock, 40001)
    connection.type("alice")
    connection.lose()
    directory.answer()
    assert chat.registry.find("alice") is None
    assert fired(directory.find("alice")) is None


class LaterReleaseDirectory(LocalDirectory[str]):
    """A Directory that frees a nickname only when the test says so, as a remote one would."""

    def __init__(self) -> None:
        super().__init__()
        self.releases: list[tuple[defer.Deferred[None], Claim[str]]] = []

    def release(self, claim: Claim[str]) -> defer.Deferred[None]:
        answer: defer.Deferred[None] = defer.Deferred()
        self.releases.append((answer, claim))
        return answer

    def answer(self) -> None:
        """Carry out every release asked for so far."""
        releases, self.releases = self.releases, []
        for answer, claim in releases:
            super().release(claim).chainDeferred(answer)


def test_a_resume_waits_for_the_old_claim_to_be_released() -> None:
    """Coming back with the token works with a Directory whose release answers later."""
    chat = Chat(flood_rate=0)
    directory = LaterReleaseDirectory()
    factory = LineFactory(ChatServer(chat.registry, chat.config, chat.clock, directory))
    old = TypedConnection(factory, chat.clock, 40001)
    old.type("alice")
    old.received()
    token = token_of(old)
    new = TypedConnection(factory, chat.clock, 40002)
    new.type(f"/resume lobby 0 {token}", "alice")
    directory.answer()
    assert any(line.startswith("*** Welcome, alice!") for line in new.received())


# The guest's way in past the portal (ChatServer.log_in_guest)


def test_a_guest_login_with_nothing_to_wait_for_is_answered_at_once(chat: Chat) -> None:
    """A guest claiming a free nickname becomes a member in the same call, with no
    Deferred to wait on: the join storm pays for no callback chain."""
    connection = chat.open()
    session = connection.protocol.connection.log_in_now("alice")
    assert isinstance(session, ChatSession)
    assert chat.registry.find("alice") is session.member


def deferreds_made_by(run: Callable[[], object]) -> list[str]:
    """The files whose code made each Deferred while ``run`` ran (Twisted's ``defer``
    helpers taken as their callers')."""
    made: list[str] = []

    def watch(frame: FrameType, event: str, _: object) -> None:
        if event == "call" and frame.f_code is _deferred_init:
            caller = frame.f_back
            while caller is not None and caller.f_code.co_filename == defer.__file__:
                caller = caller.f_back
            made.append("" if caller is None else caller.f_code.co_filename)

    sys.setprofile(watch)
    try:
        run()
    finally:
        sys.setprofile(None)
    return made


_deferred_init = defer.Deferred.__init__.__code__


def test_a_guest_login_makes_no_deferred(chat: Chat) -> None:
    """Claiming the nickname in a LocalDirectory and showing the room's history, which
    the store has in memory, make no Deferred (a join storm pays for none); the history
    is shown."""
    chat.connect("alice").type("hello")
    connection = chat.open()
    connection.received()
    made = deferreds_made_by(lambda: connection.type("bob"))
    assert chat.registry.find("bob") is not None
    assert made == []
    assert "<alice> hello" in "\n".join(connection.received())


def test_a_guest_asking_for_a_nickname_in_use_is_told_it_is_taken_and_may_choose_again(
    chat: Chat,
) -> None:
    chat.connect("alice")
    newcomer = chat.connect()
    newcomer.type("ALICE")
    assert newcomer.received() == [
        '!!! nickname "ALICE" is taken',
        "*** Please choose a nickname (1-20 letters, digits, _ or -):",
    ]
    newcomer.type("alicia")
    assert newcomer.received()[0].startswith("*** Welcome, alicia!")


def test_a_guest_asking_for_a_registered_nickname_is_asked_for_its_password() -> None:
    chat = Chat(accounts=True, flood_rate=0)
    assert chat.accounts is not None
    fired(chat.accounts.register("alice", "correct horse battery"))
    newcomer = chat.connect()
    newcomer.type("alice")
    assert newcomer.received()[-1].startswith("*** alice is registered: type its password")
    assert chat.registry.find("alice") is None


def test_a_guest_with_a_free_nickname_on_a_server_with_accounts_is_let_in_at_once() -> None:
    """With accounts kept, an unregistered nickname is a guest's in the same call."""
    chat = Chat(accounts=True, flood_rate=0)
    chat.connect("alice")  # the first login has the accounts read their names
    session = chat.open().protocol.connection.log_in_now("carol")
    assert isinstance(session, ChatSession)
    assert session.account is None
    assert chat.registry.find("carol") is session.member


def test_with_accounts_required_every_guest_is_refused_not_only_the_first() -> None:
    """Once the accounts have read their names (after the first login), a guest with a
    free nickname is still refused when accounts are required."""
    chat = Chat(accounts=True, flood_rate=0, require_account=True)
    for nick in ("alice", "bob"):
        guest = chat.connect()
        guest.type(nick)
        assert "registered nicknames only" in guest.received()[0]
        assert chat.registry.find(nick) is None


def test_lines_typed_with_the_nickname_come_after_the_welcome(chat: Chat) -> None:
    bob = chat.connect("bob")
    alice = chat.connect()
    alice.type("alice", "hello")
    lines = alice.received()
    assert lines[0].startswith("*** Welcome, alice!")
    assert bob.received() == ["*** alice has joined", "<alice> hello"]


def test_guests_log_in_through_the_portal_s_own_checker_when_it_is_another() -> None:
    """A server whose portal was given another guest checker (not a GuestChecker) logs
    guests in through that portal and checker."""
    from twisted.cred.checkers import ICredentialsChecker
    from twisted.cred.portal import Portal
    from zope.interface import implementer

    from chat.session.checkers import GuestName, IGuest

    @implementer(ICredentialsChecker)
    class PrefixingChecker:
        credentialInterfaces = (IGuest,)

        def requestAvatarId(self, credentials: Guest) -> defer.Deferred[bytes | tuple[()]]:
            return defer.succeed(GuestName(b"guest-" + credentials.nick.encode()))

    chat = Chat(flood_rate=0)
    chat.server.portal = Portal(chat.server.realm, [PrefixingChecker()])
    connection = chat.connect()
    connection.type("alice")
    assert connection.received()[0].startswith("*** Welcome, guest-alice!")
