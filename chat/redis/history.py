"""Room history as Redis Streams: the :class:`~chat.ports.HistoryStore` shared by processes.

Each room's history is one stream, ``<prefix>history:<room key>``, whose
entry ids are the message ids themselves (``<id>-0``), so that the stream
is in id order and catching up after an id is an XRANGE from it, and
recent history an XREVRANGE. :meth:`RedisHistory.record` adds the entry
and returns at once (what is written is answered later; a refusal is
logged). A room keeps at most ``keep`` entries ready to read: once its
stream holds ``keep + slack`` entries, the oldest are trimmed down to
``keep`` in one go (trimming by whole blocks, as MAXLEN ~ does, but
knowing exactly which ids went), and ``<prefix>forgotten:<room key>``
keeps the newest id trimmed, which is how a catch-up knows whether
entries it asked for are gone. Recording and reading are each one Lua
script, so readers on other processes never see a half-trimmed room.

With ``retain`` (``--retain-messages``) the scripts that add and delete
entries also count them: ``<prefix>kept:count`` is how many messages all
rooms hold, and the sorted set ``<prefix>kept:rooms`` scores each room's
history stream by the id of its oldest message (:meth:`RedisHistory.recount`
counts them all afresh, as a node starts), so :data:`RETAIN` deletes
the oldest over all rooms together by taking, from the room scored lowest,
what is older than the next room's oldest (a merge of the rooms, oldest
first). That costs two commands per call that adds messages (not per
message) and one member per room; a sorted set of every message would cost
each message a ZADD (measured: 2.5 µs of Redis per message in calls of 50)
and about 100 bytes. Without ``retain`` neither key is written.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.domain.events import Action, Message, Said
from chat.ports.history import CatchUp
from chat.redis import codec
from chat.redis.connection import RedisClient

log = Logger()

DEFAULT_KEEP = 1000
"""Entries of one room ready to read: ``--history-keep``'s default."""

COUNTING = """
local function oldest_id(stream)
  local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  return oldest and string.match(oldest[1], '^(%d+)')
end
local function counted_in(rooms, count, stream, added)
  if redis.call('ZSCORE', rooms, stream) then
    redis.call('INCRBY', count, added)
  else
    redis.call('ZADD', rooms, oldest_id(stream), stream)
    redis.call('INCRBY', count, redis.call('XLEN', stream))
  end
end
local function rescored(rooms, stream)
  local oldest = oldest_id(stream)
  if oldest then
    redis.call('ZADD', rooms, 'XX', oldest, stream)
  else
    redis.call('ZREM', rooms, stream)
  end
end
local function counted_out(rooms, count, stream, gone)
  if not redis.call('ZSCORE', rooms, stream) then return end
  if gone > 0 then redis.call('DECRBY', count, gone) end
  rescored(rooms, stream)
end
"""
"""Lua: ``counted_in`` counts ``added`` messages just added to a room's history ``stream``
in the count of kept messages (``count``) and, for a stream not counted yet, scores it in
``rooms`` by its oldest entry and counts every entry it holds; ``counted_out``, called
once ``gone`` of its oldest entries were deleted, uncounts them and scores the stream by
its oldest entry left, or removes it."""

RECORD = COUNTING + """
redis.call('XADD', KEYS[1], ARGV[1] .. '-0', 's', ARGV[2])
local counting = #KEYS == 4
if counting then counted_in(KEYS[3], KEYS[4], KEYS[1], 1) end
local keep, slack = tonumber(ARGV[3]), tonumber(ARGV[4])
local length = redis.call('XLEN', KEYS[1])
if length >= keep + slack then
  local gone = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', length - keep)
  redis.call('SET', KEYS[2], gone[#gone][1])
  redis.call('XTRIM', KEYS[1], 'MAXLEN', keep)
  if counting then counted_out(KEYS[3], KEYS[4], KEYS[1], #gone) end
end
return length
"""
"""Add entry ARGV[1] (and, if given KEYS[3] and KEYS[4], count it there, as
:data:`COUNTING` does) and, when the room is ``slack`` entries over
``keep``, trim it to ``keep``."""

SINCE = """
local entries = redis.call('XREVRANGE', KEYS[1], ARGV[3], ARGV[1], 'COUNT', ARGV[2])
local forgotten = redis.call('GET', KEYS[2]) or '0-0'
return {entries, forgotten}
"""
"""The newest ARGV[2] entries from id ARGV[1] up to ARGV[3], newest first, and the newest id
trimmed."""


FORGET_OLDER = COUNTING + """
local gone, cursor, cutoff = 0, '0', tonumber(ARGV[3])
repeat
  local found = redis.call('SCAN', cursor, 'MATCH', ARGV[1] .. '*', 'COUNT', 100)
  cursor = found[1]
  for _, key in ipairs(found[2]) do
    local last = nil
    repeat
      local old, more = {}, false
      local entries = redis.call('XRANGE', key, '-', '+', 'COUNT', 100)
      for _, entry in ipairs(entries) do
        local fields, said = entry[2], nil
        for index = 1, #fields, 2 do
          if fields[index] == 's' then said = cjson.decode(fields[index + 1]) end
        end
        if said == nil or said.time >= cutoff then break end
        old[#old + 1] = entry[1]
      end
      if #old > 0 then
        redis.call('XDEL', key, unpack(old))
        if ARGV[4] ~= '' then
          counted_out(ARGV[4], ARGV[5], key, #old)
        end
        gone, last = gone + #old, old[#old]
        more = #old == #entries
      end
    until not more
    if last then
      local room = string.sub(key, #ARGV[1] + 1)
      local before = redis.call('GET', ARGV[2] .. room)
      local number = tonumber(string.match(last, '^(%d+)'))
      if not before or tonumber(string.match(before, '^(%d+)')) < number then
        redis.call('SET', ARGV[2] .. room, last)
      end
    end
  end
until cursor == '0'
return gone
"""
"""Delete from every room's history stream (keys beginning with ARGV[1]) the messages said
before ARGV[3] (seconds since the epoch), oldest first, noting the newest deleted id in
ARGV[2] .. room (as trimming does) and, unless ARGV[4] is empty, uncounting them from the
rooms by oldest message ARGV[4] and the count ARGV[5]; answers how many went."""

RETAIN = COUNTING + """
local budget, gone = tonumber(ARGV[4]), 0
local excess = tonumber(redis.call('GET', KEYS[2]) or '0') - tonumber(ARGV[1])
while budget > 0 and excess > 0 do
  local lowest = redis.call('ZRANGE', KEYS[1], 0, 1, 'WITHSCORES')
  if #lowest == 0 then
    redis.call('SET', KEYS[2], 0)
    excess = 0
    break
  end
  local stream = lowest[1]
  local before = lowest[4] and '(' .. lowest[4] .. '-0' or '+'
  local old = redis.call('XRANGE', stream, '-', before, 'COUNT', math.min(excess, budget))
  if #old > 0 then
    local last = string.match(old[#old][1], '^(%d+)')
    redis.call('XTRIM', stream, 'MINID', last .. '-1')
    redis.call('SET', ARGV[3] .. string.sub(stream, #ARGV[2] + 1), last .. '-0')
    redis.call('DECRBY', KEYS[2], #old)
    gone, excess = gone + #old, excess - #old
  end
  rescored(KEYS[1], stream)
  budget = budget - math.max(#old, 1)
end
return {gone, excess > 0 and 1 or 0}
"""
"""Delete the oldest messages over all rooms until the count of kept messages (KEYS[2]) is
at most ARGV[1], at most ARGV[4] of them: from the room whose oldest message is the oldest
(KEYS[1], which holds their history streams, ARGV[2] .. room), what is older than the
next room's oldest, and so on; each stream loses them from its head, the newest id
deleted is noted in ARGV[3] .. room (as trimming does: what the stream keeps is newer
than anything deleted before). Answers how many entries went and whether more are over
the limit."""

RECOUNT = """
local rooms, total, cursor = {}, 0, '0'
repeat
  local found = redis.call('SCAN', cursor, 'MATCH', ARGV[1] .. '*', 'COUNT', 1000)
  cursor = found[1]
  for _, stream in ipairs(found[2]) do
    local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
    if oldest then
      rooms[#rooms + 1] = string.match(oldest[1], '^(%d+)')
      rooms[#rooms + 1] = stream
      total = total + redis.call('XLEN', stream)
    end
  end
until cursor == '0'
redis.call('DEL', KEYS[1])
for first = 1, #rooms, 1000 do
  redis.call('ZADD', KEYS[1], unpack(rooms, first, math.min(first + 999, #rooms)))
end
redis.call('SET', KEYS[2], total)
return total
"""
"""Count every room's history stream (keys beginning with ARGV[1]) afresh: each scored by
its oldest entry in KEYS[1], all their entries in KEYS[2]; answers the count."""

RETAIN_CHUNK = 500
"""The most messages one :data:`RETAIN` call deletes: a call blocks Redis while it runs."""


class RedisHistory:
    """The history of every room, one stream each, shared by every process on the same prefix."""

    def __init__(
        self, client: RedisClient, keep: int = DEFAULT_KEEP, prefix: str = "tcpchat:",
        slack: int | None = None, retain: int = 0,
    ) -> None:
        if keep < 1:
            raise ValueError(f"a history must keep at least one entry, not {keep}")
        if retain < 0:
            raise ValueError(f"messages retained cannot be fewer than none, not {retain}")
        self.client = client
        self.keep = keep
        self.slack = max(1, keep // 10) if slack is None else slack
        """Entries a room may hold above ``keep`` before it is trimmed."""
        self.retain = retain
        """Messages kept over all rooms together (``--retain-messages``; 0: no limit)."""
        self.counted = [f"{prefix}kept:rooms", f"{prefix}kept:count"]
        """The rooms by oldest message and the count of messages kept, written only with
        ``retain``."""
        self._stream = f"{prefix}history:"
        self._forgotten = f"{prefix}forgotten:"
        self._pending: set[defer.Deferred[Any]] = set()

    @property
    def counting(self) -> list[str]:
        """The keys the scripts that add messages are given to count them: :attr:`counted`,
        or none without ``retain``."""
        return self.counted if self.retain else []

    def forget_older_than(self, cutoff: float) -> defer.Deferred[int]:
        """Delete every room's messages said before ``cutoff`` (``--retain-days``); fires
        with how many went. A catch-up from before them is told some are missing."""
        forgotten = self.client.eval(
            FORGET_OLDER, [],
            [self._stream, self._forgotten, cutoff, *(self.counted if self.retain else ["", ""])],
        )
        return forgotten.addCallback(int)

    @defer.inlineCallbacks
    def forget_beyond_retain(self, chunk: int = RETAIN_CHUNK) -> Any:
        """Delete the oldest messages over all rooms together beyond the newest ``retain``
        (``--retain-messages``), ``chunk`` at a time; fires with how many went. A catch-up
        from before them is told some are missing."""
        gone = 0
        while self.retain:
            deleted, left = yield self.client.eval(
                RETAIN, self.counted, [self.retain, self._stream, self._forgotten, chunk]
            )
            gone += int(deleted)
            if not int(left) or not int(deleted):
                break
        return gone

    def recount(self) -> defer.Deferred[int]:
        """Count every message of every room afresh (:data:`RECOUNT`): those said while no
        node counted, or deleted behind the scripts' backs, are then counted as they are;
        fires with the count."""
        counted = self.client.eval(RECOUNT, self.counted, [self._stream])
        return counted.addCallback(int)

    def record(self, room: str, said: Said) -> None:
        """Add ``said`` to the room's stream, later; its id must be above the room's last."""
        written = self.client.eval(
            RECORD, [*self.keys(room), *self.counting],
            [said.id, codec.encode(said), self.keep, self.slack],
        )
        self._pending.add(written)
        written.addErrback(self._not_written, room, said.id)
        written.addBoth(self._answered, written)

    def recent_now(self, room: str, count: int) -> list[Said] | None:
        """None: Redis must be asked (:meth:`read_recent`)."""
        return None

    def read_recent(
        self, room: str, count: int, upto: int | None = None
    ) -> defer.Deferred[list[Said]]:
        """The last ``count`` entries of ``room`` (at most ``keep``), oldest first; with
        ``upto``, the last of those numbered up to it."""
        count = min(count, self.keep)
        if count <= 0:
            return defer.succeed([])
        read = self.client.execute_command(
            "XREVRANGE", self._stream + room, _end(upto), "-", "COUNT", count
        )
        return read.addCallback(lambda entries: [_said(entry) for entry in reversed(entries)])

    def read_since(
        self, room: str, after: int, upto: int | None = None
    ) -> defer.Deferred[CatchUp]:
        """The kept entries of ``room`` above ``after`` (the newest ``keep``; with ``upto``,
        of those numbered up to it), oldest first, and whether some entries of the room
        above ``after`` are not among them."""
        read = self.client.eval(
            SINCE, self.keys(room), [f"{after + 1}-0", self.keep + 1, _end(upto)]
        )

        def caught_up(answer: list[Any]) -> CatchUp:
            newest_first, forgotten = answer
            missed = len(newest_first) > self.keep or _id(forgotten) > after
            entries = [_said(entry) for entry in reversed(newest_first[: self.keep])]
            return CatchUp(entries, missed)

        return read.addCallback(caught_up)

    def close(self) -> defer.Deferred[None]:
        """Fires once every entry recorded so far has been answered by Redis."""
        waiting = defer.DeferredList(list(self._pending))
        return waiting.addCallback(lambda _: None)

    def keys(self, room: str) -> list[str]:
        """The room's stream and the key of its newest id trimmed."""
        return [self._stream + room, self._forgotten + room]

    def _not_written(self, failure: Failure, room: str, said_id: int) -> None:
        log.failure("history: Redis did not keep entry {id} of {room}", failure,
                    id=said_id, room=room)

    def _answered(self, result: object, written: defer.Deferred[Any]) -> object:
        self._pending.discard(written)
        return result


def _id(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


def _end(upto: int | None) -> str:
    return "+" if upto is None else str(upto)


def _said(entry: list[Any]) -> Said:
    """The message or action of a stream entry, numbered by the entry's id: the id
    Redis gave it (:mod:`chat.redis.rooms`) is the one it has."""
    entry_id, fields = entry
    said = codec.decode(dict(zip(fields[::2], fields[1::2], strict=True))["s"])
    if not isinstance(said, Message | Action):
        raise codec.CodecError(f"history entry is not a message or action: {said!r}")
    return replace(said, id=_id(entry_id))
