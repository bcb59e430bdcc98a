"""Accounts kept in Redis: the same accounts for every node of a chat (``--redis``).

:class:`RedisAccounts` answers the calls the server makes of
:class:`chat.accounts.store.Accounts` (``registered``, ``find``, ``check``,
``register``, ``change_password``, ``unregister``, ``set_operator``,
``start``, ``stop``), with Deferreds, from Redis rather than from ``--db``.
Each account is one hash, ``<prefix>account:<folded nickname>``, with the
fields ``name`` (as registered), ``hash`` (the scrypt hash of
:mod:`chat.accounts.passwords`), ``created`` and ``operator`` (``0`` or
``1``); the set ``<prefix>accounts`` holds every folded name. Each change is
one Lua script, so two nodes registering one name at once cannot both make
it, and a password is replaced, or an account deleted, only if its hash is
still the one just checked.

Hashing and checking passwords block for tens of milliseconds: they run on a
worker thread of their own (:class:`chat.worker.StoreThread`), never on the
reactor's; a nickname without an account is still checked against a dummy
hash, so the time taken does not tell. Every call asks Redis (one round
trip): there is no file whose changes could be watched, and another node's
registration must be seen at once. Given the node's ``health``, every call
fails at once with :class:`~chat.domain.errors.BackboneUnavailableError` while
Redis is down (:class:`~chat.redis.health.WhileUp`), so a nickname chosen then
is refused at once rather than left waiting.

:class:`RedisAccountStore` is the same accounts through blocking commands,
with the calls of :class:`~chat.accounts.store.AccountStore`, for
``tcpchat-admin --redis``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorFromThreads

from chat.accounts.passwords import (
    PasswordRefusedError,
    hash_password,
    password_fault,
    verify_password,
)
from chat.accounts.store import Account, AccountExistsError, NoSuchAccountError
from chat.domain.errors import NicknameInvalidError
from chat.redis.address import BlockingConnection, RedisError
from chat.redis.connection import RedisClient
from chat.redis.health import RedisHealth, WhileUp
from chat.redis.moderation import ROOMS, STREAM_KEEP, WRITE
from chat.text import fold, nickname_fault
from chat.worker import StoreThread

REGISTER = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'hash', ARGV[2], 'created', ARGV[3],
           'operator', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[5])
return 1
"""
"""Make the account KEYS[1] unless it exists: 1 if made, 0 if it existed."""

SET_HASH = """
if redis.call('HGET', KEYS[1], 'hash') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'hash', ARGV[2])
return 1
"""
"""Replace the hash ARGV[1] of KEYS[1] by ARGV[2]: 0 if the account or its hash changed."""

REMOVE = """
if redis.call('HGET', KEYS[1], 'hash') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""
"""Delete KEYS[1] if its hash is still ARGV[1]: 0 if the account or its hash changed."""

SET_FIELD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
"""Set the field ARGV[1] of KEYS[1] to ARGV[2]: 0 if there is no such account."""

DELETE = """
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
return 1
"""
"""Delete KEYS[1] whatever its hash: 0 if there was no such account."""

_FIELDS = ("name", "created", "operator", "hash")

PROGRAM_NODE = "tcpchat-admin"
"""The node a change of the moderation made by ``tcpchat-admin`` says it comes from."""
FORGET_ATTEMPTS = 5
"""Times the rooms are read again when nodes change them while an account is forgotten."""

Found = tuple[Account, str] | None
"""An account and its stored hash, or None."""


class RedisAccounts:
    """The accounts of every node using the same Redis and prefix; each call answers
    with a Deferred. :meth:`start` starts the hashing thread, :meth:`stop` ends it."""

    def __init__(
        self, client: RedisClient, reactor: IReactorFromThreads | None,
        prefix: str = "tcpchat:", clock: Callable[[], float] = time.time,
        health: RedisHealth | None = None,
    ) -> None:
        self.client: RedisClient = client if health is None else WhileUp(client, health)
        """Its calls fail at once while ``health`` says Redis is down (None: always tried)."""
        self.prefix = prefix
        self._clock = clock
        self._thread = StoreThread("tcpchat-accounts", reactor)
        self._set = f"{prefix}accounts"
        self._dummy_hash = ""
        """Checked against when a nickname has no account, so the time taken does not tell."""

    def start(self) -> defer.Deferred[None]:
        """Start the hashing thread (and make the dummy hash there)."""
        return self._thread.start(self._prepare)

    def stop(self) -> defer.Deferred[None]:
        """End the hashing thread once the hashes asked for before are done."""
        return self._thread.stop(lambda: None)

    def registered(self, nick: str) -> defer.Deferred[bool]:
        """Whether ``nick`` (ignoring case) has an account."""
        asked = self.client.execute_command("EXISTS", self._key(nick))
        return asked.addCallback(lambda found: int(found) == 1)

    def find(self, nick: str) -> defer.Deferred[Account | None]:
        """The account of ``nick`` (ignoring case), or None."""
        return self._find(nick).addCallback(lambda found: None if found is None else found[0])

    def check(self, nick: str, password: str) -> defer.Deferred[Account | None]:
        """The account of ``nick`` if ``password`` is its password; None if not or no account."""
        return self._checked(nick, password).addCallback(
            lambda checked: None if checked is None else checked[0]
        )

    def register(
        self, nick: str, password: str, operator: bool = False
    ) -> defer.Deferred[Account]:
        """Make an account; fails with NicknameInvalidError, PasswordRefusedError or
        AccountExistsError (also when another node made it first)."""
        fault = nickname_fault(nick)
        if fault is not None:
            return defer.fail(NicknameInvalidError(nick, fault))
        refused = _refusal(password)
        if refused is not None:
            return defer.fail(refused)
        account = Account(nick, fold(nick), self._clock(), operator)

        def store(password_hash: str) -> defer.Deferred[Account]:
            made = self.client.eval(
                REGISTER, [self._key(nick), self._set],
                [account.name, password_hash, repr(account.created), int(operator), account.key],
            )
            return made.addCallback(_made, account)

        return self._thread.call(hash_password, password).addCallback(store)

    def change_password(self, nick: str, old: str, new: str) -> defer.Deferred[bool]:
        """Replace the password if ``old`` is right: whether it was (fails with
        PasswordRefusedError for a ``new`` that cannot be used)."""
        refused = _refusal(new)
        if refused is not None:
            return defer.fail(refused)

        @defer.inlineCallbacks
        def change(checked: Found) -> Any:
            if checked is None:
                return False
            new_hash = yield self._thread.call(hash_password, new)
            changed = yield self.client.eval(
                SET_HASH, [self._key(nick)], [checked[1], new_hash]
            )
            return int(changed) == 1

        return self._checked(nick, old).addCallback(change)

    def unregister(self, nick: str, password: str) -> defer.Deferred[bool]:
        """Delete the account if ``password`` is right: whether it was."""

        def remove(checked: Found) -> defer.Deferred[bool] | bool:
            if checked is None:
                return False
            removed = self.client.eval(
                REMOVE, [self._key(nick), self._set], [checked[1], checked[0].key]
            )
            return removed.addCallback(lambda done: int(done) == 1)

        return self._checked(nick, password).addCallback(remove)

    def set_operator(self, nick: str, flag: bool) -> defer.Deferred[None]:
        """Make the account a server operator, or no longer (fails with NoSuchAccountError)."""

        def done(changed: Any) -> None:
            if int(changed) == 0:
                raise NoSuchAccountError(nick)

        return self.client.eval(
            SET_FIELD, [self._key(nick)], ["operator", int(flag)]
        ).addCallback(done)

    def accounts(self) -> defer.Deferred[list[Account]]:
        """Every account, by folded nickname."""

        @defer.inlineCallbacks
        def read(keys: list[str]) -> Any:
            found = []
            for key in sorted(keys):
                account = yield self._find(key)
                if account is not None:
                    found.append(account[0])
            return found

        return self.client.execute_command("SMEMBERS", self._set).addCallback(read)

    def _key(self, nick: str) -> str:
        return _key(self.prefix, nick)

    def _find(self, nick: str) -> defer.Deferred[Found]:
        """The account of ``nick`` and its stored hash, or None."""
        asked = self.client.execute_command("HMGET", self._key(nick), *_FIELDS)
        return asked.addCallback(_account, fold(nick))

    def _checked(self, nick: str, password: str) -> defer.Deferred[Found]:
        """The account and the hash ``password`` was checked against, if it is right."""

        def verify(found: Found) -> defer.Deferred[Found]:
            stored = self._dummy_hash if found is None else found[1]
            verified = self._thread.call(verify_password, password, stored)
            return verified.addCallback(lambda right: found if right else None)

        return self._find(nick).addCallback(verify)

    # On the hashing thread

    def _prepare(self) -> None:
        self._dummy_hash = hash_password(secrets.token_urlsafe(16))


class RedisAccountStore:
    """The same accounts, over one blocking connection, as
    :class:`~chat.accounts.store.AccountStore` has them in ``--db``: for
    ``tcpchat-admin --redis``. Every node sees each change at its next call
    (:class:`RedisAccounts` asks Redis every time). Raises
    :class:`~chat.redis.address.RedisError` when Redis fails."""

    def __init__(self, connection: BlockingConnection, prefix: str = "tcpchat:",
                 clock: Callable[[], float] = time.time) -> None:
        self._connection = connection
        self._prefix = prefix
        self._clock = clock
        self._set = f"{prefix}accounts"

    def find(self, name: str) -> Found:
        """The account of ``name`` (ignoring case) and its stored hash, or None."""
        values = self._connection.command("HMGET", _key(self._prefix, name), *_FIELDS)
        assert isinstance(values, list)
        return _account(values, fold(name))  # type: ignore[arg-type]

    def add(self, name: str, password_hash: str, operator: bool = False) -> Account:
        """Make the account; :class:`AccountExistsError` if ``name`` has one."""
        account = Account(name, fold(name), self._clock(), operator)
        made = self._connection.command(
            "EVAL", REGISTER, 2, _key(self._prefix, name), self._set,
            account.name, password_hash, repr(account.created), int(operator), account.key,
        )
        return _made(made, account)

    def remove(self, name: str) -> None:
        """Delete the account of ``name``; :class:`NoSuchAccountError` if there is none.

        As ``/unregister`` does, the account then owns no room, operates none and has
        voice in none (:meth:`_forget_in_rooms`), so whoever registers the name next
        does not inherit them.
        """
        self._changed(name, self._connection.command(
            "EVAL", DELETE, 2, _key(self._prefix, name), self._set, fold(name)
        ))
        self._forget_in_rooms(fold(name))

    def set_hash(self, name: str, password_hash: str) -> None:
        """Store a new password hash for ``name``; :class:`NoSuchAccountError` if none."""
        self._set_field(name, "hash", password_hash)

    def set_operator(self, name: str, flag: bool) -> None:
        """Make ``name`` a server operator, or no longer; :class:`NoSuchAccountError` if none."""
        self._set_field(name, "operator", int(flag))

    def accounts(self) -> list[Account]:
        """Every account, by folded nickname."""
        keys = self._connection.command("SMEMBERS", self._set)
        assert isinstance(keys, list)
        found = (self.find(str(key)) for key in sorted(map(str, keys)))
        return [account for account, _hash in filter(None, found)]

    def _forget_in_rooms(self, key: str) -> None:
        """Take the account ``key`` out of every room's owner, operators and voiced, as one
        change of the moderation each (:data:`~chat.redis.moderation.WRITE`), which every
        node reads from its stream and applies. Done under WATCH: if a node changes a
        room meanwhile, the rooms are read again."""
        rooms = f"{self._prefix}moderation:{ROOMS}"
        for _attempt in range(FORGET_ATTEMPTS):
            self._connection.command("WATCH", rooms)
            held = self._connection.command("HGETALL", rooms)
            assert isinstance(held, list)
            changed = {
                str(room): edited for room, value in zip(held[::2], held[1::2], strict=True)
                if (edited := _without(key, str(value))) is not None
            }
            if not changed:
                self._connection.command("UNWATCH")
                return
            self._connection.command("MULTI")
            for room, value in changed.items():
                self._connection.command(
                    "EVAL", WRITE, 2, rooms, f"{self._prefix}moderation",
                    ROOMS, room, value, PROGRAM_NODE, STREAM_KEEP,
                )
            if self._connection.command("EXEC") is not None:
                return
        raise RedisError(f"rooms kept changing: {key} may still own or operate some")

    def _set_field(self, name: str, field: str, value: str | int) -> None:
        self._changed(name, self._connection.command(
            "EVAL", SET_FIELD, 1, _key(self._prefix, name), field, value
        ))

    def _changed(self, name: str, changed: object) -> None:
        if changed != 1:
            raise NoSuchAccountError(name)


def _without(key: str, value: str) -> str | None:
    """A room's settings (as JSON) with the account ``key`` neither its owner, nor an
    operator, nor voiced; None if it was none of these."""
    settings = json.loads(value)
    operators, voiced = set(settings["operators"]), set(settings["voiced"])
    if settings["owner"] != key and key not in operators and key not in voiced:
        return None
    if settings["owner"] == key:
        settings["owner"] = None
    settings["operators"] = sorted(operators - {key})
    settings["voiced"] = sorted(voiced - {key})
    return json.dumps(settings)


def _key(prefix: str, nick: str) -> str:
    return f"{prefix}account:{fold(nick)}"


def _account(values: list[str | None], key: str) -> Found:
    name, created, operator, password_hash = values
    if name is None or created is None or password_hash is None:
        return None
    return Account(name, key, float(created), operator == "1"), password_hash


def _made(made: Any, account: Account) -> Account:
    if int(made) == 0:
        raise AccountExistsError(account.name)
    return account


def _refusal(password: str) -> PasswordRefusedError | None:
    fault = password_fault(password)
    return None if fault is None else PasswordRefusedError(fault)
