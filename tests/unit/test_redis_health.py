"""Redis going away and coming back, under two nodes' rooms: told once, refused, resumed exactly.

Each test has a redis-server of its own (:class:`OwnRedis`: a unix socket in
a short temporary directory, the append-only file on, so its streams outlive
a restart), stops it by its pid and starts it again on the same socket. The
nodes are what ``--redis`` builds (:mod:`chat.redis.node`): two lazily
reconnecting connections watched by a :class:`RedisHealth`, and
:class:`RedisRooms` refusing to publish while Redis is down.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from twisted.python.failure import Failure

from chat.domain.errors import BackboneUnavailableError
from chat.domain.events import BackboneBack, BackboneLost, Message
from chat.domain.registry import RoomEvent
from chat.ports.bus import BusUnavailableError
from chat.redis.address import RedisAddress, RedisError, blocking_command
from chat.redis.connection import RedisClient, connect_lazily
from chat.redis.directory import RedisDirectory
from chat.redis.health import RedisHealth
from chat.redis.rooms import RedisRooms
from tests.support.redis_server import REDIS_SERVER, settle, wait_until

START_TIMEOUT = 10.0


class OwnRedis:
    """A redis-server of one test, stopped and started again at will on one socket path,
    keeping its data across restarts in an append-only file."""

    def __init__(self) -> None:
        # Short: a unix socket path is at most 107 bytes, pytest's tmp_path can be longer.
        self.directory = tempfile.mkdtemp(prefix="tcpchat-redis-")
        self.path = os.path.join(self.directory, "redis.sock")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix:{self.path}"

    def start(self, keeping: bool = True) -> None:
        """Start it and wait until it answers a PING; with ``keeping`` False it starts
        without what it had (the append-only file is neither read nor written)."""
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", "0", "--unixsocket", self.path, "--save", "",
             "--appendonly", "yes" if keeping else "no", "--appendfsync", "always",
             "--dir", self.directory,
             "--logfile", os.path.join(self.directory, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process.poll() is None, f"redis-server exited: see {self.directory}"
            try:
                if blocking_command(RedisAddress(path=self.path, timeout=1.0), "PING") == "PONG":
                    return
            except RedisError:
                pass
            assert time.monotonic() < deadline, f"redis-server not up in {START_TIMEOUT}s"
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop it with SIGTERM (it writes its data and closes every connection)."""
        assert self.process is not None, "not running"
        process, self.process = self.process, None
        process.terminate()
        try:
            process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def freeze(self, frozen: bool) -> None:
        """Stop it answering, connections left open (SIGSTOP), or let it go on (SIGCONT)."""
        assert self.process is not None, "not running"
        os.kill(self.process.pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def close(self) -> None:
        if self.process is not None:
            self.freeze(False)
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    """A redis-server of this test's own, running; stopped and removed after it."""
    server = OwnRedis()
    try:
        server.start()
        yield server
    finally:
        server.close()


@dataclass
class Node:
    """One node's Redis side, as :class:`chat.redis.node.RedisNode` builds it."""

    health: RedisHealth
    client: RedisClient
    reader: RedisClient
    rooms: RedisRooms
    told: list[BackboneLost | BackboneBack] = field(default_factory=list)
    heard: list[RoomEvent] = field(default_factory=list)

    def say(self, nick: str, text: str, room: str = "lobby") -> None:
        self.rooms.publish(room, (nick, Message(nick, text, self.rooms.next_id(), 1.0)))

    def texts(self) -> list[str]:
        return [event.text for _, event in self.heard if isinstance(event, Message)]

    def close(self) -> None:
        self.health.stop()
        settle(self.rooms.stop())
        for client in (self.client, self.reader):
            settle(client.disconnect())


def _node(address: RedisAddress, room: str = "lobby") -> Node:
    health = RedisHealth(address, _reactor())
    client = connect_lazily(address, health.watch("commands"))
    reader = connect_lazily(address, health.watch("stream reads"))
    rooms = RedisRooms(address, client, reader, _reactor(), block=0.5, retry=0.1)
    rooms.health = health
    node = Node(health, client, reader, rooms)
    health.tell(node.told.append)
    health.start(client)
    rooms.start()
    rooms.subscribe(room, lambda _room, event: node.heard.append(event))
    wait_until(lambda: rooms.drained() and health.connected)
    return node


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _turn(seconds: float) -> None:
    """Let the reactor run for ``seconds`` (to see that nothing more happens)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _reactor().iterate(0.005)


@pytest.fixture
def nodes(own_redis: OwnRedis) -> Iterator[list[Node]]:
    """Two nodes on the test's Redis, PINGing it every 0.1 s, reconnecting every 0.2 s."""
    address = RedisAddress(path=own_redis.path, timeout=0.5, ping=0.1, backoff=0.2)
    made = [_node(address) for _ in range(2)]
    yield made
    for node in made:
        node.close()


def _connection(client: RedisClient) -> Any:
    """The live protocol of a lazy txredisapi connection (to cut it under a command)."""
    [protocol] = client._factory.pool  # type: ignore[attr-defined]
    return protocol


def test_redis_going_away_is_told_once_and_what_is_said_is_refused(
    own_redis: OwnRedis, nodes: list[Node]
) -> None:
    """Stopped Redis: each node tells its listener once and refuses to publish at once."""
    own_redis.stop()
    wait_until(lambda: all(node.told for node in nodes))
    for node in nodes:
        with pytest.raises(BusUnavailableError):
            node.say("ann", "into the void")
    _turn(0.3)  # a few PINGs and reconnection attempts later
    assert [node.told for node in nodes] == [[BackboneLost()], [BackboneLost()]]
    assert all(not node.health.up and node.health.down_since is not None for node in nodes)


def test_a_nickname_claimed_or_looked_up_while_redis_is_down_fails_at_once(
    own_redis: OwnRedis, nodes: list[Node]
) -> None:
    """The node's directory refuses a claim and a lookup with BackboneUnavailableError at
    once, instead of queueing them for a Redis that is gone."""
    node = nodes[0]
    directory = RedisDirectory(node.client, node=node.rooms.node, health=node.health)
    own_redis.stop()
    wait_until(lambda: bool(node.told))
    for asked in (directory.claim("newcomer", "s1"), directory.find("newcomer")):
        failed: list[Failure] = []
        asked.addErrback(failed.append)
        assert failed and failed[0].check(BackboneUnavailableError)


def test_a_node_closes_at_once_while_redis_is_down(own_redis: OwnRedis) -> None:
    """Its shutdown does not wait for a Redis that is gone."""
    node = _node(RedisAddress(path=own_redis.path, timeout=0.5, ping=0.1, backoff=0.2))
    own_redis.stop()
    wait_until(lambda: bool(node.told))
    started = time.monotonic()
    node.close()
    assert time.monotonic() - started < 1.0


def test_redis_back_is_told_with_the_outage_and_every_room_resumes_exactly(
    own_redis: OwnRedis, nodes: list[Node]
) -> None:
    """Messages before, during (refused) and after an outage: both nodes hear each
    acknowledged one once, in one order, and are told of the outage's end and length."""
    one, two = nodes
    one.say("ann", "before 1")
    two.say("ben", "before 2")
    wait_until(lambda: len(one.texts()) == len(two.texts()) == 2)
    own_redis.stop()
    wait_until(lambda: all(node.told for node in nodes))
    with pytest.raises(BusUnavailableError):
        one.say("ann", "refused")
    started = time.monotonic()
    time.sleep(0.3)
    own_redis.start()
    wait_until(lambda: all(len(node.told) == 2 for node in nodes))
    for node in nodes:
        lost, back = node.told
        assert lost == BackboneLost() and isinstance(back, BackboneBack)
        assert 0.3 <= back.down_for <= time.monotonic() - started + 1.0
        assert node.health.up
    two.say("ben", "after 1")
    one.say("ann", "after 2")
    wait_until(lambda: len(one.texts()) == len(two.texts()) == 4)
    _turn(0.2)
    assert one.heard == two.heard
    assert sorted(one.texts()) == ["after 1", "after 2", "before 1", "before 2"]
    ids = [event.id for _, event in one.heard if isinstance(event, Message)]
    assert ids == sorted(set(ids))


def test_a_redis_back_without_its_data_is_read_from_what_it_has(
    own_redis: OwnRedis, nodes: list[Node]
) -> None:
    """Redis restarted empty (no persistence): its ids start again below what the nodes
    delivered, and the nodes still deliver what is said next, once each."""
    one, two = nodes
    for number in range(3):
        one.say("ann", f"old {number}")
    wait_until(lambda: len(one.texts()) == len(two.texts()) == 3)
    own_redis.stop()
    wait_until(lambda: all(node.told for node in nodes))
    own_redis.start(keeping=False)
    wait_until(lambda: all(len(node.told) == 2 for node in nodes))
    two.say("ben", "new 1")
    one.say("ann", "new 2")
    wait_until(lambda: len(one.texts()) == len(two.texts()) == 5)
    _turn(0.2)
    assert one.heard == two.heard
    assert sorted(one.texts()[3:]) == ["new 1", "new 2"]


def test_a_message_redis_took_but_did_not_answer_is_delivered_once_everywhere(
    nodes: list[Node],
) -> None:
    """The connection drops after the message was sent, before the answer: Redis has it,
    so once the node reconnects both nodes deliver it, once (its speaker's ack included)."""
    one, two = nodes
    one.say("ann", "warm-up")
    wait_until(lambda: len(one.texts()) == len(two.texts()) == 1)
    one.say("ann", "taken")
    _connection(one.client).transport.loseConnection()  # written out first, then closed
    wait_until(lambda: one.told == [BackboneLost()])
    wait_until(lambda: len(one.told) == 2 and len(one.texts()) == len(two.texts()) == 2)
    one.say("ann", "next")
    wait_until(lambda: len(one.texts()) == len(two.texts()) == 3)
    _turn(0.2)
    assert one.texts() == two.texts() == ["warm-up", "taken", "next"]
    assert one.heard == two.heard


def test_a_message_lost_with_the_connection_is_delivered_nowhere(nodes: list[Node]) -> None:
    """The connection drops before the message reached Redis: no node delivers it (so its
    speaker is never acknowledged), and what is said after the reconnection is."""
    one, two = nodes
    one.say("ann", "warm-up")
    wait_until(lambda: len(one.texts()) == len(two.texts()) == 1)
    one.say("ann", "dropped")
    _connection(one.client).transport.abortConnection()  # nothing written
    wait_until(lambda: len(one.told) == 2)
    one.say("ann", "next")
    wait_until(lambda: len(one.texts()) == len(two.texts()) == 2)
    _turn(0.2)
    assert one.texts() == two.texts() == ["warm-up", "next"]


def test_a_redis_that_stops_answering_is_down_until_it_answers_again(
    own_redis: OwnRedis, nodes: list[Node]
) -> None:
    """Connections open but no answer (SIGSTOP): down once a PING waits out the timeout
    (0.5 s here), back when Redis answers, with nothing lost."""
    one, two = nodes
    own_redis.freeze(True)
    try:
        wait_until(lambda: all(node.told for node in nodes), timeout=5.0)
        with pytest.raises(BusUnavailableError):
            one.say("ann", "refused")
    finally:
        own_redis.freeze(False)
    wait_until(lambda: all(len(node.told) == 2 for node in nodes))
    two.say("ben", "heard")
    wait_until(lambda: one.texts() == two.texts() == ["heard"])


def test_closing_a_node_is_no_outage(own_redis: OwnRedis) -> None:
    """The node's own shutdown closes its connections: nothing is told."""
    node = _node(RedisAddress(path=own_redis.path, timeout=0.5, ping=0.1, backoff=0.2))
    node.close()
    _turn(0.3)
    assert node.told == [] and node.health.up
