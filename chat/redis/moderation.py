"""Bans, mutes and room settings kept in Redis, and every node told of each change.

With ``--redis`` the moderation is the same on every node: three hashes,
``<prefix>moderation:bans`` (field ``[kind, target, scope]`` as JSON, value
the ban), ``<prefix>moderation:mutes`` (field ``[nick, scope]``) and
``<prefix>moderation:rooms`` (field the room key, value its settings), hold
what is in force; the stream ``<prefix>moderation`` carries every change.
A change is one Lua script that writes the hash and XADDs the same field
and value (empty: deleted) with the node that made it, so the hashes are
always what the stream's changes add up to.

:func:`load_shared` reads the hashes and the stream's last id in one
blocking script at start-up (as the SQLite store is read before anything
listens) and builds a :class:`SharedModeration` on them;
:class:`RedisModeration` is its :class:`~chat.moderation.rules.Persistence`,
and, from :meth:`RedisModeration.start`, reads the stream (XREAD BLOCK on a
connection of its own, from the id loaded) and applies every change to the
node's :class:`SharedModeration`: a ban set on one node refuses the next
join on every other, a topic set on one is the topic on the others.

Changes are applied in the stream's order on every node, its own included;
while a node's own change of a record is on its way to Redis, changes of
that record from others that the stream gives first are skipped (its own
comes after them, and wins, as it does in the hash): so every node ends
with what the hashes hold.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.moderation.rules import Ban, Moderation, Mute, RoomSettings, Saved
from chat.moderation.store import _target, _target_columns
from chat.moderation.targets import Target
from chat.redis.address import RedisAddress, RedisError, blocking_command, describe
from chat.redis.connection import RedisClient, connect_lazily

log = Logger()

STREAM_KEEP = 10_000
"""Changes the stream keeps (MAXLEN ~): a node away from Redis for longer than this
many changes misses some until it restarts."""
BLOCK = 2.0
"""Seconds an XREAD of the stream waits for news before it is sent again."""
RETRY = 1.0
"""Seconds before a failed read of the stream is tried again."""
COUNT = 100
"""Changes read per XREAD."""

BANS, MUTES, ROOMS = "bans", "mutes", "rooms"

WRITE = """
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[2])
else
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*',
                  'h', ARGV[1], 'f', ARGV[2], 'v', ARGV[3], 'n', ARGV[4])
"""
"""Set field ARGV[2] of the hash KEYS[1] (named ARGV[1]) to ARGV[3] (''; delete it), and
XADD the change, made by node ARGV[4], to the stream KEYS[2]."""

LOAD = """
local last = redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', 1)
return cjson.encode({
  last = last[1] and last[1][1] or '0-0',
  bans = redis.call('HGETALL', KEYS[1]),
  mutes = redis.call('HGETALL', KEYS[2]),
  rooms = redis.call('HGETALL', KEYS[3]),
})
"""
"""Everything in force and the id of the last change, at one moment, as one JSON text."""


class SharedModeration(Moderation):
    """A :class:`Moderation` that also takes the changes other nodes made (without
    writing them back)."""

    def apply(self, kind: str, field: str, value: str) -> None:
        """Take the change of ``field`` of the hash ``kind`` to ``value`` ("": deleted)."""
        if kind == BANS:
            ban_key = _ban_key(field)
            if value:
                self._bans[ban_key] = _ban(value)
            else:
                self._bans.pop(ban_key, None)
        elif kind == MUTES:
            nick_key, scope = json.loads(field)
            if value:
                self._mutes[nick_key, scope] = _mute(value)
            else:
                self._mutes.pop((nick_key, scope), None)
        elif kind == ROOMS:
            if value:
                self._rooms[field] = _room(value, field)
            else:
                self._rooms.pop(field, None)


class RedisModeration:
    """Where a node's moderation is kept (the hashes and stream above), and the reader of
    the other nodes' changes. A :class:`~chat.moderation.rules.Persistence`."""

    def __init__(
        self, address: RedisAddress, clock: IReactorTime, last_id: str = "0-0",
        prefix: str = "tcpchat:", *, stream_keep: int = STREAM_KEEP,
        block: float = BLOCK, retry: float = RETRY,
    ) -> None:
        self.address = address
        self.clock = clock
        self.prefix = prefix
        self.node = uuid.uuid4().hex
        self.last_id = last_id
        """The id of the last change applied."""
        self.moderation: SharedModeration | None = None
        """What the changes read are applied to."""
        self.enforce: Callable[[Ban], None] | None = None
        """Called with each ban another node set, once applied, to put out whom it bans here."""
        self.stream_keep = stream_keep
        self.block = block
        self.retry = retry
        self._stream = f"{prefix}moderation"
        self._client: RedisClient | None = None
        self._reader: RedisClient | None = None
        self._pending: Counter[tuple[str, str]] = Counter()
        """This node's changes of each record sent and not yet read back from the stream."""
        self._writes: set[defer.Deferred[Any]] = set()
        self._running = False
        self._retrying: Any = None

    def start(self) -> defer.Deferred[None]:
        """Connect, and read the stream from :attr:`last_id` until :meth:`stop`."""
        self._client = connect_lazily(self.address)
        self._reader = connect_lazily(self.address)
        self._running = True
        self._read()
        return defer.succeed(None)

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Wait for the changes sent (at most ``address.timeout`` seconds: Redis may be
        away), stop reading and close the connections."""
        self._running = False
        if self._retrying is not None and self._retrying.active():
            self._retrying.cancel()
        unwritten = len(self._writes)
        written = defer.DeferredList(list(self._writes), consumeErrors=True)
        written.addTimeout(self.address.timeout, self.clock)
        try:
            yield written
        except defer.TimeoutError:
            log.error("moderation: {count} changes not written to Redis within {timeout}s;"
                      " lost", count=unwritten, timeout=self.address.timeout)
        for client in (self._client, self._reader):
            if client is not None:
                yield client.disconnect()

    # Persistence

    def save_ban(self, ban: Ban) -> None:
        """Keep ``ban``, in place of any with the same target and scope."""
        self._write(BANS, _ban_field(ban.target, ban.scope), json.dumps(
            [*_target_columns(ban.target), ban.scope, ban.by, ban.reason, ban.since, ban.until]
        ))

    def delete_ban(self, target: Target, scope: str | None) -> None:
        """Forget the ban of ``target`` in ``scope``."""
        self._write(BANS, _ban_field(target, scope), "")

    def save_mute(self, mute: Mute) -> None:
        """Keep ``mute``, in place of any of the same nickname and scope."""
        self._write(MUTES, json.dumps([mute.nick_key, mute.scope]), json.dumps(
            [mute.nick_key, mute.scope, mute.by, mute.since, mute.until]
        ))

    def delete_mute(self, nick_key: str, scope: str | None) -> None:
        """Forget the mute of ``nick_key`` in ``scope``."""
        self._write(MUTES, json.dumps([nick_key, scope]), "")

    def save_room(self, room: RoomSettings) -> None:
        """Keep the settings of ``room``, in place of those before."""
        self._write(ROOMS, room.key, json.dumps({
            "owner": room.owner, "topic": room.topic, "topic_by": room.topic_by,
            "topic_at": room.topic_at, "topic_ops_only": room.topic_ops_only,
            "operators": sorted(room.operators), "member_limit": room.member_limit,
            "join_key": room.join_key, "invite_only": room.invite_only,
            "voiced": sorted(room.voiced), "moderated": room.moderated, "secret": room.secret,
            "outside_messages": room.outside_messages,
        }))

    def delete_room(self, key: str) -> None:
        """Forget the settings of the room keyed ``key``."""
        self._write(ROOMS, key, "")

    def _write(self, kind: str, field: str, value: str) -> None:
        if self._client is None or not self._running:
            log.error("moderation: a change of {kind} while not connected to Redis; lost",
                      kind=kind)
            return
        record = (kind, field)
        self._pending[record] += 1
        written = self._client.eval(
            WRITE, [self.prefix + "moderation:" + kind, self._stream],
            [kind, field, value, self.node, self.stream_keep],
        )
        self._writes.add(written)
        written.addErrback(self._write_failed, record)
        written.addBoth(self._written, written)

    def _write_failed(self, failure: Failure, record: tuple[str, str]) -> None:
        self._pending[record] -= 1
        log.failure("moderation: Redis failed a change of {kind}; other nodes do not see it",
                    failure, kind=record[0])

    def _written(self, result: object, written: defer.Deferred[Any]) -> None:
        self._writes.discard(written)

    # Reading the stream

    def _read(self) -> None:
        if not self._running or self._reader is None:
            return
        read = self._reader.execute_command(
            "XREAD", "COUNT", COUNT, "BLOCK", int(self.block * 1000),
            "STREAMS", self._stream, self.last_id,
        )
        read.addCallbacks(self._heard, self._read_failed)

    def _heard(self, streams: list[Any] | None) -> None:
        try:
            for _key, entries in streams or ():
                for entry_id, fields in entries:
                    self.last_id = entry_id
                    try:
                        self._take(dict(zip(fields[::2], fields[1::2], strict=True)))
                    except Exception:
                        # One change this node cannot take must not stop it reading the rest.
                        log.failure("moderation: change {id} could not be applied", id=entry_id)
        finally:
            self._read()

    def _take(self, change: dict[str, str]) -> None:
        record = (change["h"], change["f"])
        if change["n"] == self.node:
            self._pending[record] -= 1
        if self._pending[record] > 0:
            return
        del self._pending[record]
        if self.moderation is None:
            return
        try:
            self.moderation.apply(change["h"], change["f"], change["v"])
        except (ValueError, KeyError, TypeError):
            log.failure("moderation: a change in Redis tcpchat cannot read ({kind} {field})",
                        kind=change["h"], field=change["f"])
            return
        if change["h"] == BANS and change["v"] and change["n"] != self.node and self.enforce:
            self.enforce(_ban(change["v"]))

    def _read_failed(self, failure: Failure) -> None:
        if self._running:
            log.failure("moderation: Redis failed a read of the changes; again in {retry}s",
                        failure, retry=self.retry)
            self._retrying = self.clock.callLater(self.retry, self._read)


def load_shared(
    address: RedisAddress, clock: IReactorTime, prefix: str = "tcpchat:"
) -> tuple[SharedModeration, RedisModeration]:
    """The moderation in force in Redis (less what has expired), and its store, which
    reads the changes made from then on once started; blocks (start-up). Fails with
    :class:`~chat.redis.address.RedisError` when Redis cannot be read, or holds what
    tcpchat cannot read."""
    keys = [f"{prefix}moderation:{kind}" for kind in (BANS, MUTES, ROOMS)]
    answer = blocking_command(address, "EVAL", LOAD, 4, *keys, f"{prefix}moderation")
    try:
        held = json.loads(str(answer))
        saved = Saved(
            tuple(_ban(value) for _field, value in _pairs(held["bans"])),
            tuple(_mute(value) for _field, value in _pairs(held["mutes"])),
            tuple(_room(value, field) for field, value in _pairs(held["rooms"])),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise RedisError(
            f"Redis at {describe(address)} holds moderation tcpchat cannot read: {error!r}"
        ) from None
    store = RedisModeration(address, clock, str(held["last"]), prefix)
    moderation = SharedModeration.restored(saved, clock, store)
    assert isinstance(moderation, SharedModeration)
    store.moderation = moderation
    return moderation, store


def _pairs(flat: list[str] | dict[str, Any]) -> list[tuple[str, str]]:
    """HGETALL's flat list as pairs (cjson writes an empty one as ``{}``)."""
    if isinstance(flat, dict):
        return []
    return list(zip(flat[::2], flat[1::2], strict=True))


def _ban_field(target: Target, scope: str | None) -> str:
    return json.dumps([*_target_columns(target), scope])


def _ban_key(field: str) -> tuple[Target, str | None]:
    kind, value, scope = json.loads(field)
    return _target(kind, value), scope


def _ban(value: str) -> Ban:
    kind, target, scope, by, reason, since, until = json.loads(value)
    return Ban(_target(kind, target), scope, by, reason, since, until)


def _mute(value: str) -> Mute:
    nick, scope, by, since, until = json.loads(value)
    return Mute(nick, scope, by, since, until)


def _room(value: str, key: str) -> RoomSettings:
    fields = json.loads(value)
    return RoomSettings(
        key, fields["owner"], fields["topic"],
        fields["topic_by"], fields["topic_at"], fields["topic_ops_only"],
        frozenset(fields["operators"]), fields["member_limit"], fields["join_key"],
        fields["invite_only"], frozenset(fields["voiced"]), fields["moderated"],
        fields.get("secret", False), fields.get("outside_messages", False),
    )
