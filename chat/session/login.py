"""Logging in: from a connection that names itself to a member of the chat.

Identity is not the connection. A front end logs in through a
:class:`twisted.cred.portal.Portal` with credentials (today a
:class:`Guest`, who only gives a nickname) and a mind, the
:class:`Arrival` (the front end as a :class:`~chat.domain.outbox.Client`,
and where to join); the checkers say who it is, and the :class:`ChatRealm`
makes it a :class:`ChatSession`: it claims the nickname in the
:class:`~chat.ports.Directory`, takes over the session of a client that
comes back (proven by its resume token) through
:meth:`~chat.domain.outbox.Client.displace`, and joins the member in the
:class:`~chat.domain.registry.Registry`. The resume token and the
catch-up position belong to the session.

Accounts plug in as another checker (passwords for registered
nicknames); nothing here or in the front ends changes for them.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.cred import credentials, portal
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Attribute, Interface, implementer

from chat.domain.errors import AlreadyNamedError, NicknameInvalidError, NicknameTakenError
from chat.domain.events import LeaveReason
from chat.domain.outbox import Client
from chat.domain.registry import LOBBY, Member, Registry
from chat.ports.directory import AlreadyClaimedError, Claim, Directory
from chat.text import nickname_fault

log = Logger()

_session_ids = itertools.count(1)


class IGuest(credentials.ICredentials):
    """Credentials of someone who gives a nickname and nothing more."""

    nick = Attribute("The nickname asked for, as typed.")


@implementer(IGuest)
@dataclass(frozen=True, slots=True)
class Guest:
    """A guest asking for ``nick``."""

    nick: str


@implementer(ICredentialsChecker)
class GuestChecker:
    """Lets every guest in under the nickname it asks for (the realm checks the nickname)."""

    credentialInterfaces = (IGuest,)

    def requestAvatarId(self, credentials: Guest) -> defer.Deferred[bytes | tuple[()]]:
        """The nickname, as cred's avatar ids are: UTF-8 bytes."""
        return defer.succeed(credentials.nick.encode("utf-8", "surrogateescape"))


class IChatSession(Interface):
    """The avatar of the chat: a :class:`ChatSession`."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """The mind of a login: who is arriving and where it goes."""

    client: Client
    room: str = LOBBY
    after: int | None = None
    """Show the room's entries after this message id instead of its recent history."""
    resume_token: str | None = None
    """The token of a session this client had: proof that it may take that session over."""
    keep_token: str | None = None
    """A token asked for before logging in, for the new session."""


@implementer(IChatSession)
class ChatSession:
    """One person in the chat: a member, its nickname claim and its resume token."""

    def __init__(
        self, realm: ChatRealm, member: Member, claim: Claim[str], arrival: Arrival
    ) -> None:
        self.id = claim.owner
        self.realm = realm
        self.member = member
        self.claim = claim
        self.resume_token = arrival.resume_token or arrival.keep_token
        """Proves that a later connection is this client coming back (None: none given)."""
        self.position = (member.room.name if member.room else arrival.room, arrival.after)
        """The room joined and the message id the member was caught up from."""
        self.ended = False
        self.released: defer.Deferred[None] | None = None
        """Fires once the nickname is free again, after :meth:`leave`."""

    @property
    def client(self) -> Client:
        return self.member.client

    def token(self) -> str:
        """The resume token, made now if there is none yet."""
        if self.resume_token is None:
            self.resume_token = secrets.token_urlsafe(12)
        return self.resume_token

    def rename(self, nick: str) -> defer.Deferred[None]:
        """Claim ``nick`` and take it; the old nickname is then free."""
        if nick == self.member.nick:
            raise AlreadyNamedError(nick)
        self.realm.registry.check_nickname(nick, allow=self.member)
        return self.realm.claim(nick, self.id).addCallback(self._renamed, nick)

    def _renamed(self, claim: Claim[str], nick: str) -> defer.Deferred[None]:
        if self.ended:
            return self.realm.directory.release(claim)
        old, self.claim = self.claim, claim
        try:
            self.realm.registry.rename(self.member, nick)
        except Exception:
            self.claim = old
            self.realm.directory.release(claim)
            raise
        if old.key == claim.key:
            return defer.succeed(None)
        return self.realm.directory.release(old)

    def leave(self, reason: LeaveReason) -> None:
        """Leave the chat (once): the rooms are told why and the nickname is free."""
        if self.ended:
            return
        self.ended = True
        self.released = self.realm.ended(self, reason)


@implementer(portal.IRealm)
class ChatRealm:
    """Makes sessions of the people let in, in one :class:`Registry`."""

    def __init__(self, registry: Registry, directory: Directory[str]) -> None:
        self.registry = registry
        self.directory = directory
        self.sessions: dict[str, ChatSession] = {}
        """The sessions of this server by member id."""

    def requestAvatar(
        self, avatarId: Any, mind: Any, *interfaces: Any
    ) -> defer.Deferred[tuple[type[Interface], object, Callable[[], None]]]:
        if IChatSession not in interfaces:
            return defer.fail(NotImplementedError("tcpchat serves only chat sessions"))
        nick = bytes(avatarId).decode("utf-8", "surrogateescape")
        arrival: Arrival = mind
        fault = nickname_fault(nick)
        if fault is not None:
            return defer.fail(NicknameInvalidError(nick, fault))
        owner = f"s{next(_session_ids)}"
        taken_over = self._take_over(nick, arrival)
        return taken_over.addCallback(lambda _: self.claim(nick, owner)).addCallback(
            self._join, nick, arrival
        )

    def claim(self, nick: str, owner: str) -> defer.Deferred[Claim[str]]:
        """Claim ``nick`` for ``owner``; a nickname held by another fails as taken."""

        def taken(failure: Failure) -> Failure:
            failure.trap(AlreadyClaimedError)
            return Failure(NicknameTakenError(nick))

        return self.directory.claim(nick, owner).addErrback(taken)

    def _join(
        self, claim: Claim[str], nick: str, arrival: Arrival
    ) -> tuple[type[Interface], object, Callable[[], None]]:
        try:
            member = self.registry.join(nick, arrival.client, arrival.room, arrival.after)
        except Exception:
            self.directory.release(claim)
            raise
        session = ChatSession(self, member, claim, arrival)
        self.sessions[member.id] = session
        return IChatSession, session, lambda: None

    def _take_over(self, nick: str, arrival: Arrival) -> defer.Deferred[None]:
        """Replace the session of this nickname that the server still holds (its peer
        dropped without the server noticing), if the newcomer proves, by its resume
        token, that it is the same client; fires once its nickname is free."""
        member = self.registry.find(nick)
        if member is None or arrival.resume_token is None:
            return defer.succeed(None)
        session = self.sessions.get(member.id)
        if session is None or session.resume_token != arrival.resume_token:
            return defer.succeed(None)
        log.info("{nick} resumes on a new connection", nick=member.nick)
        session.client.displace()
        return session.released if session.released is not None else defer.succeed(None)

    def ended(self, session: ChatSession, reason: LeaveReason) -> defer.Deferred[None]:
        self.sessions.pop(session.member.id, None)
        self.registry.leave(session.member, reason)
        return self.directory.release(session.claim)


def guest_portal(realm: ChatRealm) -> portal.Portal:
    """The portal of a server that has no accounts: everyone is a guest."""
    return portal.Portal(realm, [GuestChecker()])
