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

from chat.redis.address import RedisAddress
from chat.redis.connection import connect_lazily
from chat.redis.courier import RedisCourier
from chat.redis.directory import RedisDirectory
from chat.redis.health import RedisHealth
from chat.redis.presence import DEFAULT_LEASE, Lease
from chat.redis.rooms import RedisRooms

PREFIX = "tcpchat:"
"""What every key of the chat begins with."""


class RedisNode:
    """The shared parts of one node: its rooms, nickname directory, courier and lease."""

    def __init__(
        self, address: RedisAddress, reactor: Any, history_keep: int,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        self.address = address
        self.health = RedisHealth(address, reactor)
        self.client = connect_lazily(address, self.health.watch("commands"))
        self.reader = connect_lazily(address, self.health.watch("stream reads"))
        self.rooms = RedisRooms(
            address, self.client, self.reader, reactor, PREFIX, keep=history_keep
        )
        self.rooms.health = self.health
        self.directory = RedisDirectory(self.client, PREFIX, self.rooms.node, self.health)
        self.courier = RedisCourier(self.rooms, PREFIX)
        self.lease = Lease(
            self.client, self.rooms.node, reactor, PREFIX, lease, self.rooms.stream_keep
        )


class RedisNodeService(Service):
    """Reads the node's rooms while the server runs."""

    def __init__(self, node: RedisNode) -> None:
        self.node = node

    def startService(self) -> None:
        super().startService()
        self.node.lease.start()
        self.node.rooms.start()
        self.node.health.start(self.node.client)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        self.node.health.stop()
        yield self.node.rooms.close()
        yield self.node.lease.stop()
        yield self.node.rooms.stop()
        for client in (self.node.client, self.node.reader):
            yield client.disconnect()
