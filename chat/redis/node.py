"""One server process as a node of a chat kept in Redis: what ``--redis URL`` builds.

:class:`RedisNode` makes the node's two connections (commands, and the
bus's blocking reads), its :class:`~chat.redis.rooms.RedisRooms` (message
ids, history and fan-out of every room) and its
:class:`~chat.redis.directory.RedisDirectory` (nicknames across nodes).
:class:`RedisNodeService` starts reading the rooms before anything listens
and, once the goodbyes are said, stops reading, waits for what was sent and
closes the connections. Every node given the same URL serves the same chat.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet import defer

from chat.redis.address import RedisAddress
from chat.redis.connection import connect_lazily
from chat.redis.directory import RedisDirectory
from chat.redis.rooms import RedisRooms

PREFIX = "tcpchat:"
"""What every key of the chat begins with."""


class RedisNode:
    """The shared parts of one node: its rooms and its nickname directory."""

    def __init__(self, address: RedisAddress, reactor: Any, history_keep: int) -> None:
        self.address = address
        self.client = connect_lazily(address)
        self.reader = connect_lazily(address)
        self.rooms = RedisRooms(
            address, self.client, self.reader, reactor, PREFIX, keep=history_keep
        )
        self.directory = RedisDirectory(self.client, PREFIX)


class RedisNodeService(Service):
    """Reads the node's rooms while the server runs."""

    def __init__(self, node: RedisNode) -> None:
        self.node = node

    def startService(self) -> None:
        super().startService()
        self.node.rooms.start()

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        yield self.node.rooms.close()
        yield self.node.rooms.stop()
        for client in (self.node.client, self.node.reader):
            yield client.disconnect()
