"""Private delivery across nodes: the :class:`~chat.ports.Courier` of a chat kept in Redis.

Each node has an inbox, a stream read in its bus's XREAD loop as if it were
a room (``<prefix>bus:inbox:<node>``, :attr:`RedisRooms.inbox
<chat.redis.rooms.RedisRooms.inbox>`). :meth:`RedisCourier.send` is one Lua
call (:data:`SEND`): it finds the node serving the nickname in the nickname's
claim (:class:`~chat.redis.directory.RedisDirectory` given the node), and if
that node's lease is alive adds ``(nick, event)`` to the node's inbox,
answering the nickname as its holder spells it; otherwise it answers nil and
the sender is told nobody has that nickname. While the node's health says
Redis is down, sending is refused at once, as publishing is. Entries are numbered ``0-n``
(no message id), so reading them does not disturb the node's ids.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from chat.domain.events import Event
from chat.ports.bus import BusUnavailableError, Receiver
from chat.redis import codec
from chat.redis.rooms import RedisRooms
from chat.text import fold

DEFAULT_KEEP = 1000
"""Entries kept per inbox (about: MAXLEN ~)."""

SEND = """
local held = redis.call('GET', KEYS[1])
if not held then return false end
local claim = cjson.decode(held)
local node = claim[3]
if not node or redis.call('EXISTS', ARGV[1] .. 'node:' .. node) == 0 then return false end
redis.call('XADD', ARGV[1] .. 'bus:inbox:' .. node, 'MAXLEN', '~', ARGV[3], '0-*', 'e', ARGV[2])
return claim[1]
"""
"""Add the entry ARGV[2] to the inbox of the node holding the claim KEYS[1] (keys begin
with ARGV[1]; MAXLEN ~ ARGV[3]) if its lease is alive; the nickname as held, or nil."""


class RedisCourier:
    """Sends to members of other nodes through their inboxes; reads this node's own."""

    def __init__(self, rooms: RedisRooms, prefix: str = "tcpchat:", keep: int = DEFAULT_KEEP):
        self.rooms = rooms
        self.prefix = prefix
        self.keep = keep

    def send(self, nick: str, event: Event) -> defer.Deferred[str | None]:
        """Put ``event`` in the inbox of the node serving ``nick``; fires with the nickname
        as spelled by its holder, or None when no living node serves it. Raises
        :class:`~chat.ports.bus.BusUnavailableError` while the bus says Redis is down."""
        health = self.rooms.health
        if health is not None and not health.up:
            raise BusUnavailableError("Redis is unreachable")
        sent = self.rooms.client.eval(
            SEND, [f"{self.prefix}nick:{fold(nick)}"],
            [self.prefix, codec.encode((nick, event)), self.keep],
        )
        return sent.addCallback(lambda spelled: spelled or None)

    def receive(self, receiver: Receiver[Event]) -> None:
        """Hand each entry of this node's inbox to ``receiver`` (nickname, event)."""

        def delivered(_room: str, entry: Any) -> None:
            nick, event = entry
            receiver(nick, event)

        self.rooms.subscribe(self.rooms.inbox, delivered)
