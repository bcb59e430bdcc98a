"""One server process as a node of a chat kept in Redis: what ``--redis URL`` builds.

:class:`RedisNode` makes the node's two connections (commands, and the
bus's blocking reads), its :class:`~chat.redis.rooms.RedisRooms` (message
ids, history, fan-out and rosters of every room), its
:class:`~chat.redis.directory.RedisDirectory` (nicknames across nodes), its
:class:`~chat.redis.courier.RedisCourier` (private messages across nodes)
and its :class:`~chat.redis.presence.Lease`. :class:`RedisNodeService` takes
the lease and starts reading the rooms before anything listens and, once the
goodbyes are said, waits for what was sent, gives the lease up (freeing
whatever the node still held), stops reading and closes the connections.
Every node given the same URL serves the same chat.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from chat.domain.events import BackboneBack, BackboneLost
from chat.redis.address import RedisAddress
from chat.redis.connection import connect_lazily
from chat.redis.courier import RedisCourier
from chat.redis.directory import RedisDirectory
from chat.redis.health import RedisHealth
from chat.redis.presence import DEFAULT_LEASE, Lease
from chat.redis.rooms import RedisRooms

log = Logger()

FORGET_EVERY = 60.0
"""Seconds between two deletions of what is older than ``--retain-days`` or beyond
``--retain-messages``."""

PREFIX = "tcpchat:"
"""What every key of the chat begins with."""


class RedisNode:
    """The shared parts of one node: its rooms, nickname directory, courier and lease."""

    def __init__(
        self, address: RedisAddress, reactor: Any, history_keep: int,
        lease: float = DEFAULT_LEASE, retain_days: float = 0.0, retain_messages: int = 0,
    ) -> None:
        self.address = address
        self.reactor = reactor
        self.retain_days = retain_days
        """Days a message is kept in the rooms' history (0: no age limit)."""
        self.retain_messages = retain_messages
        """Messages kept in the history of all rooms together (0: no limit)."""
        self.health = RedisHealth(address, reactor)
        self.client = connect_lazily(address, self.health.watch("commands"))
        self.reader = connect_lazily(address, self.health.watch("stream reads"))
        self.rooms = RedisRooms(
            address, self.client, self.reader, reactor, PREFIX, keep=history_keep,
            retain=retain_messages,
        )
        self.rooms.health = self.health
        self.directory = RedisDirectory(self.client, PREFIX, self.rooms.node, self.health)
        self.courier = RedisCourier(self.rooms, PREFIX)
        self.lease = Lease(
            self.client, self.rooms.node, reactor, PREFIX, lease, self.rooms.stream_keep
        )
        # Told before anyone else: what is put back goes before what members do next.
        self.health.tell(self._put_back)

    def _put_back(self, news: BackboneLost | BackboneBack) -> None:
        """Redis went away (note what the others were told) or is back: renew the lease,
        claim this node's members' nicknames again and put back its rooms' rosters."""
        if isinstance(news, BackboneLost):
            self.rooms.holdings.outage()
            return
        self.lease.renew()
        claimed = self.directory.put_back()
        claimed.addErrback(lambda failure: log.failure("directory: putting back", failure))
        self.rooms.put_back()


class RedisNodeService(Service):
    """Reads the node's rooms while the server runs."""

    def __init__(self, node: RedisNode) -> None:
        self.node = node
        self._forgetting = LoopingCall(self._forget_old)
        self._forgetting.clock = node.reactor
        self._recounted = False
        """Whether the rooms' messages were counted afresh since this node started."""

    def startService(self) -> None:
        super().startService()
        self.node.lease.start()
        learnt = self.node.rooms.holdings.learn_epoch(self.node.client)
        learnt.addErrback(lambda failure: log.failure("rooms: reading the epoch", failure))
        self.node.rooms.start()
        self.node.health.start(self.node.client)
        if self.node.retain_days > 0 or self.node.retain_messages > 0:
            self._forgetting.start(FORGET_EVERY, now=True)

    def _forget_old(self) -> defer.Deferred[None] | None:
        """Delete what is older than ``--retain-days`` from every room's history, then the
        oldest messages over all rooms beyond ``--retain-messages`` (the first time, having
        counted them afresh); every node with the options does it (each call does what is
        left, so doing it twice deletes no more)."""
        node = self.node
        if not node.health.up:
            return None
        forgotten: defer.Deferred[Any] = defer.succeed(None)
        if node.retain_days > 0:
            cutoff = node.reactor.seconds() - node.retain_days * 86400
            forgotten.addCallback(lambda _: node.rooms.history.forget_older_than(cutoff))
            forgotten.addCallback(self._forgotten_old)
        if node.retain_messages > 0:
            if not self._recounted:
                forgotten.addCallback(lambda _: node.rooms.history.recount())
                forgotten.addCallback(self._counted)
            forgotten.addCallback(lambda _: node.rooms.history.forget_beyond_retain())
            forgotten.addCallback(self._forgotten_beyond)
        forgotten.addErrback(lambda failure: log.failure("history: pruning failed", failure))
        return forgotten

    def _counted(self, count: int) -> None:
        self._recounted = True
        log.info("history: {count} messages kept in all rooms", count=count)

    def _forgotten_old(self, gone: int) -> None:
        if gone:
            log.info("history: {gone} messages older than {days} days deleted", gone=gone,
                     days=self.node.retain_days)

    def _forgotten_beyond(self, gone: int) -> None:
        if gone:
            log.info("history: {gone} oldest messages deleted to keep {limit} over all rooms",
                     gone=gone, limit=self.node.retain_messages)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        if self._forgetting.running:
            self._forgetting.stop()
        self.node.health.stop()
        yield self.node.rooms.close()
        yield self.node.lease.stop()
        yield self.node.rooms.stop()
        for client in (self.node.client, self.node.reader):
            yield client.disconnect()
