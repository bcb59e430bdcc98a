"""Logging in: from a connection that names itself to a member of the chat.

Identity is not the connection. A front end logs in through a
:class:`twisted.cred.portal.Portal` with credentials (a
:class:`~chat.session.checkers.Guest`, who only gives a nickname, or a
nickname and its password) and a mind, the
:class:`Arrival` (the front end as a :class:`~chat.domain.outbox.Client`,
and where to join); the checkers say who it is, and the :class:`ChatRealm`
makes it a :class:`ChatSession`: it claims the nickname in the
:class:`~chat.ports.Directory`, takes over the session of a client that
comes back (proven by its resume token) through
:meth:`~chat.domain.outbox.Client.displace`, and joins the member in the
:class:`~chat.domain.registry.Registry`. The resume token and the
catch-up position belong to the session.

Who may come in is the checkers' (:mod:`chat.session.checkers`): guests,
and the passwords of registered nicknames. A session logged in to an
account may take over the session of the same account that the server
still holds, without a resume token: the password is the proof. The
session keeps the account (:meth:`ChatSession.register`,
:meth:`~ChatSession.change_password`, :meth:`~ChatSession.unregister`),
and its private messages to registered users who are offline are kept for
them (:meth:`ChatSession.whisper`) and handed over at their next login.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from twisted.cred import portal
from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Interface, implementer

from chat.accounts.mailbox import Letter, Mailbox
from chat.accounts.passwords import PasswordRefusedError
from chat.accounts.store import Account, AccountExistsError, Accounts
from chat.accounts.throttle import Throttle
from chat.domain.errors import (
    AccountsUnavailableError,
    AlreadyNamedError,
    AlreadyRegisteredError,
    BannedError,
    NicknameBannedError,
    NicknameInvalidError,
    NicknameTakenError,
    NoSuchUserError,
    NotRegisteredError,
    OfflineBoxFullError,
    OperatorNameError,
    PasswordRequiredError,
    PasswordUnusableError,
    RegistrationClosedError,
    WrongPasswordError,
)
from chat.domain.events import Batch, Delivered, Kept, LeaveReason
from chat.domain.outbox import Client
from chat.domain.registry import LOBBY, Member, Registry
from chat.moderation import Moderation
from chat.ports.directory import AlreadyClaimedError, Claim, Directory
from chat.session.checkers import ExternalName, GuestName, at_once
from chat.session.whowas import Departure, WhoWas
from chat.text import fold, nickname_fault

log = Logger()

_session_ids = itertools.count(1)


class IChatSession(Interface):
    """The avatar of the chat: a :class:`ChatSession`."""


@dataclass(slots=True)
class Arrival:
    """The mind of a login: who is arriving and where it goes (not changed once made;
    not frozen, as every login makes one and a frozen dataclass is four times slower
    to make)."""

    client: Client
    room: str | None = LOBBY
    """Where to join (None: no room; the front end joins rooms itself, as IRC does)."""
    after: int | None = None
    """Show the room's entries after this message id instead of its recent history."""
    resume_token: str | None = None
    """The token of a session this client had: proof that it may take that session over."""
    keep_token: str | None = None
    """A token asked for before logging in, for the new session."""
    address: str = ""
    """Where the connection comes from (the host of its peer), for address bans."""


@implementer(IChatSession)
class ChatSession:
    """One person in the chat: a member, its nickname claim and its resume token."""

    def __init__(
        self, realm: ChatRealm, member: Member, claim: Claim[str], arrival: Arrival,
        account: Account | None = None,
    ) -> None:
        self.id = claim.owner
        self.realm = realm
        self.member = member
        self.claim = claim
        self.account = account
        """The account the member logged in to, or registered; None for a guest."""
        self.operator_account: Account | None = None
        """The server operator account whose password the member gave (IRC's OPER), if any:
        it moderates as that account's operator, whatever it is logged in as."""
        self.address = arrival.address
        self.resume_token = arrival.resume_token or arrival.keep_token
        """Proves that a later connection is this client coming back (None: none given)."""
        room = member.room
        self.position = (room.name if room is not None else arrival.room, arrival.after)
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

    @property
    def server_operator(self) -> bool:
        """Whether the member may moderate the whole server."""
        return any(
            account is not None and self.realm.is_server_operator(account)
            for account in (self.account, self.operator_account)
        )

    def operate(self, name: str, password: str) -> defer.Deferred[bool]:
        """Moderate as the server operator account ``name`` from now on, given its password
        (throttled as a login). Answers whether ``name`` is a server operator; fails with
        WrongPasswordError for a wrong password or no such account."""
        accounts = self.realm.accounts_or_refuse()

        def found(account: Account | None) -> defer.Deferred[bool]:
            if account is None:
                return defer.fail(WrongPasswordError(name))

            def right(_: None) -> bool:
                if not self.realm.is_server_operator(account):
                    return False
                self.operator_account = account
                log.info("{nick} is a server operator as {account}", nick=self.member.nick,
                         account=account.name)
                return True

            checked = self._checked(
                account, lambda: accounts.check(name, password).addCallback(_is_account)
            )
            return checked.addCallback(right)

        return accounts.find(name).addCallback(found)

    def rename(self, nick: str) -> defer.Deferred[None]:
        """Claim ``nick`` and take it; the old nickname is then free. A registered
        nickname may only be taken by the member logged in to its account."""
        if nick == self.member.nick:
            raise AlreadyNamedError(nick)
        self.realm.registry.check_nickname(nick, allow=self.member)
        moderation = self.realm.moderation
        if moderation is not None:
            ban = moderation.banned(fold(nick), None, "", None)
            if ban is not None:
                raise NicknameBannedError(nick, ban.until)
        allowed = self.realm.may_use(nick, self.account)
        return allowed.addCallback(lambda _: self.realm.claim(nick, self.id)).addCallback(
            self._renamed, nick
        )

    def register(self, password: str) -> defer.Deferred[None]:
        """Register the nickname in use, with ``password``; the session is then logged in to it."""
        accounts = self.realm.accounts
        if accounts is None:
            raise AccountsUnavailableError()
        if self.account is not None:
            raise AlreadyRegisteredError(self.account.name)
        if not self.realm.registration_open:
            raise RegistrationClosedError()
        if fold(self.member.nick) in self.realm.operators:
            raise OperatorNameError(self.member.nick)
        nick = self.member.nick
        made = accounts.register(nick, password).addErrback(_account_refusal, nick)
        return made.addCallback(self._registered)

    def _registered(self, account: Account) -> None:
        self.account = account
        log.info("{nick} registered", nick=account.name)
        self.realm.forget_previous(account)

    def change_password(self, old: str, new: str) -> defer.Deferred[None]:
        """Replace the account's password, if ``old`` is right (throttled as logins are)."""
        account = self._logged_in()
        accounts = self.realm.accounts_or_refuse()
        return self._checked(
            account, lambda: accounts.change_password(account.name, old, new)
        ).addErrback(_account_refusal, account.name)

    def unregister(self, password: str) -> defer.Deferred[None]:
        """Delete the account, if ``password`` is right; the nickname stays in use, as a guest's.
        Letters kept for it while it was offline are thrown away."""
        account = self._logged_in()
        accounts = self.realm.accounts_or_refuse()
        removed = self._checked(account, lambda: accounts.unregister(account.name, password))
        return removed.addCallback(self._unregistered)

    def _checked(
        self, account: Account, attempt: Callable[[], defer.Deferred[bool]]
    ) -> defer.Deferred[None]:
        """Run ``attempt``, a password check, after the throttle's wait; a wrong password
        (the attempt answers False) counts against the account and the address."""
        throttle, clock = self.realm.throttle, self.realm.clock
        if throttle is None or clock is None:
            return attempt().addCallback(_right_password, account.name)
        wait = throttle.wait(account.key, self.address)

        def judged(right: bool) -> None:
            if right:
                throttle.succeeded(account.key, self.address)
            else:
                throttle.failed(account.key, self.address)
                log.info("{nick}: wrong password from {address}", nick=account.name,
                         address=self.address)
                raise WrongPasswordError(account.name)

        checked: defer.Deferred[bool] = (
            task.deferLater(clock, wait, attempt) if wait > 0 else attempt()  # type: ignore[arg-type]
        )
        return checked.addCallback(judged)

    def _unregistered(self, _: None) -> None:
        account, self.account = self.account, None
        if account is None:
            return
        log.info("{nick} unregistered", nick=account.name)
        self.realm.forget_previous(account)

    def whisper(self, nick: str, text: str) -> defer.Deferred[None] | None:
        """Send a private message to ``nick``; to a registered user who is offline it is
        kept (:class:`~chat.domain.events.Kept`) and handed over at their next login."""
        try:
            sent = self.realm.registry.whisper(self.member, nick, text)
        except NoSuchUserError:
            return self._keep_for(nick, text)
        if sent is None:
            return None

        def nobody(failure: Failure) -> defer.Deferred[None]:
            failure.trap(NoSuchUserError)
            return self._keep_for(nick, text)

        return sent.addErrback(nobody)

    def _keep_for(self, nick: str, text: str) -> defer.Deferred[None]:
        """Keep a private message for ``nick``, online nowhere, if it has an account."""
        mailbox, accounts = self.realm.mailbox, self.realm.accounts
        if mailbox is None or accounts is None or mailbox.per_user == 0:
            raise NoSuchUserError(nick)
        return accounts.find(nick).addCallback(self._keep, mailbox, nick, text)

    def _keep(
        self, account: Account | None, mailbox: Mailbox, nick: str, text: str
    ) -> defer.Deferred[None]:
        if account is None:
            raise NoSuchUserError(nick)
        kept = mailbox.keep(account.name, self.member.nick, text, sent_at=self.realm.now())

        def told(stored: bool) -> None:
            if not stored:
                raise OfflineBoxFullError(account.name)
            self.member.outbox.put(Batch((Kept(account.name, text),)))

        return kept.addCallback(told)

    def hand_over(self, letters: list[Letter]) -> None:
        """Show the member the private messages kept for it while it was offline."""
        if letters and not self.ended:
            self.member.outbox.put(Batch(tuple(
                Delivered(letter.sender, letter.text, letter.sent_at, letter.action)
                for letter in letters
            )))

    def _logged_in(self) -> Account:
        if self.account is None or self.account.external:
            raise NotRegisteredError(self.member.nick)
        return self.account

    def _renamed(self, claim: Claim[str], nick: str) -> defer.Deferred[None]:
        if self.ended:
            return self.realm.directory.release(claim)
        old, self.claim = self.claim, claim
        old_key = self.member.key
        try:
            self.realm.registry.rename(self.member, nick)
        except Exception:
            self.claim = old
            self.realm.directory.release(claim)
            raise
        if self.account is None and self.realm.moderation is not None:
            self.realm.moderation.move_guest_operator(old_key, self.member.key)
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

    def __init__(
        self,
        registry: Registry,
        directory: Directory[str],
        accounts: Accounts | None = None,
        *,
        registration_open: bool = True,
        operators: tuple[str, ...] = (),
        moderation: Moderation | None = None,
        whowas: int = 100,
    ) -> None:
        self.registry = registry
        self.moderation = moderation
        self.whowas = WhoWas(whowas)
        """Who left lately (IRC's WHOWAS)."""
        """Whose server-wide bans keep people out (None: nobody is banned)."""
        self.mailbox: Mailbox | None = None
        """Where private messages to offline registered users wait (set by the server)."""
        self.throttle: Throttle | None = None
        """Slows password guessing in /password and /unregister too (set by the server)."""
        self.clock: IReactorTime | None = None
        self.directory = directory
        self._claim_now: Callable[[str, str], Claim[str]] | None = getattr(
            directory, "claim_now", None
        )
        """The directory's claim answered at once, if it has one (a
        :class:`~chat.local.LocalDirectory`): a login then makes no Deferred for it."""
        self.accounts = accounts
        self.registration_open = registration_open
        self.operators = frozenset(fold(name) for name in operators)
        """Accounts named server operators on the command line (``--operators``)."""
        self.sessions: dict[str, ChatSession] = {}
        """The sessions of this server by member id."""
        self._origin = secrets.token_hex(8)
        """Makes this server's session ids, the owners of its claims, differ from others'."""

    def now(self) -> float:
        return self.clock.seconds() if self.clock is not None else time.time()

    def is_server_operator(self, account: Account) -> bool:
        return account.operator or account.key in self.operators

    def forget_previous(self, account: Account) -> None:
        """Throw away the letters kept for ``account``'s name and the rooms it owns or runs:
        on unregistering, and on registering (an account removed by ``tcpchat-admin``
        while the server ran may have left them), so that whoever registers the name
        next neither reads the letters nor runs the rooms."""
        if self.mailbox is not None:
            self.mailbox.take(account.name)
        if self.moderation is not None:
            self.moderation.forget_account(account.key)

    def accounts_or_refuse(self) -> Accounts:
        if self.accounts is None:
            raise AccountsUnavailableError()
        return self.accounts

    def may_use(self, nick: str, account: Account | None) -> defer.Deferred[None]:
        """Fails with PasswordRequiredError if ``nick`` is registered to another account."""
        if self.accounts is None:
            return defer.succeed(None)

        def check(owner: Account | None) -> None:
            if owner is not None and (account is None or owner.key != account.key):
                raise PasswordRequiredError(nick)

        return self.accounts.find(nick).addCallback(check)

    def requestAvatar(
        self, avatarId: Any, mind: Any, *interfaces: Any
    ) -> defer.Deferred[tuple[type[Interface], object, Callable[[], None]]]:
        if IChatSession not in interfaces:
            return defer.fail(NotImplementedError("tcpchat serves only chat sessions"))
        try:
            session = self.arrive(avatarId, mind)
        except Exception:
            return defer.fail()
        if isinstance(session, defer.Deferred):
            return session.addCallback(_as_avatar)
        return defer.succeed(_as_avatar(session))

    def arrive(
        self, avatar_id: bytes, arrival: Arrival
    ) -> ChatSession | defer.Deferred[ChatSession]:
        """The session of ``avatar_id`` (a checker's answer) arriving as ``arrival`` says:
        made at once when every step answers at once (a guest claiming a free nickname in
        a :class:`~chat.local.LocalDirectory`, by its ``claim_now``), else a Deferred; a
        refusal is raised, or fails the Deferred."""
        nick = bytes(avatar_id).decode("utf-8", "surrogateescape")
        if isinstance(avatar_id, GuestName):
            # The guest checker has checked the nickname, and found it has no account.
            return self.arrive_checked(None, nick, arrival)
        fault = nickname_fault(nick)
        if fault is not None:
            raise NicknameInvalidError(nick, fault)
        if self.accounts is None:
            return self.arrive_checked(None, nick, arrival)
        if isinstance(avatar_id, ExternalName):
            external = Account(nick, fold(nick), 0.0, False, external=True)
            return self.arrive_checked(external, nick, arrival)
        return self.accounts.find(nick).addCallback(self.arrive_checked, nick, arrival)

    def arrive_checked(
        self, account: Account | None, nick: str, arrival: Arrival
    ) -> ChatSession | defer.Deferred[ChatSession]:
        """:meth:`arrive` of ``nick`` once checked: as ``account``, or as a guest (None)
        whose nickname the guest checker found valid and with no account (the server's
        way in for a guest, with no avatar id to decode). Only the account's own login
        reaches here with a registered ``nick``: it takes the spelling of the account."""
        if account is not None:
            nick = account.name
        key = fold(nick)
        if self.moderation is not None:
            account_key = None if account is None else account.key
            ban = self.moderation.banned(key, account_key, arrival.address, None)
            if ban is not None:
                log.info("{nick} from {address} refused: banned", nick=nick,
                         address=arrival.address)
                raise BannedError(None, ban.reason, ban.until)
            if arrival.room not in (None, LOBBY) and self.moderation.banned(
                key, account_key, arrival.address, fold(arrival.room or LOBBY)
            ):
                arrival = replace(arrival, room=LOBBY, after=None)
        owner = f"{self._origin}.s{next(_session_ids)}"
        taken_over = self._take_over(key, arrival, account)
        if taken_over is not None:
            claimed = taken_over.addCallback(lambda _: self.claim(nick, owner))
            return claimed.addCallback(self._join, nick, arrival, account)
        try:
            claim = (
                self._claim_now(nick, owner) if self._claim_now is not None
                else at_once(self.directory.claim(nick, owner))
            )
        except AlreadyClaimedError:
            raise NicknameTakenError(nick) from None
        if isinstance(claim, Claim):
            return self._join(claim, nick, arrival, account)
        return claim.addErrback(_taken, nick).addCallback(self._join, nick, arrival, account)

    def claim(self, nick: str, owner: str) -> defer.Deferred[Claim[str]]:
        """Claim ``nick`` for ``owner``; a nickname held by another fails as taken."""
        return self.directory.claim(nick, owner).addErrback(_taken, nick)

    def _join(
        self, claim: Claim[str], nick: str, arrival: Arrival, account: Account | None
    ) -> ChatSession:
        try:
            member = self.registry.join(nick, arrival.client, arrival.room, arrival.after)
        except Exception:
            self.directory.release(claim)
            raise
        session = ChatSession(self, member, claim, arrival, account)
        self.sessions[member.id] = session
        if account is not None and self.mailbox is not None:
            self.mailbox.take(account.name).addCallbacks(
                session.hand_over, self._letters_lost, errbackArgs=(account.name,)
            )
        return session

    @staticmethod
    def _letters_lost(failure: Failure, nick: str) -> None:
        log.failure("messages kept for {nick} could not be read", failure, nick=nick)

    def _take_over(
        self, key: str, arrival: Arrival, account: Account | None
    ) -> defer.Deferred[None] | None:
        """Replace the session of the nickname ``key`` (folded) that the server still
        holds (its peer dropped without the server noticing), if the newcomer proves that it is the
        same person: by its resume token, or by logging in to the same account;
        fires once the nickname is free. None: there is nothing to take over (the
        usual case, which then claims at once, with no Deferred to wait on)."""
        member = self.registry.members.get(key)
        if member is None:
            return None
        session = self.sessions.get(member.id)
        if session is None:
            return None
        same_token = arrival.resume_token is not None and (
            session.resume_token == arrival.resume_token
        )
        same_account = account is not None and (
            session.account is not None and session.account.key == account.key
        )
        if not (same_token or same_account):
            return None
        log.info("{nick} resumes on a new connection", nick=member.nick)
        session.client.displace()
        return session.released if session.released is not None else defer.succeed(None)

    def ended(self, session: ChatSession, reason: LeaveReason) -> defer.Deferred[None]:
        self.sessions.pop(session.member.id, None)
        member = session.member
        account = session.account
        self.whowas.record(Departure(
            member.nick, getattr(member.client, "user", None) or member.nick,
            getattr(member.client, "realname", None) or member.nick,
            None if account is None else account.name, self.now(),
        ))
        self.registry.leave(session.member, reason)
        if session.account is None and self.moderation is not None:
            # A guest's operator status is its nickname's: it ends with the guest.
            self.moderation.forget_guest_operator(session.member.key)
        return self.directory.release(session.claim)


def _as_avatar(session: ChatSession) -> tuple[type[Interface], object, Callable[[], None]]:
    """A session as cred's realms answer: the interface, the avatar, how to log out."""
    return IChatSession, session, _stay


def avatar_session(login: tuple[Any, ChatSession, Callable[[], None]]) -> ChatSession:
    """The session in the portal's answer to a login."""
    return login[1]


def _stay() -> None:
    """Logging out of cred's portal does nothing: a session ends when it leaves."""


def _taken(failure: Failure, nick: str) -> Failure:
    failure.trap(AlreadyClaimedError)
    return Failure(NicknameTakenError(nick))


def _account_refusal(failure: Failure, nick: str) -> Failure:
    """The accounts' own refusals, as the chat's."""
    if failure.check(PasswordRefusedError):
        return Failure(PasswordUnusableError(failure.value.reason))  # type: ignore[union-attr]
    if failure.check(AccountExistsError):
        return Failure(AlreadyRegisteredError(nick))
    return failure


def _is_account(account: Account | None) -> bool:
    return account is not None


def _right_password(right: bool, nick: str) -> None:
    if not right:
        raise WrongPasswordError(nick)
