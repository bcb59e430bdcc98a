"""tcpchat-admin: the administrator's command for accounts, with or without a server running.

::

    tcpchat-admin [--db PATH | --redis URL] add NAME [--operator] [--password-file FILE]
    tcpchat-admin [--db PATH | --redis URL] reset NAME [--password-file FILE]
    tcpchat-admin [--db PATH | --redis URL] remove NAME | grant NAME | revoke NAME | list

It works on the server's database (``--db``, by default ``tcpchat.db``)
through :class:`~chat.accounts.store.AccountStore`, which takes none of
the server's locks, so it may run while a server uses the same file; the
server sees each change at its next login. With ``--redis URL`` (the URL the
nodes of a cluster are given) it works on the accounts kept in Redis instead,
through :class:`~chat.redis.accounts.RedisAccountStore` over one blocking
connection; every node sees each change at its next login, since nodes ask
Redis at every login. A Redis that cannot be reached, or a malformed URL, is
one line and exit 2. A password is never taken
from the command line: it is asked for, twice and hidden, on a terminal;
else read from the first line of ``--password-file`` or from
``TCPCHAT_PASSWORD``. Errors are one line on stderr; the exit status is
0 when done, 1 when it could not be done (no such account, the account
exists, the password is refused, the database cannot be used), 2 for a
wrong command line.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from chat.accounts.mailbox import MailboxStore
from chat.accounts.passwords import hash_password, password_fault
from chat.accounts.store import Account, AccountExistsError, AccountStore, NoSuchAccountError
from chat.storage import StoreError
from chat.text import NICK_MAX, describe_nickname_fault, nickname_fault

PROGRAM = "tcpchat-admin"
PASSWORD_VARIABLE = "TCPCHAT_PASSWORD"
DEFAULT_DB = "tcpchat.db"
DONE, FAILED, USAGE = 0, 1, 2


class AdminError(Exception):
    """What went wrong, in one line, and the exit status it ends with."""

    def __init__(self, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.status = status


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tcpchat-admin`` with ``argv`` (the command line's arguments when None)."""
    arguments = _parser().parse_args(argv)
    try:
        command: Callable[[argparse.Namespace], str] = arguments.command
        print(command(arguments))
    except AdminError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return FAILED
    return DONE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Manage tcpchat accounts, with or without the server running.",
        epilog=f"Passwords are asked for on a terminal, else read from --password-file or"
        f" {PASSWORD_VARIABLE}. Exit status: 0 done, 1 not done, 2 wrong command line.",
    )
    parser.add_argument("--db", metavar="PATH",
                        help=f"the server's database (default: {DEFAULT_DB})")
    parser.add_argument("--redis", metavar="URL",
                        help="the accounts of the chat whose nodes are given --redis URL,"
                        " instead of a database")
    commands = parser.add_subparsers(metavar="COMMAND", required=True)
    add = _command(commands, "add", _add, "register NAME")
    add.add_argument("--operator", action="store_true", help="as a server operator")
    _password_option(add)
    _password_option(_command(commands, "reset", _reset, "give NAME a new password"))
    _command(commands, "remove", _remove, "delete the account of NAME")
    _command(commands, "grant", _grant, "make NAME a server operator")
    _command(commands, "revoke", _revoke, "make NAME no longer a server operator")
    commands.add_parser("list", help="list the accounts").set_defaults(command=_list)
    return parser


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
    run: Callable[[argparse.Namespace], str], summary: str,
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=summary)
    parser.add_argument("name", metavar="NAME", help="the nickname of the account")
    parser.set_defaults(command=run)
    return parser


def _password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-file", metavar="FILE",
                        help="read the password from the first line of FILE")


# The commands: each returns what it says when done.

def _add(arguments: argparse.Namespace) -> str:
    name = _valid_name(arguments.name)
    with _open(arguments, create=True) as store:
        if store.find(name) is not None:
            raise AdminError(f"an account named {name} exists already")
        password_hash = hash_password(_password(arguments))
        try:
            account = store.add(name, password_hash, arguments.operator)
        except AccountExistsError:
            raise AdminError(f"an account named {name} exists already") from None
    kind = "operator account" if account.operator else "account"
    return f"added {kind} {account.name}"


def _reset(arguments: argparse.Namespace) -> str:
    name = _valid_name(arguments.name)
    with _open(arguments) as store:
        account = _find(store, name)
        password_hash = hash_password(_password(arguments))
        _change(store.set_hash, account.name, password_hash)
    return f"new password for {account.name}"


def _remove(arguments: argparse.Namespace) -> str:
    name = _valid_name(arguments.name)
    with _open(arguments) as store:
        account = _find(store, name)
        _change(store.remove, account.name)
    if arguments.redis is None:
        # Whoever registers the name next must not read what was kept for it. (With
        # --redis, offline messages are in each node's own --db, out of reach here.)
        letters = MailboxStore(arguments.db)
        try:
            letters.take(account.name)
        finally:
            letters.close()
    return f"removed account {account.name}"


def _grant(arguments: argparse.Namespace) -> str:
    return _set_operator(arguments, True)


def _revoke(arguments: argparse.Namespace) -> str:
    return _set_operator(arguments, False)


def _set_operator(arguments: argparse.Namespace, flag: bool) -> str:
    name = _valid_name(arguments.name)
    with _open(arguments) as store:
        account = _find(store, name)
        _change(store.set_operator, account.name, flag)
    return f"{account.name} is {'now' if flag else 'no longer'} a server operator"


def _list(arguments: argparse.Namespace) -> str:
    with _open(arguments) as store:
        accounts = store.accounts()
    return "\n".join(map(_listed, accounts)) if accounts else "no accounts"


def _listed(account: Account) -> str:
    created = time.strftime("%Y-%m-%d %H:%MZ", time.gmtime(account.created))
    role = "operator" if account.operator else "user"
    return f"{account.name:<{NICK_MAX}} {role:<8} registered {created}"


# What the commands share.

def _valid_name(name: str) -> str:
    fault = nickname_fault(name)
    if fault is not None:
        raise AdminError(describe_nickname_fault(name, fault), USAGE)
    return name


class Store(Protocol):
    """What the commands use of the accounts: an AccountStore's calls (``--db``), or a
    RedisAccountStore's (``--redis``)."""

    def find(self, name: str) -> tuple[Account, str] | None: ...
    def add(self, name: str, password_hash: str, operator: bool = False) -> Account: ...
    def remove(self, name: str) -> None: ...
    def set_hash(self, name: str, password_hash: str) -> None: ...
    def set_operator(self, name: str, flag: bool) -> None: ...
    def accounts(self) -> list[Account]: ...


def _open(
    arguments: argparse.Namespace, create: bool = False
) -> contextlib.AbstractContextManager[Store]:
    """The store the command line names, closed afterwards."""
    if arguments.redis is not None:
        if arguments.db is not None:
            raise AdminError("give --db PATH or --redis URL, not both", USAGE)
        return _open_redis(arguments.redis)
    if arguments.db is None:
        arguments.db = DEFAULT_DB
    return _open_db(arguments.db, create)


@contextlib.contextmanager
def _open_redis(url: str) -> Iterator[Store]:
    """The accounts in the Redis at ``url``, its connection closed afterwards; a Redis that
    cannot be reached is an :class:`AdminError` of status 2, one that fails later of 1."""
    # Imported here: the Redis client imports the reactor, which --db has no need of.
    from chat.redis.accounts import RedisAccountStore
    from chat.redis.address import BlockingConnection, RedisError, parse_url
    from chat.redis.node import PREFIX

    try:
        address = parse_url(url)
    except ValueError as error:
        raise AdminError(f"--redis: {error}", USAGE) from None
    try:
        with BlockingConnection(address) as connection:
            try:
                yield RedisAccountStore(connection, PREFIX)
            except RedisError as error:
                raise AdminError(f"--redis: {error}") from None
    except RedisError as error:
        raise AdminError(f"--redis: {error}", USAGE) from None


@contextlib.contextmanager
def _open_db(path: str, create: bool = False) -> Iterator[AccountStore]:
    """The store at ``path``, closed afterwards; its errors become an :class:`AdminError`."""
    if path in ("", ":memory:"):
        raise AdminError(f"--db {path!r} is no file: give the server's database", USAGE)
    if not create and not os.path.exists(path):
        raise AdminError(f"no database at {path} (give the server's --db)")
    try:
        store = AccountStore(path)
    except StoreError as error:
        raise AdminError(str(error).removeprefix("tcpchat: ")) from None
    try:
        yield store
    except sqlite3.Error as error:
        raise AdminError(f"cannot use --db {path}: {error}") from None
    finally:
        store.close()


def _find(store: Store, name: str) -> Account:
    found = store.find(name)
    if found is None:
        raise AdminError(f"no account named {name}")
    return found[0]


def _change(change: Callable[..., None], name: str, *values: object) -> None:
    """Make a change to the account ``name``, which may have been removed meanwhile."""
    try:
        change(name, *values)
    except NoSuchAccountError:
        raise AdminError(f"no account named {name}") from None


def _password(arguments: argparse.Namespace) -> str:
    """The new password, from the first source there is; refused if it cannot be used."""
    if arguments.password_file is not None:
        password = _read_password_file(arguments.password_file)
    elif sys.stdin.isatty():
        password = _ask_password(arguments.name)
    elif PASSWORD_VARIABLE in os.environ:
        password = os.environ[PASSWORD_VARIABLE]
    else:
        raise AdminError(
            f"no password: not on a terminal; give --password-file FILE or {PASSWORD_VARIABLE}",
            USAGE,
        )
    fault = password_fault(password)
    if fault is not None:
        raise AdminError(f"password refused: {fault}")
    return password


def _read_password_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            line = file.readline()
    except OSError as error:
        raise AdminError(f"cannot read --password-file {path}: {error.strerror}", USAGE) from None
    except UnicodeDecodeError:
        raise AdminError(f"--password-file {path} is not UTF-8 text", USAGE) from None
    return line.removesuffix("\n")


def _ask_password(name: str) -> str:
    try:
        password = getpass.getpass(f"password for {name}: ")
        again = getpass.getpass("the same password again: ")
    except EOFError:
        raise AdminError("no password given") from None
    if password != again:
        raise AdminError("the two passwords differ")
    return password


if __name__ == "__main__":
    sys.exit(main())
