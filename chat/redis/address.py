"""Where Redis is (:class:`RedisAddress`, from a ``--redis`` URL), and blocking commands.

Nothing here imports txredisapi (which imports the reactor), so that parsing
``twistd tcpchat`` options can check a URL; :mod:`chat.redis.connection`
opens the connections the ports use. :class:`BlockingConnection` sends
commands over a blocking socket, for start-up checks and ``tcpchat-admin``.
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
    cert: str | None = None
    """A PEM file of this client's certificate, for a Redis with ``tls-auth-clients yes``."""
    key: str | None = None
    """A PEM file of the private key of ``cert`` (None: it is in ``cert``'s file)."""


def parse_url(url: str) -> RedisAddress:
    """The Redis server a ``--redis`` URL names, or :class:`ValueError` saying what is wrong.

    ``redis://[:PASSWORD@]HOST[:PORT][/DB]`` (a user name before the colon is
    not used), or ``unix:PATH`` / ``unix://PATH`` with ``?db=N&password=P``.
    Either takes ``?ping=SECONDS`` (between health checks) and
    ``&backoff=SECONDS`` (the longest wait between reconnection attempts).
    ``rediss://`` is ``redis://`` over TLS; ``?ca=PATH`` names the PEM file of the
    authorities trusted for its certificate (by default the system's), and
    ``&cert=PATH&key=PATH`` the client certificate and its key that a Redis with
    ``tls-auth-clients yes`` asks for (``key`` may be left out when ``cert``'s file
    holds it too). Each file must be readable, and the certificate match its key.
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
    ca, cert, key = (_readable(query, word, url) for word in ("ca", "cert", "key"))
    if key is not None and cert is None:
        raise ValueError(f"{url!r}: key is the key of a cert: give cert=PATH too")
    if cert is not None:
        _check_certificate(cert, key, url)
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"{url!r}: the port is not a number from 0 to 65535") from None
    password = None if parts.password is None else unquote(parts.password)
    return RedisAddress(host=parts.hostname, port=port, password=password,
                        db=_db(parts.path.strip("/") or None, url), ping=ping, backoff=backoff,
                        tls=parts.scheme == "rediss", ca=ca, cert=cert, key=key)


_QUERY_WORDS = {
    "unix": {"db", "password", "ping", "backoff"},
    "redis": {"ping", "backoff"},
    "rediss": {"ping", "backoff", "ca", "cert", "key"},
}
"""The settings the query of a URL of each scheme may give."""


def _readable(query: dict[str, list[str]], word: str, url: str) -> str | None:
    """The file the setting ``word`` names, if given; a ValueError unless it can be read."""
    path = query.get(word, [None])[-1]
    if path is None:
        return None
    if not os.path.isfile(path):
        raise ValueError(f"{url!r}: {word} {path!r} is not a file")
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise ValueError(f"{url!r}: {word} {path!r} cannot be read: {error.strerror}") from None
    return path


def _check_certificate(cert: str, key: str | None, url: str) -> None:
    """A ValueError unless ``cert`` holds a PEM certificate and ``key`` (or ``cert``) its key."""
    try:
        ssl.create_default_context().load_cert_chain(cert, key)
    except ssl.SSLError as error:
        raise ValueError(
            f"{url!r}: cert {cert!r} and key {key or cert!r} are not a PEM certificate and"
            f" its private key ({error.reason or error})"
        ) from None


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


Reply = int | str | None | list["Reply"]
"""What Redis answers: an integer, a text, nothing, or an array of these."""


def blocking_command(address: RedisAddress, *words: str | int) -> int | str | None:
    """Send one command and wait for its answer (an integer, a text or None), blocking,
    over a connection of its own.

    Logs in first when ``address`` has a password or a database; raises
    :class:`RedisError` when Redis refuses or cannot be reached within
    ``address.timeout`` seconds, or answers an array.
    """
    with BlockingConnection(address) as connection:
        answer = connection.command(*words)
    if isinstance(answer, list):
        raise RedisError(f"unexpected array reply to {words[0]}")
    return answer


class BlockingConnection:
    """One blocking connection to Redis, for a few commands in a row (a tool, a start-up
    check), closed on leaving its ``with`` block. Logged in (password, database) on
    entering; every failure to reach Redis, and every refusal, is a :class:`RedisError`."""

    def __init__(self, address: RedisAddress) -> None:
        self.address = address
        self._socket: socket.socket | None = None
        self._replies: _Replies | None = None

    def __enter__(self) -> BlockingConnection:
        address = self.address
        target: str | tuple[str, int]
        if address.path is not None:
            family, target = socket.AF_UNIX, address.path
        else:
            family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
            target = (address.host, address.port)
        plain = socket.socket(family)
        try:
            plain.settimeout(address.timeout)
            plain.connect(target)
            connection = plain
            if address.tls:
                context = ssl.create_default_context(cafile=address.ca)
                if address.cert is not None:
                    context.load_cert_chain(address.cert, address.key)
                connection = context.wrap_socket(plain, server_hostname=address.host)
            self._socket, self._replies = connection, _Replies(connection)
            login = []
            if address.password is not None:
                login.append(encode_command("AUTH", address.password))
            if address.db is not None:
                login.append(encode_command("SELECT", address.db))
            connection.sendall(b"".join(login))
            for _ in login:
                self._replies.next()
        except BaseException as error:
            (self._socket or plain).close()
            self._socket = self._replies = None
            if isinstance(error, OSError):
                raise self._unreachable(error) from error
            raise
        return self

    def __exit__(self, *exception: object) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = self._replies = None

    def command(self, *words: str | int) -> Reply:
        """Send one command and wait for its answer."""
        assert self._socket is not None and self._replies is not None, "not connected"
        try:
            self._socket.sendall(encode_command(*words))
            return self._replies.next()
        except OSError as error:
            raise self._unreachable(error) from error

    def _unreachable(self, error: OSError) -> RedisError:
        return RedisError(f"Redis at {describe(self.address)}: {error}")


def describe(address: RedisAddress) -> str:
    """Where ``address`` is, for messages: its socket path, or host:port."""
    return address.path if address.path is not None else f"{address.host}:{address.port}"


class _Replies:
    """Reads simple replies (status, error, integer, bulk text) off a blocking socket."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._buffer = b""

    def next(self) -> Reply:
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
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self.next() for _ in range(count)]
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
