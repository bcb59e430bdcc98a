"""Where Redis is (:class:`RedisAddress`, from a ``--redis`` URL), and one blocking command.

Nothing here imports txredisapi (which imports the reactor), so that parsing
``twistd tcpchat`` options can check a URL; :mod:`chat.redis.connection`
opens the connections the ports use.
"""

from __future__ import annotations

import os
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_TIMEOUT = 5.0
"""Seconds to connect, and for a blocking command to be answered."""

DEFAULT_PORT = 6379

DEFAULT_PING = 1.0
"""Seconds between the PINGs by which a node checks that Redis still answers."""
DEFAULT_BACKOFF = 5.0
"""The most seconds between two attempts to reconnect to a Redis gone away."""
FIRST_RETRY = 0.5
"""Seconds before the first attempt to reconnect; each later wait doubles, up to the backoff."""


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
    """Seconds to connect, for a blocking command, and for a PING to be answered."""
    ping: float = DEFAULT_PING
    backoff: float = DEFAULT_BACKOFF
    tls: bool = False
    """Talk to Redis over TLS (``rediss://``), checking its certificate and host name."""
    ca: str | None = None
    """A PEM file of the authorities trusted for Redis's certificate (None: the system's)."""


def parse_url(url: str) -> RedisAddress:
    """The Redis server a ``--redis`` URL names, or :class:`ValueError` saying what is wrong.

    ``redis://[:PASSWORD@]HOST[:PORT][/DB]`` (a user name before the colon is
    not used), or ``unix:PATH`` / ``unix://PATH`` with ``?db=N&password=P``.
    Either takes ``?ping=SECONDS`` (between health checks) and
    ``&backoff=SECONDS`` (the longest wait between reconnection attempts).
    ``rediss://`` is ``redis://`` over TLS; ``?ca=PATH`` names the PEM file of the
    authorities trusted for its certificate (by default the system's).
    """
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    known = _QUERY_WORDS.get(parts.scheme, set())
    unknown = sorted(set(query) - known)
    if unknown:
        raise ValueError(
            f"{url!r}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    ping = _seconds(query, "ping", DEFAULT_PING, url)
    backoff = _seconds(query, "backoff", DEFAULT_BACKOFF, url)
    if parts.scheme == "unix":
        path = (parts.netloc + parts.path) if parts.netloc else parts.path
        if not path:
            raise ValueError(f"{url!r}: no socket path after unix:")
        password = query.get("password", [None])[-1]
        return RedisAddress(path=unquote(path), password=password,
                            db=_db(query.get("db", [None])[-1], url), ping=ping,
                            backoff=backoff)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(
            f"{url!r}: use redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://… (TLS) "
            "or unix:PATH[?db=N]"
        )
    ca = query.get("ca", [None])[-1]
    if ca is not None and not os.path.isfile(ca):
        raise ValueError(f"{url!r}: ca {ca!r} is not a file")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"{url!r}: the port is not a number from 0 to 65535") from None
    password = None if parts.password is None else unquote(parts.password)
    return RedisAddress(host=parts.hostname, port=port, password=password,
                        db=_db(parts.path.strip("/") or None, url), ping=ping, backoff=backoff,
                        tls=parts.scheme == "rediss", ca=ca)


_QUERY_WORDS = {
    "unix": {"db", "password", "ping", "backoff"},
    "redis": {"ping", "backoff"},
    "rediss": {"ping", "backoff", "ca"},
}
"""The settings the query of a URL of each scheme may give."""


def _seconds(query: dict[str, list[str]], word: str, default: float, url: str) -> float:
    text = query.get(word, [None])[-1]
    if text is None:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0.05 <= seconds <= 3600:
        raise ValueError(f"{url!r}: {word} is seconds from 0.05 to 3600, not {text!r}")
    return seconds


def _db(text: str | None, url: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise ValueError(f"{url!r}: the database is a number, not {text!r}")
    return int(text)


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
        with socket.socket(family) as plain:
            plain.settimeout(address.timeout)
            plain.connect(target)
            connection = plain
            if address.tls:
                context = ssl.create_default_context(cafile=address.ca)
                connection = context.wrap_socket(plain, server_hostname=address.host)
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
