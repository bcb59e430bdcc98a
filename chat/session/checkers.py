"""The way in: who may log in, as twisted.cred checkers, and the portal they make.

- :class:`Guest` credentials give only a nickname; the :class:`GuestChecker`
  lets them in unless the nickname is registered (then it asks for the
  password: :class:`~chat.domain.errors.PasswordRequiredError`) or accounts
  are required;
- :class:`~twisted.cred.credentials.UsernamePassword` credentials are
  checked by the :class:`PasswordChecker`: against the account in the
  database, or, for a nickname with no account, by the administrator's
  ``--auth`` checkers (``twisted.cred.strcred``), whose users log in as
  an :class:`ExternalName` (guests as a :class:`GuestName`).

:func:`chat_portal` puts them in front of the realm of
:mod:`chat.session.login`. A guest's login usually needs no waiting (the
accounts keep the registered names in memory), so the server takes it past
the portal with :meth:`GuestChecker.avatar_id_of` and
:meth:`~chat.session.login.ChatRealm.arrive`, which answer at once when
every step can (:func:`at_once`), with no Deferred step; the portal stays
the way in for passwords.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from twisted.cred import credentials, portal
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from twisted.python.failure import Failure
from zope.interface import Attribute, implementer

from chat.accounts.checker import AccountChecker
from chat.accounts.store import Accounts
from chat.domain.errors import AccountRequiredError, NicknameInvalidError, PasswordRequiredError
from chat.text import nickname_fault

T = TypeVar("T")


def at_once(deferred: defer.Deferred[T]) -> T | defer.Deferred[T]:
    """The result of ``deferred`` if it has one already (a failure is raised), else
    ``deferred`` itself, to wait on: a step that could answer at once is taken at once,
    without the cost of a callback chain."""
    if not deferred.called or deferred.paused:
        return deferred
    # Fired, not paused, no callbacks left: its result is final.
    result = deferred.result
    if isinstance(result, Failure):
        deferred.addErrback(_handled)
        result.raiseException()
    # Not typing.cast, which is a Python call (twice in every guest's login).
    return result  # type: ignore[return-value]


def _handled(failure: Failure) -> None:
    """A failure raised by :func:`at_once` is not an unhandled error of its Deferred."""


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
    """Lets guests in under the nickname they ask for, unless it is registered (then
    they must give its password), or unless accounts are required."""

    credentialInterfaces = (IGuest,)

    def __init__(
        self, accounts: Accounts | None = None, require_account: bool = False,
        external: bool = False,
    ) -> None:
        self.accounts = accounts
        self._registered_now = _registered_now(accounts)
        self.require_account = require_account
        self.external = external
        """Whether ``--auth`` checkers may know nicknames that have no account: with
        accounts required, every nickname is then asked for its password."""

    def requestAvatarId(self, credentials: Guest) -> defer.Deferred[bytes | tuple[()]]:
        """The nickname, as cred's avatar ids are: UTF-8 bytes."""
        try:
            avatar_id = self.avatar_id_now(credentials)
        except Exception:
            return defer.fail()
        if isinstance(avatar_id, defer.Deferred):
            return avatar_id  # type: ignore[return-value]
        return defer.succeed(avatar_id)

    def avatar_id_now(self, credentials: Guest) -> bytes | defer.Deferred[bytes]:
        """:meth:`requestAvatarId` answered at once where it can: the avatar id (a
        :class:`GuestName`), or the refusal raised; a Deferred only while the accounts
        must read their names again."""
        return self.avatar_id_of(credentials.nick)

    def avatar_id_of(self, nick: str) -> bytes | defer.Deferred[bytes]:
        """:meth:`avatar_id_now` of the guest asking for ``nick``, with no credentials
        made (the server's way in for a guest)."""
        fault = nickname_fault(nick)
        if fault is not None:
            raise NicknameInvalidError(nick, fault)
        if self._registered_now is None:
            if self.require_account:
                raise AccountRequiredError(nick)
            return _avatar_id(nick)
        registered = self._registered_now(nick)
        if registered is False and not self.require_account:
            # The usual guest, let in with no further call.
            return GuestName(nick.encode("utf-8", "surrogateescape"))
        if isinstance(registered, bool):
            return self._guest(registered, nick)
        return registered.addCallback(self._guest, nick)

    def _guest(self, registered: bool, nick: str) -> bytes:
        if registered or (self.require_account and self.external):
            raise PasswordRequiredError(nick)
        if self.require_account:
            raise AccountRequiredError(nick)
        return _avatar_id(nick)


def _registered_now(
    accounts: Accounts | None,
) -> Callable[[str], bool | defer.Deferred[bool]] | None:
    """How to ask ``accounts`` whether a nickname is registered, answered at once where
    they can: their own ``registered_now`` (the database's :class:`Accounts`), else their
    ``registered`` taken at once if it has fired (Redis's)."""
    if accounts is None:
        return None
    now: Callable[[str], bool | defer.Deferred[bool]] | None = getattr(
        accounts, "registered_now", None
    )
    if now is not None:
        return now
    registered = accounts.registered
    return lambda nick: at_once(registered(nick))


def _avatar_id(nick: str) -> bytes:
    return GuestName(nick.encode("utf-8", "surrogateescape"))


class GuestName(bytes):
    """The avatar id of a guest: a nickname the checker found to have no account, so the
    realm need not look it up again."""


class ExternalName(bytes):
    """The avatar id of a nickname let in by an administrator's ``--auth`` checker."""


@implementer(ICredentialsChecker)
class PasswordChecker:
    """A nickname's password: its account's, or for a nickname with no account, that of
    the first ``--auth`` checker that knows it."""

    credentialInterfaces = (credentials.IUsernamePassword,)

    def __init__(self, accounts: Accounts, extra: tuple[ICredentialsChecker, ...]) -> None:
        self.accounts = AccountChecker(accounts)
        self.registered = accounts.registered
        self.extra = extra

    def requestAvatarId(self, given: Any) -> defer.Deferred[Any]:
        nick = bytes(given.username).decode("utf-8", "surrogateescape")

        def check(registered: bool) -> defer.Deferred[Any]:
            if registered or not self.extra:
                return self.accounts.requestAvatarId(given)
            return self._external(given, self._tries(given))

        return self.registered(nick).addCallback(check)

    def _external(
        self, given: Any, left: list[tuple[ICredentialsChecker, Any]]
    ) -> defer.Deferred[Any]:
        checker, offered = left.pop(0)
        tried: defer.Deferred[Any] = defer.maybeDeferred(checker.requestAvatarId, offered)
        name = bytes(given.username)

        def next_one(failure: Failure) -> Any:
            if left and failure.check(UnauthorizedLogin):
                return self._external(given, left)
            return Failure(UnauthorizedLogin("wrong password"))

        return tried.addCallbacks(lambda _: ExternalName(name), next_one)

    def _tries(self, given: Any) -> list[tuple[ICredentialsChecker, Any]]:
        """Each checker with the credentials as bytes, then as text: strcred's own
        checkers differ (``file:`` keeps bytes, ``memory:`` the text of its argument)."""
        as_text = credentials.UsernamePassword(
            bytes(given.username).decode("utf-8", "surrogateescape"),  # type: ignore[arg-type]
            bytes(given.password).decode("utf-8", "surrogateescape"),  # type: ignore[arg-type]
        )
        return [(checker, offered) for checker in self.extra for offered in (given, as_text)]


def chat_portal(
    realm: Any, require_account: bool = False, auth: tuple[ICredentialsChecker, ...] = ()
) -> portal.Portal:
    """The way in: guests, and with accounts the password of a registered nickname (or,
    for the nicknames the ``auth`` checkers know, theirs)."""
    checkers: list[ICredentialsChecker] = [
        GuestChecker(realm.accounts, require_account, external=bool(auth))
    ]
    if realm.accounts is not None:
        checkers.append(PasswordChecker(realm.accounts, auth))
    return portal.Portal(realm, checkers)
