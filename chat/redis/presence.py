"""Who is in each room on which node, and leases: a dead node's members leave within a bound.

Rosters. Each room's members are kept in a hash, ``<prefix>roster:<room key>``,
folded nickname -> ``[nick, node, away or null]``. :func:`roster_changes` says
what a Joined, Left, Renamed, AwayChanged, CrowdJoined or CrowdLeft a node
publishes changes there, and :mod:`chat.redis.rooms` applies it in the same
Lua call that adds the event to the room's bus stream, so a roster read
together with the stream's newest id (as a node does when it starts to read
a room, giving its subscribers a :class:`~chat.domain.events.Present`) plus
the entries after that id is exactly who is in the room. Each node also
keeps which rooms it has roster entries in (``<prefix>node:<node>:rooms``,
room key -> name) and which nicknames it claims
(``<prefix>node:<node>:claims``, by :class:`~chat.redis.directory.RedisDirectory`).

Leases. A :class:`Lease` keeps its node's heartbeat, ``<prefix>node:<node>``,
alive for ``seconds`` (SET PX), renewed every third of that, and registers
the node in ``<prefix>nodes``. Every third of ``seconds`` each node runs
:data:`REAP`: for every registered node whose heartbeat has expired it frees
the node's nickname claims, removes its roster entries and, for each,
adds ``Left(nick, room, ConnectionLost())`` to the room's bus stream, then
forgets the node. It is one Lua script, so only one node finds a dead node
and announces it. A node dead at time t has its members' leaves on the bus
by t + ``seconds`` + ``seconds`` / 3 at the latest (8 s with the default 6).
A node stopping cleanly (SIGTERM) reaps itself (:meth:`Lease.stop`), which
frees whatever it still holds and tells its rooms its members left, at once.
A node that could not renew its lease in time (Redis unreachable longer than
the lease) may have been reaped while its members stayed connected; it says
so in its log when it renews again.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chat.domain.events import (
    AwayChanged,
    ConnectionLost,
    CrowdJoined,
    CrowdLeft,
    Event,
    Joined,
    Left,
    Renamed,
)
from chat.redis import codec
from chat.redis.connection import RedisClient
from chat.text import fold

log = Logger()

DEFAULT_LEASE = 6.0
"""Seconds a node's heartbeat lives unrenewed: its members leave within 4/3 of it."""

LOST = ConnectionLost()
"""Why the members of a dead node leave their rooms, as the others are told."""

ROSTER = """
local function change_roster(roster, rooms, at)
  local node, name, room = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  for i = at + 3, #ARGV - 2, 3 do
    local op, key, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    if op == 'put' then
      redis.call('HSET', roster, key, value)
    else
      local held = redis.call('HGET', roster, key)
      if held and cjson.decode(held)[2] == node then redis.call('HDEL', roster, key) end
    end
  end
  if name ~= '' then redis.call('HSET', rooms, room, name) end
end
"""
"""A Lua function applying roster changes to the hash ``roster``: from ARGV[at], the node,
the room's name ('' if the event names none) and key, then (op, folded nick, entry)
triples (:func:`roster_changes`); a delete only removes the node's own entry. With a
name, the node notes in the hash ``rooms`` that it has entries in the room."""

REAP = """
local prefix, node_of_self = ARGV[1], ARGV[4]
local gone = {}
for _, node in ipairs(redis.call('SMEMBERS', prefix .. 'nodes')) do
  if node == node_of_self or redis.call('EXISTS', prefix .. 'node:' .. node) == 0 then
    gone[#gone + 1] = node
  end
end
for _, node in ipairs(gone) do
  local base = prefix .. 'node:' .. node
  for _, key in ipairs(redis.call('SMEMBERS', base .. ':claims')) do
    local held = redis.call('GET', prefix .. 'nick:' .. key)
    if held and cjson.decode(held)[3] == node then
      redis.call('DEL', prefix .. 'nick:' .. key)
      redis.call('ZREM', prefix .. 'online', key)
    end
  end
  local rooms = redis.call('HGETALL', base .. ':rooms')
  for i = 1, #rooms, 2 do
    local roster, stream = prefix .. 'roster:' .. rooms[i], prefix .. 'bus:' .. rooms[i]
    local entries = redis.call('HGETALL', roster)
    for j = 1, #entries, 2 do
      local entry = cjson.decode(entries[j + 1])
      if entry[2] == node then
        redis.call('HDEL', roster, entries[j])
        local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
        local last = newest and string.match(newest[1], '^(%d+)') or '0'
        local left = '[null,{"@":"Left","nick":' .. cjson.encode(entry[1]) .. ',"room":'
          .. cjson.encode(rooms[i + 1]) .. ',"reason":' .. ARGV[2] .. '}]'
        redis.call('XADD', stream, 'MAXLEN', '~', ARGV[3], last .. '-*',
                   'p', newest and newest[1] or '0-0', 'e', left)
      end
    end
  end
  redis.call('DEL', base, base .. ':claims', base .. ':rooms', prefix .. 'bus:inbox:' .. node)
  redis.call('SREM', prefix .. 'nodes', node)
end
return gone
"""
"""Forget every node of ``<prefix>nodes`` (ARGV[1]) whose heartbeat has expired, and node
ARGV[4] (a node stopping; '' for none): free its claims, and remove its roster entries,
adding Left for each (reason ARGV[2], encoded) to the room's bus stream (MAXLEN ~ ARGV[3]).
Returns the nodes forgotten."""


PUT_BACK = """
local keep, node, name = ARGV[1], ARGV[2], ARGV[3]
local epoch = redis.call('GET', KEYS[4])
local lost = epoch ~= ARGV[4]
if not epoch then redis.call('SET', KEYS[4], ARGV[5]) end
local floor_ms, floor_seq = string.match(ARGV[8], '^(%d+)-(%d+)$')
floor_ms, floor_seq = tonumber(floor_ms), tonumber(floor_seq)
local at = 10
local desired, order = {}, {}
for _ = 1, tonumber(ARGV[9]) do
  desired[ARGV[at]] = {ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]}
  order[#order + 1] = ARGV[at]
  at = at + 4
end
local before, count_before = {}, tonumber(ARGV[at])
at = at + 1
if lost then
  for i = at, at + 2 * count_before - 1, 2 do before[ARGV[i]] = ARGV[i + 1] end
else
  local entries = redis.call('HGETALL', KEYS[2])
  for j = 1, #entries, 2 do
    if cjson.decode(entries[j + 1])[2] == node then before[entries[j]] = entries[j + 1] end
  end
end
local departed = {}
for i = at + 2 * count_before, #ARGV - 1, 2 do departed[ARGV[i]] = ARGV[i + 1] end
local told, conflicts = false, {}
local function tell(event)
  local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
  local id = newest and newest[1] or '0-0'
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  ms, seq = tonumber(ms), tonumber(seq)
  local next_id = ms .. '-*'
  if lost and (ms < floor_ms or (ms == floor_ms and seq <= floor_seq)) then
    next_id = floor_ms .. '-' .. (floor_seq + 1)
  end
  told = redis.call('XADD', KEYS[1], 'MAXLEN', '~', keep, next_id, 'p', id, 'e', event)
end
local gone = {}
for key in pairs(before) do
  if not desired[key] then gone[#gone + 1] = key end
end
table.sort(gone)
for _, key in ipairs(gone) do
  local held = redis.call('HGET', KEYS[2], key)
  if held and cjson.decode(held)[2] == node then redis.call('HDEL', KEYS[2], key) end
  tell(departed[key] or ('[null,{"@":"Left","nick":' .. cjson.encode(cjson.decode(before[key])[1])
       .. ',"room":' .. cjson.encode(name) .. ',"reason":' .. ARGV[6] .. '}]'))
end
for _, key in ipairs(order) do
  local want, held = desired[key], redis.call('HGET', KEYS[2], key)
  if held and cjson.decode(held)[2] ~= node then
    conflicts[#conflicts + 1] = key
  else
    if held ~= want[1] then redis.call('HSET', KEYS[2], key, want[1]) end
    local was = before[key]
    if not was then
      tell(want[2])
    elseif was ~= want[1] then
      local old, new = cjson.decode(was), cjson.decode(want[1])
      if old[1] ~= new[1] then
        tell('[null,{"@":"Renamed","old":' .. cjson.encode(old[1]) .. ',"new":'
             .. cjson.encode(new[1]) .. '}]')
      end
      if old[3] ~= new[3] then tell(want[3]) end
    end
  end
end
if #order > 0 then redis.call('HSET', KEYS[3], ARGV[7], name)
else redis.call('HDEL', KEYS[3], ARGV[7]) end
return {told, conflicts, redis.call('GET', KEYS[4])}
"""
"""Put back this node's (ARGV[2]) entries of a room's roster (KEYS[2]; the room's name
ARGV[3], key ARGV[7]; the node's rooms KEYS[3]) after an outage, telling the room's bus
stream (KEYS[1], MAXLEN ~ ARGV[1]) what changed as the events they are. What the others
were told is the roster's entries of the node, unless the chat's epoch (KEYS[4]) is no
longer the one the node knows (ARGV[4]: Redis lost its data; set to ARGV[5] if missing),
then it is what the node held when the outage began, and what is told goes after
entry ARGV[8] (where the node's reading of the stream stands: a node resuming its
reading of a stream that lost entries reads on from the stream's newest entry if that
is below where it was, so what is told below would be skipped). ARGV[9] entries the node holds
follow, each its folded nick, roster entry, encoded Joined and encoded AwayChanged; then
how many it held before and those (folded nick, entry); then the Left events of members
gone since (folded nick, encoded Left). An entry gone without its Left is told as left
for reason ARGV[6] (encoded). An entry another node holds is left alone (a conflict).
Returns the last stream entry added (false for none), the conflicts' folded nicks and
the epoch."""

def roster_changes(event: Event, node: str, away: dict[str, str]) -> list[str]:
    """What ``event``, published by ``node``, changes in its room's roster: flattened
    (op, folded nick, entry) triples for :data:`ROSTER`. ``away`` (folded nick -> away
    message of this node's members) is kept up to date here."""
    match event:
        case Joined(nick):
            return _put(nick, node, away)
        case CrowdJoined(_, nicks):
            return [word for nick in nicks for word in _put(nick, node, away)]
        case Left(nick):
            return _delete(nick)
        case CrowdLeft(_, departures):
            return [word for departure in departures for word in _delete(departure.nick)]
        case Renamed(old, new):
            message = away.pop(fold(old), None) or away.get(fold(new))
            if message is not None:
                away[fold(new)] = message
            return _delete(old) + _put(new, node, away)
        case AwayChanged(nick, message):
            if message is None:
                away.pop(fold(nick), None)
            else:
                away[fold(nick)] = message
            return _put(nick, node, away)
    return []


def room_named(event: Event) -> str:
    """The room name an event that puts members in a roster carries ('' for none)."""
    return event.room if isinstance(event, Joined | CrowdJoined) else ""


def _put(nick: str, node: str, away: dict[str, str]) -> list[str]:
    entry = json.dumps([nick, node, away.get(fold(nick))], ensure_ascii=False)
    return ["put", fold(nick), entry]


def _delete(nick: str) -> list[str]:
    return ["del", fold(nick), ""]


class Lease:
    """A node's heartbeat, renewed while it runs, and the reaping of nodes whose heartbeat
    has expired."""

    def __init__(
        self,
        client: RedisClient,
        node: str,
        clock: IReactorTime,
        prefix: str = "tcpchat:",
        seconds: float = DEFAULT_LEASE,
        stream_keep: int = 10_000,
    ) -> None:
        if not seconds > 0:
            raise ValueError(f"a lease lasts more than 0 seconds, not {seconds}")
        self.client = client
        self.node = node
        self.clock = clock
        self.prefix = prefix
        self.seconds = seconds
        self.stream_keep = stream_keep
        self._heartbeat = f"{prefix}node:{node}"
        self._renewing = task.LoopingCall(self.renew)
        self._reaping = task.LoopingCall(self.reap)
        self._taken = False
        self._renewing.clock = self._reaping.clock = clock

    @property
    def bound(self) -> float:
        """Seconds after a node dies by which its members' leaves are on the bus."""
        return self.seconds * 4 / 3

    def start(self) -> defer.Deferred[Any]:
        """Take the lease (fires once Redis has it), then keep renewing it and reaping."""
        taken = self.renew()
        self._renewing.start(self.seconds / 3, now=False)
        self._reaping.start(self.seconds / 3, now=False)
        return taken

    def renew(self) -> defer.Deferred[Any]:
        """Make the heartbeat live ``seconds`` more from now; say so in the log when it
        had lapsed (the other nodes may have told this node's members gone)."""
        renewed = self.client.execute_command(
            "SET", self._heartbeat, 1, "PX", int(self.seconds * 1000), "GET"
        )
        renewed.addCallback(self._renewed)
        return renewed.addErrback(
            lambda failure: log.failure("presence: renewing the lease", failure)
        )

    def _renewed(self, before: str | None) -> defer.Deferred[Any]:
        if before is None and self._taken:
            log.error(
                "presence: this node's lease had lapsed (more than {seconds}s without "
                "renewing it): other nodes may have freed its members' nicknames and told "
                "their rooms they left", seconds=self.seconds,
            )
        self._taken = True
        return self.client.execute_command("SADD", f"{self.prefix}nodes", self.node)

    def reap(self, itself: bool = False, timeout: float | None = None) -> defer.Deferred[list[str]]:
        """Forget the nodes whose lease has expired (and this one if ``itself``),
        announcing their members' leaves; fires with the nodes forgotten (none if Redis
        failed, or did not answer within ``timeout`` seconds)."""
        reaped = self.client.eval(REAP, [], [
            self.prefix, codec.encode(LOST), self.stream_keep, self.node if itself else "",
        ])
        if timeout is not None:
            reaped.addTimeout(timeout, self.clock)

        def reaped_these(gone: list[str] | None) -> list[str]:
            for node in gone or ():
                if node != self.node:
                    log.info("presence: node {node} stopped renewing its lease; its members "
                             "have left", node=node)
            return list(gone or ())

        def failed(failure: Any) -> list[str]:
            if failure.check(defer.TimeoutError):
                log.warn("presence: Redis did not answer within {timeout}s: this node's "
                         "members are freed by another node once its lease runs out",
                         timeout=timeout)
            else:
                log.failure("presence: reaping expired leases", failure)
            return []

        return reaped.addCallbacks(reaped_these, failed)

    def stop(self) -> defer.Deferred[list[str]]:
        """Stop renewing and reaping, and forget this node at once; if Redis does not
        answer within a third of the lease (it is away), stop without: the lease runs out."""
        for loop in (self._renewing, self._reaping):
            if loop.running:
                loop.stop()
        return self.reap(itself=True, timeout=self.seconds / 3)


EPOCH = "epoch"
"""The key (after the prefix) naming the chat's data in Redis: a token set once, and
again by the first node to find it missing (Redis lost its data)."""


_ROSTER_NEWS = frozenset({Joined, CrowdJoined, Left, CrowdLeft, Renamed, AwayChanged})
"""The events that change a roster (every other one, a message say, is passed by at once)."""


@dataclass
class _Held:
    """What this node holds of one room's roster."""

    name: str
    entries: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """Folded nick -> (roster entry, origin of the event that put it)."""
    before: dict[str, str] | None = None
    """The entries when the outage began (what the others were last told), during one."""
    departed: dict[str, str] = field(default_factory=dict)
    """Folded nick -> encoded Left of each member gone during the outage."""


@dataclass(frozen=True)
class PutBack:
    """One room's :data:`PUT_BACK` call, its arguments taken when it was queued."""

    room: str
    keys: list[str]
    args: list[str | int | float]


class Holdings:
    """What this node's members are in each room's roster, as every event its members'
    rooms published (or tried to: while Redis is down the event is refused, but it has
    happened here) says; and, when Redis is back, the :class:`PutBack` that makes each
    room's roster say so again."""

    def __init__(self, node: str, prefix: str = "tcpchat:") -> None:
        self.node = node
        self.prefix = prefix
        self.epoch = ""
        """The chat's epoch (:data:`EPOCH`) as this node last read it ('' not yet)."""
        self._rooms: dict[str, _Held] = {}
        self._away: dict[str, str] = {}
        self._out = False

    def rooms(self) -> list[str]:
        """The keys of the rooms this node has, or had before an outage, entries in."""
        return list(self._rooms)

    def learn_epoch(self, client: RedisClient) -> defer.Deferred[str]:
        """Read the chat's epoch, setting it if there is none; fires with it."""
        learnt = client.eval(
            "redis.call('SET', KEYS[1], ARGV[1], 'NX') return redis.call('GET', KEYS[1])",
            [self.prefix + EPOCH], [uuid.uuid4().hex],
        )

        def learn(epoch: str) -> str:
            self.epoch = epoch
            return epoch

        return learnt.addCallback(learn)

    def note(self, room: str, published: tuple[str | None, Event]) -> None:
        """Keep what ``published`` (origin, event) changes in this node's entries of ``room``."""
        origin, event = published
        if type(event) not in _ROSTER_NEWS:
            return
        changes = roster_changes(event, self.node, self._away)
        held = self._rooms.get(room)
        if not changes or (held is None and not room_named(event)):
            return
        if held is None:
            held = self._rooms[room] = _Held(room_named(event), before={} if self._out else None)
        for at in range(0, len(changes), 3):
            op, key, entry = changes[at:at + 3]
            if op == "put":
                held.entries[key] = (entry, origin)
                held.departed.pop(key, None)
            elif held.entries.pop(key, None) is not None and self._out:
                left = self._left(event, key, held.name, origin)
                if left is not None:
                    held.departed[key] = left
        if not held.entries and not self._out:
            del self._rooms[room]

    def outage(self) -> None:
        """Redis went away: remember what the others were last told (for a Redis that
        comes back without its data) and the leaves from now on."""
        if self._out:
            return
        self._out = True
        for held in self._rooms.values():
            held.before = {key: entry for key, (entry, _) in held.entries.items()}

    def put_back(self, room: str, stream_keep: int, read: str) -> PutBack | None:
        """The call that puts back this node's entries of ``room`` (None if it has none
        and had none), telling what changed after the stream entry ``read`` if Redis
        lost its data; the outage's record of the room starts again after it."""
        held = self._rooms.get(room)
        if held is None:
            return None
        entries = sorted(held.entries.items())
        before = sorted((held.before or {}).items())
        args: list[str | int | float] = [
            stream_keep, self.node, held.name, self.epoch, uuid.uuid4().hex, codec.encode(LOST),
            room, read, len(entries),
        ]
        for key, (entry, origin) in entries:
            nick, _node, away = json.loads(entry)
            args += (key, entry, codec.encode((origin, Joined(nick, held.name))),
                     codec.encode((origin, AwayChanged(nick, away))))
        args.append(len(before))
        for key, entry in before:
            args += (key, entry)
        for key, left in sorted(held.departed.items()):
            args += (key, left)
        held.before, held.departed = None, {}
        if not held.entries:
            del self._rooms[room]
        keys = [f"{self.prefix}bus:{room}", f"{self.prefix}roster:{room}",
                f"{self.prefix}node:{self.node}:rooms", self.prefix + EPOCH]
        return PutBack(room, keys, args)

    def back(self) -> None:
        """Every room's :meth:`put_back` is queued: the outage is over."""
        self._out = False

    @staticmethod
    def _left(event: Event, key: str, room: str, origin: str | None) -> str | None:
        match event:
            case Left(nick, _, reason):
                return codec.encode((origin, Left(nick, room, reason)))
            case CrowdLeft(_, departures):
                for departure in departures:
                    if fold(departure.nick) == key:
                        return codec.encode((None, Left(departure.nick, room, departure.reason)))
        return None
