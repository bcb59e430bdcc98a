"""Where Redis is, and two ways of talking to it: a txredisapi connection, or one blocking command.

:class:`RedisAddress` says where the Redis server is (a TCP host and port,
or a unix socket path) and how to log in to it (password, database).
:func:`connect` opens a txredisapi connection (answers are Deferreds; see
docs/scaling.md for why this client); :func:`blocking_command` sends one
command over a short-lived blocking socket, for the rare moment when a
synchronous port method cannot go on without Redis's answer (a new block of
message ids, :mod:`chat.redis.sequencer`).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Protocol

import txredisapi  # type: ignore[import-untyped]
from twisted.internet import defer

DEFAULT_TIMEOUT = 5.0
"""Seconds to connect, and for a blocking command to be answered."""


class RedisError(Exception):
    """Redis refused a command, or could not be reached, or answered what was not expected."""


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """A Redis server: ``path`` (a unix socket) if given, else ``host`` and ``port``."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None
    password: str | None = None
    db: int | None = None
    timeout: float = DEFAULT_TIMEOUT


class RedisClient(Protocol):
    """What the Redis ports use of a txredisapi connection."""

    def execute_command(self, *words: str | int | float) -> defer.Deferred[Any]:
        """Send one command; fires with its reply, fails with :class:`txredisapi.ResponseError`."""

    def eval(
        self, script: str, keys: list[str] = ..., args: list[str | int | float] = ...
    ) -> defer.Deferred[Any]:
        """Run a Lua script (by its SHA1 once Redis knows it)."""

    def disconnect(self) -> defer.Deferred[None]:
        """Close the connection."""


def connect(address: RedisAddress) -> defer.Deferred[RedisClient]:
    """A txredisapi connection to ``address``: replies as text, numbers left as text.

    It does not reconnect by itself (what a node does when Redis goes away
    is the issue's fault handling, not done yet: docs/scaling.md).
    """
    options: dict[str, Any] = dict(
        dbid=address.db, reconnect=False, password=address.password,
        connectTimeout=address.timeout, convertNumbers=False,
    )
    if address.path is not None:
        connected = txredisapi.UnixConnection(address.path, **options)
    else:
        connected = txredisapi.Connection(address.host, address.port, **options)
    return connected  # type: ignore[no-any-return]


def encode_command(*words: str | int) -> bytes:
    """One command in the Redis protocol (RESP)."""
    encoded = [str(word).encode() for word in words]
    return f"*{len(encoded)}\r\n".encode() + b"".join(
        b"$%d\r\n%s\r\n" % (len(word), word) for word in encoded
    )


def blocking_command(address: RedisAddress, *words: str | int) -> int | str | None:
    """Send one command and wait for its answer (an integer, a text or None), blocking.

    Logs in first when ``address`` has a password or a database; raises
    :class:`RedisError` when Redis refuses or cannot be reached within
    ``address.timeout`` seconds.
    """
    commands = []
    if address.password is not None:
        commands.append(encode_command("AUTH", address.password))
    if address.db is not None:
        commands.append(encode_command("SELECT", address.db))
    commands.append(encode_command(*words))
    target: str | tuple[str, int]
    if address.path is not None:
        family, target = socket.AF_UNIX, address.path
    else:
        family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        target = (address.host, address.port)
    try:
        with socket.socket(family) as connection:
            connection.settimeout(address.timeout)
            connection.connect(target)
            connection.sendall(b"".join(commands))
            replies = _Replies(connection)
            answer: int | str | None = None
            for _ in commands:
                answer = replies.next()
            return answer
    except OSError as error:
        raise RedisError(f"Redis at {describe(address)}: {error}") from error


def describe(address: RedisAddress) -> str:
    """Where ``address`` is, for messages: its socket path, or host:port."""
    return address.path if address.path is not None else f"{address.host}:{address.port}"


class _Replies:
    """Reads simple replies (status, error, integer, bulk text) off a blocking socket."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._buffer = b""

    def next(self) -> int | str | None:
        line = self._line()
        kind, rest = line[:1], line[1:].decode()
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            return self._exactly(size + 2)[:-2].decode()
        raise RedisError(f"unexpected reply {line!r}")

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            self._more()
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._more()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _more(self) -> None:
        data = self._connection.recv(65536)
        if not data:
            raise RedisError("Redis closed the connection")
        self._buffer += data
