"""A node's rooms over Redis: message ids, history and fan-out, one call for many messages.

Several processes can only agree on a room's order if a message's id and its
place in the room's stream are decided together, by Redis: an id taken from a
counter and written to the stream later lets another node's message slip
between the two (docs/scaling.md, "Message ids across nodes"). So
:class:`RedisRooms` is a node's :class:`~chat.ports.Sequencer`,
:class:`~chat.ports.HistoryStore` and :class:`~chat.ports.Bus` at once:

- what is published to a room in one reactor turn, or while the room's
  previous call is unanswered, is sent together, in order: consecutive
  messages and actions (up to ``batch``) as one Lua script, :data:`SAY`
  (by its SHA1), which INCRBYs ``<prefix>ids`` and adds each message to the
  room's history stream as entry ``<id>-0`` (trimmed to ``keep`` as
  :class:`~chat.redis.history.RedisHistory` trims) and to the room's bus
  stream as entry ``<id>-0``, both entries one JSON text; any other event
  goes to the bus stream as ``<id of the room's last message>-<n>``. The
  bus stream is thus in id order, the order every node delivers;
- the id the domain put in the message (:meth:`RedisRooms.next_id`) is
  provisional: members are given the message as the stream gives it back,
  numbered by its entry id, and history reads number entries the same way;
  :meth:`RedisRooms.record` writes nothing (publishing keeps the message);
- a history read shows a room up to where this node's delivery of the
  room stands (its cursor), so what comes after reaches the member live,
  exactly once. A room whose reading is only starting is read from the
  lowest :attr:`RedisRooms.last_id` of the reads waiting for it, so that the
  domain, which drops entries above ``last_id`` from history, drops none
  (``last_id`` asks Redis for its counter: one blocking GET per join or
  ``/history``, never per message);
- any other event that changes who is in a room (a join, leave, rename, away
  change, crowd) changes the room's roster in the same call (:data:`EVENT`,
  :mod:`chat.redis.presence`), and a node starting to read a room reads the
  stream's newest id and the roster in one call (:data:`START`), giving the
  room's subscribers a :class:`~chat.domain.events.Present` of the other
  nodes' members before anything after that id;
- each bus entry names the one before it (``p``), so a node that reads on
  from its cursor knows it skipped nothing; one whose next entry names
  another (the stream trimmed what it had not read) reads the skipped
  messages from the room's history (:data:`MISSED`), or, if history lost
  them too, tells the room's members here
  (:class:`~chat.domain.events.MessagesMissed`) and logs it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any, cast

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.domain.events import Action, Attendee, Message, MessagesMissed, Present, Said
from chat.domain.registry import RoomEvent
from chat.ports.bus import Subscriber
from chat.ports.history import CatchUp
from chat.redis import bus, codec, history, presence
from chat.redis.bus import RedisBus
from chat.redis.connection import RedisAddress, RedisClient, RedisError, blocking_command
from chat.redis.history import DEFAULT_KEEP, RedisHistory

log = Logger()

SAY = history.COUNTING + """
local function newest(key)
  local entry = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1]
  return entry and entry[1] or '0-0'
end
local function number(id)
  return tonumber(string.match(id, '^(%d+)'))
end
local count = (#ARGV - 3) / 2
local first = redis.call('INCRBY', KEYS[1], count) - count + 1
local previous = newest(KEYS[4])
local highest = math.max(number(newest(KEYS[2])), number(previous))
if first <= highest then
  first = highest + 1
  redis.call('SET', KEYS[1], first + count - 1)
end
local stream_keep = ARGV[3]
for index = 0, count - 1 do
  local entry = string.format('%d-0', first + index)
  local origin, said = ARGV[4 + 2 * index], ARGV[5 + 2 * index]
  if origin == '' then
    redis.call('XADD', KEYS[2], entry, 's', said)
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', stream_keep, entry, 'p', previous, 's', said)
  else
    redis.call('XADD', KEYS[2], entry, 'o', origin, 's', said)
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', stream_keep, entry, 'p', previous, 'o', origin,
               's', said)
  end
  previous = entry
end
local counting = #KEYS == 6
if counting then counted_in(KEYS[5], KEYS[6], KEYS[2], count) end
local keep, slack = tonumber(ARGV[1]), tonumber(ARGV[2])
local length = redis.call('XLEN', KEYS[2])
if length >= keep + slack then
  local gone = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', length - keep)
  redis.call('SET', KEYS[3], gone[#gone][1])
  redis.call('XTRIM', KEYS[2], 'MAXLEN', keep)
  if counting then counted_out(KEYS[5], KEYS[6], KEYS[2], #gone) end
end
return first
"""
"""Number K messages by INCRBY K of KEYS[1], keep them in the room's history (KEYS[2],
trimmed to ARGV[1] entries once ARGV[2] over, the newest id trimmed in KEYS[3], as
:data:`chat.redis.history.RECORD` does) and add them to the room's bus stream (KEYS[4],
MAXLEN ~ ARGV[3]), each under its one id, and, if given KEYS[5] and KEYS[6], count them
in the rooms by oldest message and the count of kept messages there (as
:data:`chat.redis.history.RECORD` does, trimmed ones out); ARGV[4..] are each message's
origin (the member's id, empty for nobody) and its JSON text, which the history entry
and the bus entry share (both entries hold it as ``s`` and the origin, if any, as ``o``;
the bus entry also names the entry before it in the stream, ``p``: see :data:`MISSED`).
Returns the first message's id; the others follow it one by one."""

SAY_SHA = hashlib.sha1(SAY.encode()).hexdigest()
"""The SHA1 Redis knows :data:`SAY` by once it has run it (EVALSHA)."""

DEFAULT_BATCH = 500
"""The most messages of one room sent in one :data:`SAY`."""

EVENT = presence.ROSTER + """
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local last = newest and string.match(newest[1], '^(%d+)') or '0'
change_roster(KEYS[2], KEYS[3], 3)
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], last .. '-*',
                  'p', newest and newest[1] or '0-0', 'e', ARGV[2])
"""
"""Add an event that is not a message (ARGV[2]) after the room's last message (KEYS[1]),
changing the room's roster (KEYS[2], KEYS[3], ARGV[3..] as :data:`chat.redis.presence.ROSTER`
takes them) in the same call."""

MISSED = """
if redis.call('XRANGE', KEYS[1], '-', ARGV[1], 'COUNT', 1)[1] then return false end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local added, length
for field = 1, #info, 2 do
  if info[field] == 'entries-added' then added = info[field + 1] end
  if info[field] == 'length' then length = info[field + 1] end
end
if added == length then return false end
return {redis.call('GET', KEYS[3]) or '0-0',
        redis.call('XRANGE', KEYS[2], '(' .. ARGV[2], '(' .. ARGV[3], 'COUNT', ARGV[4])}
"""
"""What a node whose cursor in a room's bus stream (KEYS[1]) is ARGV[1] missed before the
entry ARGV[3] it reads next, asked when that entry names another entry before it (``p``)
or, for entries that name none, when a read returns as many entries as a node behind
would read: false if the stream still holds an entry at or before the
cursor (trimming takes the oldest first) or never lost one; else the newest id trimmed
from the room's history (KEYS[3]) and the history's entries (KEYS[2]) after the cursor's
message (ARGV[2]) and before ARGV[3], at most ARGV[4]."""

START = """
return {redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1), redis.call('HGETALL', KEYS[2])}
"""
"""The newest entry of a room's bus stream (KEYS[1]) and its roster (KEYS[2]), read at once:
the roster is who is in the room as of that entry."""

CENSUS = """
local counts, cursor = {}, '0'
repeat
  local found = redis.call('SCAN', cursor, 'MATCH', ARGV[1] .. '*', 'COUNT', 1000)
  cursor = found[1]
  for _, key in ipairs(found[2]) do
    counts[#counts + 1] = string.sub(key, #ARGV[1] + 1)
    counts[#counts + 1] = redis.call('HLEN', key)
  end
until cursor == '0'
return counts
"""
"""Every room's roster (keys beginning with ARGV[1]) and how many members it holds: the
room's key, then the count, for each."""

INBOX = "inbox:"
"""What the bus room of a node's inbox (:mod:`chat.redis.courier`) is called before the
node's name: no room name has a colon."""


class RedisRooms(RedisBus[RoomEvent]):
    """The sequencer, history and bus of one node of a chat kept in Redis."""

    tells_present = True
    """A room's :class:`Present` comes once its START is answered, after :meth:`subscribe`."""

    def __init__(
        self,
        address: RedisAddress,
        client: RedisClient,
        reader: RedisClient,
        clock: IReactorTime | None = None,
        prefix: str = "tcpchat:",
        keep: int = DEFAULT_KEEP,
        slack: int | None = None,
        stream_keep: int = bus.DEFAULT_KEEP,
        count: int = bus.DEFAULT_COUNT,
        block: float = bus.DEFAULT_BLOCK,
        retry: float = bus.DEFAULT_RETRY,
        batch: int = DEFAULT_BATCH,
        retain: int = 0,
    ) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1 message, not {batch}")
        super().__init__(
            client, reader, clock, prefix, keep=stream_keep, count=count, block=block,
            retry=retry,
        )
        self.address = address
        self.history = RedisHistory(client, keep, prefix, slack, retain)
        self._ids = f"{prefix}ids"
        self._highest = 0
        """The highest message id this node has been told of (its own, or delivered)."""
        self._waiting: dict[str, list[tuple[int, defer.Deferred[int]]]] = {}
        self._writing: set[defer.Deferred[Any]] = set()
        self.batch = batch
        """The most messages of one room sent in one call."""
        self._outgoing: dict[str, list[RoomEvent | presence.PutBack]] = {}
        """What is published to each room and not sent yet, in order."""
        self._sending: set[str] = set()
        """The rooms with a call sent and not answered: their next waits for it."""
        self._due: IDelayedCall | None = None
        self._emptied: list[defer.Deferred[None]] = []
        self._away: dict[str, str] = {}
        """Away messages of this node's members, by nickname key, for their roster entries."""
        self.inbox = INBOX + self.node
        """The bus room of this node's inbox (:class:`~chat.redis.courier.RedisCourier`)."""
        self.holdings = presence.Holdings(self.node, self._base)
        """This node's entries of each room's roster, as what it published says."""

    # The sequencer

    @property
    def last_id(self) -> int:
        """The highest id Redis has given any node: asked of Redis (one blocking GET), as
        it bounds what a history read shown now may hold; what this node has heard of
        when Redis cannot answer."""
        try:
            given = blocking_command(self.address, "GET", self._ids)
            self._heard_of(int(given or 0))
        except (RedisError, ValueError):
            log.failure("rooms: Redis did not say the last message id")
        return self._highest

    def next_id(self) -> int:
        """A provisional id: the message's own is given by Redis when it is published."""
        return self._highest + 1

    # The history store

    @property
    def keep(self) -> int:
        """The most entries of one room a read returns."""
        return self.history.keep

    def record(self, room: str, said: Said) -> None:
        """Nothing: publishing ``said`` keeps it, in the same call that numbers it."""

    def recent_now(self, room: str, count: int) -> list[Said] | None:
        """None: Redis must be asked (:meth:`read_recent`)."""
        return None

    def read_recent(self, room: str, count: int) -> defer.Deferred[list[Said]]:
        """The last ``count`` entries of ``room`` up to where this node delivers it."""
        return self._delivered_upto(room).addCallback(
            lambda upto: self.history.read_recent(room, count, upto)
        )

    def read_since(self, room: str, after: int) -> defer.Deferred[CatchUp]:
        """The entries of ``room`` above ``after`` up to where this node delivers it."""
        return self._delivered_upto(room).addCallback(
            lambda upto: self.history.read_since(room, after, upto)
        )

    def close(self) -> defer.Deferred[None]:
        """Fires once every message published so far has been answered by Redis."""
        if any(self._outgoing.values()):
            emptied: defer.Deferred[None] = defer.Deferred()
            self._emptied.append(emptied)
            return emptied.addCallback(lambda _: self.close())
        return defer.DeferredList(list(self._writing)).addCallback(lambda _: None)

    # The bus

    def publish(self, room: str, event: RoomEvent) -> None:
        """Send ``event`` to the room's stream with whatever else is published to the room
        in this reactor turn, or while the room's previous call is unanswered: consecutive
        messages and actions go as one :data:`SAY`, each other event as one :data:`EVENT`,
        in the order published. Raises :class:`~chat.ports.bus.BusUnavailableError`
        while Redis is down (what it changes in the room's roster is noted anyway, and
        put back once Redis is: :meth:`put_back`)."""
        self.holdings.note(room, event)
        self._refuse_while_down()
        self._unanswered += 1
        self._outgoing.setdefault(room, []).append(event)
        if room not in self._sending and self._due is None:
            self._due = self.clock.callLater(0, self._send_due)

    def put_back(self) -> None:
        """Once Redis is back after an outage, make each room's roster hold this node's
        members again and tell the room what changed (:data:`~chat.redis.presence.PUT_BACK`),
        each room's call after what was published to it before, before what is after."""
        queued = False
        for room in self.holdings.rooms():
            read = self._cursors.get(room, "0-0")
            put_back = self.holdings.put_back(room, self.stream_keep, read)
            if put_back is not None:
                queued = True
                self._unanswered += 1
                self._outgoing.setdefault(room, []).append(put_back)
        self.holdings.back()
        if not queued:
            learnt = self.holdings.learn_epoch(self.client)
            learnt.addErrback(lambda failure: log.failure("rooms: reading the epoch", failure))
        elif self._due is None:
            self._due = self.clock.callLater(0, self._send_due)

    def _put_back(self, answer: list[Any], room: str) -> None:
        told, conflicts, epoch = answer
        self.holdings.epoch = epoch
        if conflicts:
            log.warn("rooms: {nicks} of {room} are served by another node now: this node's "
                     "members of those nicknames are left out of its roster", room=room,
                     nicks=", ".join(conflicts))
        if told:
            self._added(told, room)
        else:
            self._unanswered -= 1

    def _send_due(self) -> None:
        self._due = None
        for room in list(self._outgoing):
            if room not in self._sending:
                self._send_next(room)

    def _send_next(self, room: str) -> None:
        """Send the next run of the room's outgoing events, if any: one call at a time per
        room, so that Redis takes them in the order they were published."""
        outgoing = self._outgoing.get(room)
        if not outgoing:
            self._outgoing.pop(room, None)
            self._sending.discard(room)
            if not any(self._outgoing.values()):
                emptied, self._emptied = self._emptied, []
                for waiting in emptied:
                    waiting.callback(None)
            return
        self._sending.add(room)
        head = outgoing[0]
        if isinstance(head, presence.PutBack):
            outgoing.pop(0)
            sent = self.client.eval(presence.PUT_BACK, head.keys, head.args)
            sent.addCallbacks(self._put_back, self._publish_failed, callbackArgs=(room,),
                              errbackArgs=(room,))
        elif not isinstance(head[1], Message | Action):
            outgoing.pop(0)
            sent = self._add(room, head)
            sent.addCallbacks(self._added, self._publish_failed, callbackArgs=(room,),
                              errbackArgs=(room,))
        else:
            run = 0
            while run < len(outgoing) and run < self.batch and _said(outgoing[run]):
                run += 1
            said, outgoing[:run] = cast(list[RoomEvent], outgoing[:run]), []
            sent = self._say(room, said)
            self._writing.add(sent)
            sent.addBoth(self._written, sent)
            sent.addCallbacks(self._said, self._say_failed, callbackArgs=(room, len(said)),
                              errbackArgs=(room, len(said)))
        sent.addBoth(lambda _: self._send_next(room))

    def _add(self, room: str, event: RoomEvent) -> defer.Deferred[str]:
        said = event[1]
        changes = presence.roster_changes(said, self.node, self._away)
        keys = [self.prefix + room, self._roster(room), f"{self._base}node:{self.node}:rooms"]
        return self.client.eval(EVENT, keys, [
            self.stream_keep, self.encode(event), self.node, presence.room_named(said),
            room, *changes,
        ])

    def _say(self, room: str, said: list[RoomEvent]) -> defer.Deferred[Any]:
        """Run :data:`SAY` for ``said`` (by its SHA1; sent whole if Redis does not know it)."""
        keys = [self._ids, *self.history.keys(room), self.prefix + room, *self.history.counting]
        args: list[str | int] = [self.history.keep, self.history.slack, self.stream_keep]
        for origin, message in said:
            args += ("" if origin is None else origin, codec.encode(message))
        sent = self.client.execute_command("EVALSHA", SAY_SHA, len(keys), *keys, *args)

        def unknown(failure: Failure) -> Any:
            if "NOSCRIPT" not in str(failure.value):
                return failure
            return self.client.execute_command("EVAL", SAY, len(keys), *keys, *args)

        return sent.addErrback(unknown)

    def _said(self, first: int | str, room: str, count: int) -> None:
        first = int(first)
        self._heard_of(first + count - 1)
        for said_id in range(first, first + count):
            self._added(f"{said_id}-0", room)

    def _say_failed(self, failure: Failure, room: str, count: int) -> None:
        self._unanswered -= count - 1
        self._publish_failed(failure, room)

    def _missed(self, room: str, entries: list[Any]) -> defer.Deferred[list[Any]] | None:
        """The messages a read of ``room`` skipped, trimmed from its bus stream before this
        node read them, taken from the room's history (:data:`MISSED`). A read whose first
        entry names the cursor as the entry before it (``p``) skipped nothing; one whose
        first entry names none (written by an older node) is checked only if it returns
        at least ``min(count, stream_keep)`` entries: the stream keeps at least
        ``stream_keep``, so a node behind by more reads that many."""
        cursor = self._cursors.get(room)
        if cursor is None or room == self.inbox:
            return None
        fields = entries[0][1]
        if fields and fields[0] == "p":
            if fields[1] == cursor:
                return None
        elif len(entries) < min(self.count, self.stream_keep):
            return None
        keys = [self.prefix + room, *self.history.keys(room)]
        asked = self.client.eval(MISSED, keys, [
            cursor, f"{_message_id(cursor)}-0", entries[0][0],
            self.history.keep + self.history.slack,
        ])
        return asked.addCallback(self._recovered, room, cursor, entries[0][0])

    def _recovered(self, answer: list[Any] | None, room: str, cursor: str,
                   first: str) -> list[Any]:
        if answer is None:
            return []
        forgotten, kept = answer
        if _message_id(forgotten) > _message_id(cursor):
            log.warn(
                "rooms: this node read {room} too late: entries after {cursor} were trimmed "
                "from its bus stream and its history (--history-keep) "
                "before {first}; its members here are told some messages are missing",
                room=room, cursor=cursor, first=first,
            )
            missed = (None, MessagesMissed(room))
            for subscriber in list(self._rooms.get(room, {})):
                self._call(subscriber, room, missed)
        elif kept:
            log.info(
                "rooms: this node read {room} late: {count} messages after {cursor} trimmed "
                "from its bus stream are delivered from its history", room=room,
                count=len(kept), cursor=cursor,
            )
        return kept  # type: ignore[no-any-return]

    def subscribe(self, room: str, subscriber: Subscriber[RoomEvent]) -> None:
        """Deliver what is published to ``room`` from now on to ``subscriber`` too (once);
        when this node starts to read the room, its subscribers are first given who is in
        it on the other nodes (:class:`~chat.domain.events.Present`), as of where reading
        starts."""
        self._rooms.setdefault(room, {})[subscriber] = None
        if room in self._cursors or room in self._starting:
            return
        self._starting.add(room)
        started = self.client.eval(START, [self.prefix + room, self._roster(room)], [])
        started.addCallback(self._started_with_roster, room)
        started.addErrback(self._start_failed, room)

    def _started_with_roster(self, answer: list[Any], room: str) -> None:
        newest, roster = answer
        self._started(newest, room)
        if room not in self._cursors or room == self.inbox:
            return
        present = (None, Present(room, _attendees(roster, self.node)))
        for subscriber in list(self._rooms.get(room, {})):
            self._call(subscriber, room, present)

    def count_rooms(self) -> defer.Deferred[dict[str, int]]:
        """Every room with members on any node, and how many (the
        :class:`~chat.ports.Census`): read from the rooms' rosters, one call."""
        counted = self.client.eval(CENSUS, [], [self._roster("")])
        return counted.addCallback(
            lambda flat: {key: int(count) for key, count in zip(flat[::2], flat[1::2], strict=True)
                          if int(count)}
        )

    def _roster(self, room: str) -> str:
        return f"{self._base}roster:{room}"

    @property
    def _base(self) -> str:
        """The prefix every key of the chat begins with."""
        return self.prefix[: -len("bus:")]

    def _written(self, result: object, numbered: defer.Deferred[Any]) -> object:
        self._writing.discard(numbered)
        return result

    def _event(self, entry_id: str, fields: dict[str, str]) -> RoomEvent:
        origin: str | None
        if "s" in fields:
            origin, event = fields.get("o"), codec.decode(fields["s"])
        else:
            origin, event = self.decode(fields["e"])
        said_id = _message_id(entry_id)
        self._heard_of(said_id)
        if isinstance(event, Message | Action):
            event = replace(event, id=said_id)
        return origin, event

    def _start_at(self, room: str, newest: str) -> str:
        self._heard_of(_message_id(newest))
        waiting = self._waiting.pop(room, [])
        lowest = min((upto for upto, _ in waiting), default=None)
        start = newest
        if lowest is not None and lowest < _message_id(newest):
            start = f"{lowest}-0"
        for _, read in waiting:
            read.callback(_message_id(start))
        return start

    def _started(self, newest: list[Any], room: str) -> None:
        super()._started(newest, room)
        self._release_waiting(room, None)

    def _start_failed(self, failure: Failure, room: str) -> None:
        super()._start_failed(failure, room)
        self._release_waiting(room, failure)

    def _release_waiting(self, room: str, failure: Failure | None) -> None:
        """Answer the reads of a room nobody here reads any more, or that failed to start."""
        for upto, read in self._waiting.pop(room, []):
            if failure is None:
                read.callback(upto)
            else:
                read.errback(failure)

    def _delivered_upto(self, room: str) -> defer.Deferred[int]:
        """The id up to which ``room`` is delivered here: once known, if reading it starts."""
        cursor = self._cursors.get(room)
        if cursor is not None:
            return defer.succeed(_message_id(cursor))
        if room not in self._starting:
            return defer.succeed(self._highest)
        waiting: defer.Deferred[int] = defer.Deferred()
        self._waiting.setdefault(room, []).append((self._highest, waiting))
        return waiting

    def _heard_of(self, said_id: int) -> None:
        self._highest = max(self._highest, said_id)


def _said(outgoing: RoomEvent | presence.PutBack) -> bool:
    """Whether a room's outgoing item is a message or an action (sent together, :data:`SAY`)."""
    return not isinstance(outgoing, presence.PutBack) and isinstance(outgoing[1], Message | Action)


def _attendees(roster: list[str], node: str) -> tuple[Attendee, ...]:
    """The members a roster (HGETALL: key, entry, ...) has on nodes other than ``node``,
    by nickname key."""
    entries = sorted(zip(roster[::2], roster[1::2], strict=True))
    attendees = []
    for _, entry in entries:
        nick, held_by, away = json.loads(entry)
        if held_by != node:
            attendees.append(Attendee(nick, away))
    return tuple(attendees)


def _message_id(entry_id: str) -> int:
    """The id of the room's last message at a bus stream entry: its milliseconds part."""
    return int(entry_id.partition("-")[0])
