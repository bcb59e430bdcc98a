"""The twisted.cred checker of registered nicknames: a nickname and its account's password.

:class:`AccountChecker` answers :class:`~twisted.cred.credentials.IUsernamePassword`
credentials (UTF-8 bytes, as the wire gives them) with the account's name,
as registered, for the realm; a wrong password or a nickname with no
account fails with :class:`~twisted.cred.error.UnauthorizedLogin`. The
check runs on the :class:`~chat.accounts.store.Accounts` worker thread.
"""

from __future__ import annotations

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer
from zope.interface import implementer

from chat.accounts.store import Account, Accounts
from chat.text import decode


@implementer(ICredentialsChecker)
class AccountChecker:
    """Lets in whoever gives the password of the account of the nickname they give."""

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts

    def requestAvatarId(
        self, credentials: IUsernamePassword
    ) -> defer.Deferred[bytes | tuple[()]]:
        """The account's name as UTF-8 bytes, or a failure with UnauthorizedLogin."""
        nick = decode(credentials.username)
        checked = self.accounts.check(nick, decode(credentials.password))
        return checked.addCallback(_avatar_id)


def _avatar_id(account: Account | None) -> bytes | tuple[()]:
    if account is None:
        raise UnauthorizedLogin("wrong password or no such account")
    return account.name.encode("utf-8")
