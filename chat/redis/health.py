"""A node's view of Redis: up or down, since when, and who is told when it changes.

:class:`RedisHealth` watches the node's connections (each lost or made
again, as :func:`chat.redis.connection.connect_lazily` reports) and sends a
PING every ``address.ping`` seconds on the command connection: Redis is down
from the moment a connection is lost or a PING goes unanswered for
``address.timeout`` seconds, and up again once every connection is back and
a PING is answered. Going down is one log line and
:class:`~chat.domain.events.BackboneLost` to whoever listens (the registry's
``broadcast``: every member of this process); coming back is one log line
with the outage's length and :class:`~chat.domain.events.BackboneBack`.
While Redis is down the bus refuses what is published
(:class:`~chat.ports.bus.BusUnavailableError`); the connections reconnect by
themselves, with their backoff; :class:`WhileUp` gives the calls of the
accounts (:mod:`chat.redis.accounts`) the same refusal,
:class:`~chat.domain.errors.BackboneUnavailableError`, at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.domain.errors import BackboneUnavailableError
from chat.domain.events import BackboneBack, BackboneLost
from chat.redis.address import FIRST_RETRY, RedisAddress, describe
from chat.redis.connection import RedisClient

log = Logger()

Listener = Callable[[BackboneLost | BackboneBack], None]
"""Told when Redis goes away and when it is back (a registry's ``broadcast``)."""


class RedisHealth:
    """Whether this node can reach Redis now, and since when it cannot."""

    def __init__(self, address: RedisAddress, clock: IReactorTime) -> None:
        self.address = address
        self.clock = clock
        self.up = True
        """False from the moment Redis is found unreachable until it answers again."""
        self.down_since: float | None = None
        """When Redis went away (the clock's seconds), while it is down."""
        self._listeners: list[Listener] = []
        self._connected: dict[str, bool] = {}
        self._client: RedisClient | None = None
        self._ping_sent: float | None = None
        self._pinging: LoopingCall | None = None
        self._soon: IDelayedCall | None = None

    @property
    def connected(self) -> bool:
        """True while every watched connection is up."""
        return all(self._connected.values())

    def tell(self, listener: Listener) -> None:
        """Give ``listener`` each :class:`BackboneLost` and :class:`BackboneBack` from now on."""
        self._listeners.append(listener)

    def watch(self, name: str) -> _Watcher:
        """A watcher for one of the node's connections (``name`` is for the log)."""
        self._connected[name] = False
        return _Watcher(self, name)

    def start(self, client: RedisClient) -> None:
        """Begin PINGing Redis on ``client`` every ``address.ping`` seconds."""
        self._client = client
        self._pinging = LoopingCall(self._ping)
        self._pinging.clock = self.clock
        self._pinging.start(self.address.ping, now=False)

    def stop(self) -> None:
        """Stop checking (the node is closing its connections: that is no outage)."""
        if self._pinging is not None and self._pinging.running:
            self._pinging.stop()
        if self._soon is not None and self._soon.active():
            self._soon.cancel()
        self._listeners.clear()
        self._client = None

    def connection_made(self, name: str) -> None:
        self._connected[name] = True
        if not self.up and self.connected and self._ping_sent is None:
            self._soon = self.clock.callLater(0, self._ping)

    def connection_lost(self, name: str, why: str) -> None:
        self._connected[name] = False
        self._went_down(f"{name} connection lost ({why})")

    def _ping(self) -> None:
        if self._client is None:
            return
        now = self.clock.seconds()
        if self._ping_sent is not None:
            if now - self._ping_sent >= self.address.timeout:
                self._went_down(f"no answer to PING within {self.address.timeout:g}s")
            return
        self._ping_sent = now
        answer = self._client.execute_command("PING")
        answer.addCallbacks(self._answered, self._unanswered)

    def _answered(self, _reply: object) -> None:
        self._ping_sent = None
        if not self.up and self.connected:
            self._came_back()

    def _unanswered(self, failure: Failure) -> None:
        self._ping_sent = None
        if self._client is not None:
            self._went_down(f"PING failed: {failure.getErrorMessage()}")

    def _went_down(self, why: str) -> None:
        if not self.up or self._client is None:
            return
        self.up = False
        self.down_since = self.clock.seconds()
        first, most = min(FIRST_RETRY, self.address.backoff), self.address.backoff
        retrying = (f"every {most:g}s" if first == most
                    else f"after {first:g}s, backing off to every {most:g}s")
        log.warn("Redis at {where} unreachable: {why}; retrying {retrying}",
                 where=describe(self.address), why=why, retrying=retrying)
        self._tell(BackboneLost())

    def _came_back(self) -> None:
        down_for = self.clock.seconds() - (self.down_since or self.clock.seconds())
        self.up = True
        self.down_since = None
        log.info("Redis at {where} reachable again after {down_for:.1f}s",
                 where=describe(self.address), down_for=down_for)
        self._tell(BackboneBack(down_for))

    def _tell(self, event: BackboneLost | BackboneBack) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.failure("health: telling of {event!r} failed", event=event)


class _Watcher:
    """One connection's reports to its :class:`RedisHealth`."""

    def __init__(self, health: RedisHealth, name: str) -> None:
        self.health = health
        self.name = name

    def made(self) -> None:
        self.health.connection_made(self.name)

    def lost(self, why: str) -> None:
        self.health.connection_lost(self.name, why)


class _Health(Protocol):
    @property
    def up(self) -> bool: ...


class WhileUp:
    """A connection whose commands fail at once with
    :class:`~chat.domain.errors.BackboneUnavailableError` while ``health`` says Redis is
    down, instead of waiting on the connection for it to come back."""

    def __init__(self, client: RedisClient, health: _Health) -> None:
        self.client = client
        self.health = health

    def execute_command(self, *words: str | int | float) -> defer.Deferred[Any]:
        if not self.health.up:
            return defer.fail(BackboneUnavailableError(speech=False))
        return self.client.execute_command(*words)

    def eval(
        self, script: str, keys: list[str] | None = None,
        args: list[str | int | float] | None = None,
    ) -> defer.Deferred[Any]:
        if not self.health.up:
            return defer.fail(BackboneUnavailableError(speech=False))
        return self.client.eval(script, keys or [], args or [])

    def disconnect(self) -> defer.Deferred[None]:
        return self.client.disconnect()
