"""Where Redis is, and two ways of talking to it: a txredisapi connection, or one blocking command.

:class:`RedisAddress` says where the Redis server is (a TCP host and port,
or a unix socket path) and how to log in to it (password, database).
:func:`connect` opens a txredisapi connection (answers are Deferreds; see
docs/scaling.md for why this client); :func:`connect_lazily` opens one that
reconnects by itself, with a backoff, and tells a :class:`ConnectionWatcher`
when it is made and lost; :func:`blocking_command` sends one command over a
short-lived blocking socket, for the rare moment when a synchronous port
method cannot go on without Redis's answer (a new block of message ids,
:mod:`chat.redis.sequencer`).
"""

from __future__ import annotations

from typing import Any, Protocol

import txredisapi  # type: ignore[import-untyped]
from twisted.application.internet import ClientService
from twisted.internet import defer, reactor
from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint, wrapClientTLS
from twisted.internet.ssl import Certificate, PrivateCertificate, optionsForClientTLS
from twisted.logger import Logger, LogPublisher
from twisted.python.failure import Failure

from chat.redis.address import (
    DEFAULT_TIMEOUT,
    FIRST_RETRY,
    RedisAddress,
    RedisError,
    blocking_command,
    describe,
    encode_command,
    parse_url,
)

__all__ = [
    "DEFAULT_TIMEOUT", "ConnectionLostError", "ConnectionWatcher", "RedisAddress",
    "RedisClient", "RedisError", "blocking_command", "connect", "connect_lazily", "describe",
    "encode_command", "parse_url",
]

ConnectionLostError: type[Exception] = txredisapi.ConnectionError
"""What a command fails with when its connection is lost before it is answered (it may
or may not have been carried out), or when there is no connection to send it on."""

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

    It does not reconnect by itself (for tests and tools; a node's connections are
    :func:`connect_lazily`'s, which do).
    """
    options: dict[str, Any] = dict(
        dbid=address.db, reconnect=False, password=address.password,
        connectTimeout=address.timeout, convertNumbers=False,
    )
    if address.path is not None:
        connected = txredisapi.UnixConnection(address.path, **options)
    else:
        connected = txredisapi.Connection(
            address.host, address.port,
            ssl_context_factory=_tls_options(address) if address.tls else False, **options,
        )
    return connected  # type: ignore[no-any-return]


class ConnectionWatcher(Protocol):
    """Told when a connection made by :func:`connect_lazily` is up, and when it is lost."""

    def made(self) -> None:
        """The connection is ready for commands (logged in, database chosen)."""

    def lost(self, why: str) -> None:
        """The connection ended, for the reason ``why``; it is being made again."""


def connect_lazily(address: RedisAddress, watcher: ConnectionWatcher | None = None) -> RedisClient:
    """A txredisapi connection to ``address`` at once, connecting in the background:
    commands sent before it is up wait for it.

    When the connection is lost it is made again: the first attempt after
    :data:`~chat.redis.address.FIRST_RETRY` seconds, each wait after that twice as long,
    up to ``address.backoff`` seconds (txredisapi's reconnection, which runs on
    Twisted's ``ClientService``, with these delays). ``watcher`` hears of each
    connection made and lost.
    """
    factory = _WatchedFactory(address, watcher)
    endpoint: Any
    if address.path is not None:
        endpoint = UNIXClientEndpoint(reactor, address.path, timeout=address.timeout)
    else:
        endpoint = HostnameEndpoint(reactor, address.host, address.port,
                                    timeout=address.timeout)
        if address.tls:
            endpoint = wrapClientTLS(_tls_options(address), endpoint)
    factory.startConnecting(endpoint)
    return factory.handler  # type: ignore[no-any-return]


def _tls_options(address: RedisAddress) -> Any:
    """TLS to ``address``: its certificate checked against ``address.ca`` (or the
    system's authorities) and its host name; this client's own certificate shown
    when ``address.cert`` names one."""
    trust: Any = None
    if address.ca is not None:
        with open(address.ca, "rb") as pem:
            trust = Certificate.loadPEM(pem.read())
    mine: PrivateCertificate | None = None
    if address.cert is not None:
        with open(address.cert, "rb") as pem:
            certificate = pem.read()
        key = certificate
        if address.key is not None:
            with open(address.key, "rb") as pem:
                key = pem.read()
        mine = PrivateCertificate.loadPEM(certificate + b"\n" + key)
    return optionsForClientTLS(address.host, trustRoot=trust, clientCertificate=mine)


class _QuietClientService(ClientService):
    """Reconnects as ClientService does, without a log line per attempt."""

    _log = Logger(observer=LogPublisher())


class _WatchedFactory(txredisapi.RedisFactory):  # type: ignore[misc]
    """txredisapi's factory of one lazy connection, with our backoff, telling a watcher."""

    factor = 2.0

    def __init__(self, address: RedisAddress, watcher: ConnectionWatcher | None) -> None:
        handler = (txredisapi.UnixConnectionHandler if address.path is not None
                   else txredisapi.ConnectionHandler)
        super().__init__(
            describe(address), address.db, 1, isLazy=True, handler=handler,
            password=address.password, convertNumbers=False,
        )
        self.initialDelay = min(FIRST_RETRY, address.backoff)
        self.maxDelay = address.backoff
        self.watcher = watcher

    def startConnecting(self, endpoint: Any) -> None:
        """As txredisapi does, with a ClientService that does not log each attempt: while
        Redis is away :mod:`chat.redis.health` says so once, not once a retry."""
        slot = txredisapi._PoolSlot(self, endpoint, self.reconnect)
        slot.service = _QuietClientService(
            endpoint, txredisapi._SlotFactory(self, slot), retryPolicy=slot._retryDelay,
            prepareConnection=slot._prepareConnection,
        )
        self.slots.append(slot)
        slot.start()

    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        if self.watcher is not None:
            watcher, connection_lost = self.watcher, protocol.connectionLost

            def lost(reason: Failure) -> None:
                try:
                    connection_lost(reason)
                finally:
                    if not self.disconnectCalled and getattr(protocol, "_was_ready", False):
                        watcher.lost(reason.getErrorMessage())

            protocol.connectionLost = lost
        return protocol

    def addConnection(self, conn: Any) -> None:
        super().addConnection(conn)
        if conn in self.pool:
            conn._was_ready = True
            if self.watcher is not None:
                self.watcher.made()
