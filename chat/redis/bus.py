"""Room fan-out through Redis Streams: the :class:`~chat.ports.Bus` shared by a chat's processes.

Each room is one stream, ``<prefix>bus:<room key>``. :meth:`RedisBus.publish`
adds the event to it (XADD, trimmed to about ``keep`` entries with MAXLEN ~)
and returns at once; it delivers nothing itself. Each process reads the
streams of the rooms it has subscribers for in one loop on a connection of
its own (XREAD BLOCK from the last id it has seen of each) and calls the
room's subscribers with each entry in the stream's order, which is the one
order of the room for every process. So a process hears its own events only
when the stream gives them back, after everything published before them
by anyone.

A room is read from the stream's newest entry at the moment it is
subscribed to (asked on the publishing connection, so whatever this process
publishes after subscribing is read). While a read is blocked, a newly
subscribed room joins it by a wake-up entry on this process's own stream,
``<prefix>wake:<node>``, which every read includes, so nothing waits for
the block to time out. An entry is never delivered twice: entries at or
below a room's last id are skipped. A subscriber that raises is logged and
the others still receive the event; who receives an entry is settled when
its delivery starts.

Events are written by ``encode`` and read by ``decode`` (by default
:mod:`chat.redis.codec`). When Redis fails a read the loop reads again after
``retry`` seconds, from each room's last id: a read cut by a lost connection
waits for the connection to be made again (:mod:`chat.redis.connection`), and
then resumes every room where its delivery stopped, so nothing is lost and
nothing delivered twice. While the bus's :attr:`RedisBus.health` says Redis
is down (:mod:`chat.redis.health`), :meth:`RedisBus.publish` refuses at once
with :class:`~chat.ports.bus.BusUnavailableError`: nothing is queued. An
event whose XADD was sent but not answered when the connection was lost may
or may not be in the stream: it is not published again (it might then be
there twice); if Redis took it, every node, its publisher's included,
delivers it once when reading resumes; if not, nobody does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Generic, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.ports.bus import BusUnavailableError, Event, Subscriber
from chat.redis import codec
from chat.redis.connection import ConnectionLostError, RedisClient

log = Logger()

DEFAULT_KEEP = 10_000
"""Entries kept per room stream (about: MAXLEN ~), for a process catching up."""
DEFAULT_COUNT = 500
"""Entries read per stream per XREAD."""
DEFAULT_BLOCK = 2.0
"""Seconds an XREAD waits for news before it is sent again."""
DEFAULT_RETRY = 1.0
"""Seconds before reading again after Redis failed a read."""

StreamId = tuple[int, int]


class Health(Protocol):
    """Whether Redis can be reached now (:class:`chat.redis.health.RedisHealth`)."""

    @property
    def up(self) -> bool: ...


def stream_id(text: str) -> StreamId:
    """A stream entry id (``"1700000000000-3"``) as a pair that compares in stream order."""
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


class RedisBus(Generic[Event]):
    """Subscribers by room key, fed from one Redis stream per room."""

    def __init__(
        self,
        client: RedisClient,
        reader: RedisClient,
        clock: IReactorTime | None = None,
        prefix: str = "tcpchat:",
        encode: Callable[[Event], str] = codec.encode,
        decode: Callable[[str], Event] = codec.decode,
        keep: int = DEFAULT_KEEP,
        count: int = DEFAULT_COUNT,
        block: float = DEFAULT_BLOCK,
        retry: float = DEFAULT_RETRY,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor

            clock = reactor
        self.client = client
        self.reader = reader
        self.clock: IReactorTime = clock
        self.prefix = f"{prefix}bus:"
        self.encode = encode
        self.decode = decode
        self.stream_keep, self.count, self.block, self.retry = keep, count, block, retry
        self.node = uuid.uuid4().hex[:16]
        """This process's name on the bus, unique."""
        self._wake = f"{prefix}wake:{self.node}"
        self._wake_id = "0-0"
        self._rooms: dict[str, dict[Subscriber[Event], None]] = {}
        self._cursors: dict[str, str] = {}
        """The last id delivered of each room being read."""
        self._starting: set[str] = set()
        self._unanswered = 0
        self._published: dict[str, StreamId] = {}
        self._read_in_flight: set[str] | None = None
        self._retrying: IDelayedCall | None = None
        self._stopped: defer.Deferred[None] | None = None
        self._running = False
        self.health: Health | None = None
        """While it says Redis is down, publishing is refused (None: always tried)."""

    def start(self) -> None:
        """Begin reading the rooms subscribed to."""
        self._running = True
        self._read()

    def stop(self) -> defer.Deferred[None]:
        """Stop reading; fires once the read in flight has ended (at once while Redis is
        down: the read ends when its connection is closed)."""
        self._running = False
        if self._retrying is not None and self._retrying.active():
            self._retrying.cancel()
        if self.health is not None and not self.health.up:
            return defer.succeed(None)
        done: defer.Deferred[None] = defer.Deferred()
        if self._read_in_flight is None:
            done.callback(None)
        else:
            self._stopped = done
            self._wake_up()
        return done.addCallback(lambda _: self._forget_wake())

    def publish(self, room: str, event: Event) -> None:
        """Add ``event`` to the room's stream; it is delivered when read back.

        Raises :class:`BusUnavailableError` while Redis is down."""
        self._refuse_while_down()
        self._unanswered += 1
        added = self._add(room, event)
        added.addCallback(self._added, room).addErrback(self._publish_failed, room)

    def _refuse_while_down(self) -> None:
        if self.health is not None and not self.health.up:
            raise BusUnavailableError("Redis is unreachable")

    def _add(self, room: str, event: Event) -> defer.Deferred[str]:
        """Append ``event`` to the room's stream; fires with its entry id."""
        return self.client.execute_command(
            "XADD", self.prefix + room, "MAXLEN", "~", self.stream_keep, "*", "e",
            self.encode(event),
        )

    def subscribe(self, room: str, subscriber: Subscriber[Event]) -> None:
        """Deliver what is published to ``room`` from now on to ``subscriber`` too (once)."""
        self._rooms.setdefault(room, {})[subscriber] = None
        if room in self._cursors or room in self._starting:
            return
        self._starting.add(room)
        newest = self.client.execute_command("XREVRANGE", self.prefix + room, "+", "-", "COUNT", 1)
        newest.addCallback(self._started, room).addErrback(self._start_failed, room)

    def unsubscribe(self, room: str, subscriber: Subscriber[Event]) -> None:
        """Stop delivering ``room`` to ``subscriber``; stop reading it when no one is left."""
        subscribers = self._rooms.get(room)
        if subscribers is None:
            return
        subscribers.pop(subscriber, None)
        if not subscribers:
            del self._rooms[room]
            self._cursors.pop(room, None)
            self._published.pop(room, None)

    def drained(self) -> bool:
        """True when everything this process published has been answered and, for the
        rooms it reads, delivered here."""
        if self._unanswered or self._starting:
            return False
        return all(
            stream_id(self._cursors[room]) >= published
            for room, published in self._published.items() if room in self._cursors
        )

    def _added(self, entry_id: str, room: str) -> None:
        self._unanswered -= 1
        if room in self._rooms:
            self._published[room] = stream_id(entry_id)

    def _started(self, newest: list[Any], room: str) -> None:
        self._starting.discard(room)
        if room not in self._rooms:
            return
        self._cursors[room] = self._start_at(room, newest[0][0] if newest else "0-0")
        if self._read_in_flight is not None and room not in self._read_in_flight:
            self._wake_up()

    def _start_at(self, room: str, newest: str) -> str:
        """Where reading ``room`` begins (after this id), its newest entry being ``newest``."""
        return newest

    def _publish_failed(self, failure: Failure, room: str) -> None:
        self._unanswered -= 1
        if failure.check(ConnectionLostError):
            log.warn(
                "bus: the connection was lost before Redis answered an event of {room}: "
                "if Redis took it, it is delivered when reading resumes", room=room,
            )
        else:
            log.failure("bus: Redis failed publishing to {room}", failure, room=room)

    def _start_failed(self, failure: Failure, room: str) -> None:
        self._starting.discard(room)
        log.failure("bus: Redis failed saying where {room} is", failure, room=room)

    def _wake_up(self) -> None:
        woken = self.client.execute_command("XADD", self._wake, "MAXLEN", 1, "*", "w", 1)
        woken.addErrback(lambda failure: log.failure("bus: waking the reader", failure))

    def _forget_wake(self) -> defer.Deferred[Any]:
        return self.client.execute_command("DEL", self._wake).addCallback(lambda _: None)

    def _read(self) -> None:
        if not self._running:
            return
        rooms = dict(self._cursors)
        keys = [self._wake, *(self.prefix + room for room in rooms)]
        ids = [self._wake_id, *rooms.values()]
        self._read_in_flight = set(rooms)
        read = self.reader.execute_command(
            "XREAD", "COUNT", self.count, "BLOCK", int(self.block * 1000), "STREAMS", *keys, *ids
        )
        read.addCallbacks(self._heard, self._read_failed)

    def _heard(self, streams: list[Any] | None) -> None:
        self._read_in_flight = None
        checks = []
        for key, entries in streams or ():
            if key == self._wake:
                self._wake_id = entries[-1][0]
                continue
            room = key[len(self.prefix):]
            check = self._missed(room, entries)
            if check is None:
                self._deliver(room, entries)
            else:
                check.addErrback(self._missed_unknown, room)
                checks.append(check.addCallback(self._deliver_after, room, entries))
        if checks:
            defer.DeferredList(checks).addCallback(lambda _: self._after_read())
        else:
            self._after_read()

    def _missed(self, room: str, entries: list[Any]) -> defer.Deferred[list[Any]] | None:
        """The entries of ``room`` this node missed before ``entries`` (trimmed before it
        read them), to deliver first; None when none can be missing."""
        return None

    def _missed_unknown(self, failure: Failure, room: str) -> list[Any]:
        log.failure("bus: Redis did not say what {room} trimmed before this node read it",
                    failure, room=room)
        return []

    def _deliver_after(self, missed: list[Any], room: str, entries: list[Any]) -> None:
        self._deliver(room, [*missed, *entries])

    def _read_failed(self, failure: Failure) -> None:
        self._read_in_flight = None
        if self._running:
            if failure.check(ConnectionLostError):
                log.info("bus: reading cut by a lost connection; resuming every room from "
                         "its last id once Redis is back")
                self._retrying = self.clock.callLater(self.retry, self._resume)
            else:
                log.failure("bus: Redis failed a read; reading again in {retry}s", failure,
                            retry=self.retry)
                self._retrying = self.clock.callLater(self.retry, self._read)
        self._after_read(read_again=False)

    def _resume(self) -> None:
        """Read again after a lost connection, once each room's stream is seen to hold
        what was delivered here (a Redis restarted without its data holds less)."""
        if not self._running:
            return
        self._wake_id = "0-0"
        rooms = list(self._cursors)
        newest = [
            self.client.execute_command("XREVRANGE", self.prefix + room, "+", "-", "COUNT", 1)
            for room in rooms
        ]
        checked = defer.DeferredList(newest, consumeErrors=True)
        checked.addCallback(self._resumed, rooms)

    def _resumed(self, answers: list[tuple[bool, Any]], rooms: list[str]) -> None:
        for room, (answered, newest) in zip(rooms, answers, strict=True):
            cursor = self._cursors.get(room)
            if not answered or cursor is None:
                continue
            top = newest[0][0] if newest else "0-0"
            if stream_id(top) < stream_id(cursor):
                log.warn(
                    "bus: Redis has lost {room}'s entries after {top} ({cursor} was delivered "
                    "here; restarted without its data?): reading {room} on from {top}",
                    room=room, top=top, cursor=cursor,
                )
                self._cursors[room] = top
        self._read()

    def _after_read(self, read_again: bool = True) -> None:
        if self._stopped is not None:
            stopped, self._stopped = self._stopped, None
            stopped.callback(None)
        elif read_again:
            self._read()

    def _deliver(self, room: str, entries: list[Any]) -> None:
        for entry_id, fields in entries:
            cursor = self._cursors.get(room)
            if cursor is None:
                return
            if stream_id(entry_id) <= stream_id(cursor):
                continue
            self._cursors[room] = entry_id
            try:
                event = self._event(entry_id, dict(zip(fields[::2], fields[1::2], strict=True)))
            except Exception:
                log.failure("bus: entry {id} of {room} is not an event", id=entry_id, room=room)
                continue
            subscribers = self._rooms.get(room, {})
            for subscriber in list(subscribers):
                if subscriber in subscribers:
                    self._call(subscriber, room, event)

    def _event(self, entry_id: str, fields: dict[str, str]) -> Event:
        """The event an entry of a room's stream carries."""
        return self.decode(fields["e"])

    @staticmethod
    def _call(subscriber: Subscriber[Event], room: str, event: Event) -> None:
        try:
            subscriber(room, event)
        except Exception:
            log.failure("bus: a subscriber of {room} failed", room=room)
