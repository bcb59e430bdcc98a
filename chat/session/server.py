"""What every listener and front end of one server shares.

A :class:`ChatServer` holds the chat (the
:class:`~chat.domain.registry.Registry`), the way in (a
:class:`~twisted.cred.portal.Portal` over a
:class:`~chat.session.login.ChatRealm`), the admission limits, counted
across all listeners and front ends, and the open connections, which the
server says goodbye to when it stops. A front end's factory takes one and
builds, for each admitted connection, a protocol that owns a
:class:`~chat.session.connection.Connection`.

A guest logs in past the portal (:meth:`ChatServer.log_in_guest`), through
the portal's own guest checker and realm, at once when every step can
answer at once; a password login goes through the portal.
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.logger import Logger

from chat.accounts.mailbox import Mailbox
from chat.accounts.store import Accounts
from chat.accounts.throttle import Throttle
from chat.config import ServerConfig
from chat.domain.events import LeaveReason
from chat.domain.registry import Registry
from chat.local.directory import LocalDirectory
from chat.moderation import Moderation
from chat.ports.directory import Directory
from chat.session.admission import LOCAL, Admission, Refusal, ServerFull, Ticket
from chat.session.checkers import Guest, GuestChecker, GuestName, IGuest, chat_portal
from chat.session.login import Arrival, ChatRealm, ChatSession, IChatSession, avatar_session
from chat.session.moderator import ModerationRules, Moderator

log = Logger()


class OpenConnection(Protocol):
    """What the server needs of each of its connections when it stops
    (:class:`~chat.session.connection.Connection` is one)."""

    @property
    def on_lost(self) -> Deferred[None]:
        """Fires once the connection is gone."""

    def shut_down(self) -> None:
        """Say goodbye, then close."""

    def cut(self, reason: LeaveReason) -> None:
        """Drop the connection now."""


def describe_peer(address: IAddress | None) -> str:
    """A short form of a peer address for logs and per-address limits."""
    host = getattr(address, "host", None)
    return LOCAL if host is None else str(host)


class ChatServer:
    """One chat, its way in, its limits and its connections."""

    def __init__(
        self,
        registry: Registry,
        config: ServerConfig,
        clock: IReactorTime,
        directory: Directory[str] | None = None,
        accounts: Accounts | None = None,
        moderation: Moderation | None = None,
        mailbox: Mailbox | None = None,
        auth: tuple[ICredentialsChecker, ...] = (),
    ) -> None:
        self.registry = registry
        self.config = config
        self.clock = clock
        self.moderation = moderation if moderation is not None else Moderation(clock)
        """Bans, mutes and room settings (in memory only unless made with a store)."""
        registry.rules = ModerationRules(self.moderation)
        self.realm = ChatRealm(
            registry, directory if directory is not None else LocalDirectory(), accounts,
            registration_open=config.registration == "open", operators=config.operators,
            moderation=self.moderation, whowas=config.whowas,
        )
        self.moderator = Moderator(registry, self.realm, self.moderation, clock)
        self.portal: Portal = chat_portal(self.realm, config.require_account, auth)
        self.throttle = Throttle(clock, base=config.login_delay)
        """Slows password guessing, per account and per address, across all front ends."""
        self.realm.throttle, self.realm.clock = self.throttle, clock
        self.realm.mailbox = mailbox
        self.admission = Admission(config.max_clients, config.max_per_ip)
        self.connections: set[OpenConnection] = set()

    def log_in_guest(self, nick: str, arrival: Arrival) -> ChatSession | Deferred[ChatSession]:
        """Log in as the guest ``nick``, as the portal would (its guest checker, then the
        realm), but with no Deferred step where none must wait: the session, or a
        Deferred while the accounts or the directory answer later; a refusal is raised
        (or fails the Deferred)."""
        checker, realm = self.portal.checkers.get(IGuest), self.portal.realm
        if not (isinstance(checker, GuestChecker) and isinstance(realm, ChatRealm)):
            login: Deferred[Any] = self.portal.login(Guest(nick), arrival, IChatSession)
            return login.addCallback(avatar_session)
        avatar_id = checker.avatar_id_of(nick)
        # The answer's own type is tested, not Deferred: an isinstance of Deferred, an
        # ABC, costs a Python call in every handshake.
        if type(avatar_id) is GuestName:
            return realm.arrive_checked(None, nick, arrival)
        if isinstance(avatar_id, bytes):
            return realm.arrive(avatar_id, arrival)
        return avatar_id.addCallback(realm.arrive, arrival)

    def admit(self, address: IAddress | None) -> Ticket | Refusal:
        """A ticket for a new connection from ``address``, or why it is refused (logged)."""
        answer = self.admission.admit(describe_peer(address))
        if isinstance(answer, ServerFull):
            log.warn("refused a connection: {limit} clients already", limit=answer.limit)
        elif not isinstance(answer, Ticket):
            log.warn(
                "refused {peer}: {limit} connections already",
                peer=answer.address, limit=answer.limit,
            )
        return answer
