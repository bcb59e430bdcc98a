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

from typing import Any, Protocol

import txredisapi  # type: ignore[import-untyped]
from twisted.internet import defer

from chat.redis.address import (
    DEFAULT_TIMEOUT,
    RedisAddress,
    RedisError,
    blocking_command,
    describe,
    encode_command,
    parse_url,
)

__all__ = [
    "DEFAULT_TIMEOUT", "RedisAddress", "RedisClient", "RedisError", "blocking_command",
    "connect", "connect_lazily", "describe", "encode_command", "parse_url",
]

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


def connect_lazily(address: RedisAddress) -> RedisClient:
    """A txredisapi connection to ``address`` at once, connecting in the background:
    commands sent before it is up wait for it. It reconnects when the connection is
    lost (txredisapi's backoff); what a node tells its users then is not done yet."""
    options: dict[str, Any] = dict(
        dbid=address.db, reconnect=True, password=address.password,
        connectTimeout=address.timeout, convertNumbers=False,
    )
    if address.path is not None:
        return txredisapi.lazyUnixConnection(address.path, **options)  # type: ignore[no-any-return]
    return txredisapi.lazyConnection(  # type: ignore[no-any-return]
        address.host, address.port, **options
    )


