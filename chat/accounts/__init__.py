"""Accounts: registered nicknames, their passwords, server operators, and throttled guesses.

The modules: :mod:`~chat.accounts.passwords` (scrypt hashes and what a
password must be), :mod:`~chat.accounts.store` (the accounts table of the
database, blocking, and :class:`Accounts`, the reactor's facade on one
worker thread), :mod:`~chat.accounts.throttle` (growing waits after wrong
passwords) and :mod:`~chat.accounts.checker` (the twisted.cred checker).
``tcpchat-admin``, the administrator's command, is :mod:`chat.admin`: it
works on these accounts or on those a cluster keeps in Redis.
"""

from chat.accounts.checker import AccountChecker
from chat.accounts.passwords import (
    PasswordRefusedError,
    hash_password,
    password_fault,
    verify_password,
)
from chat.accounts.store import (
    Account,
    AccountExistsError,
    Accounts,
    AccountStore,
    NoSuchAccountError,
)
from chat.accounts.throttle import Throttle

__all__ = [
    "Account",
    "AccountChecker",
    "AccountExistsError",
    "AccountStore",
    "Accounts",
    "NoSuchAccountError",
    "PasswordRefusedError",
    "Throttle",
    "hash_password",
    "password_fault",
    "verify_password",
]
