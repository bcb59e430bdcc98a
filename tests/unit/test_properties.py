"""Properties of the line protocol under arbitrary input, driven in memory.

Hypothesis feeds arbitrary bytes, commands, slow readers, resets and clock
ticks into :class:`~chat.line.protocol.LineProtocol` connections built by a real
:class:`~chat.line.protocol.LineFactory` on ``StringTransport`` and ``task.Clock``:
no sockets, no sleeps. After every step no exception has escaped, every line
any client received is valid UTF-8 without control characters, and the
registry holds one live connection per nickname and no ghost members.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, cast

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from chat.config import ServerConfig
from chat.domain.events import SendQueueExceeded
from chat.domain.registry import FLUSH_DELAY, Registry
from chat.history import History
from chat.line.protocol import LineFactory, LineProtocol
from chat.service import Farewell
from chat.session.connection import Connection
from chat.session.server import ChatServer
from chat.text import fold, nickname_problem
from tests.support.checked import received_lines

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# What a telnet client is answered with (IAC WILL/WONT/DO/DONT option): the
# only bytes the server sends that are not lines of text.
TELNET_REPLY = re.compile(rb"\xff[\xfb-\xfe].", re.DOTALL)


class Transport(StringTransport):
    """A ``StringTransport`` with the parts of a TCP transport the protocol relies on.

    Unlike ``tests.fakes``, whose connections are driven step by step, this
    one lets arbitrary sequences run unattended, so it behaves like TCP on
    its own: the harness below reads only while it is not paused, closes
    what the protocol closes, and pauses output when the peer stops reading.

    Like Twisted's TCP transport it tolerates ``unregisterProducer`` twice, and
    it tells the registered producer to pause when more than ``window`` bytes
    wait unread (a full socket buffer) and to resume once the peer reads them.
    """

    def __init__(self, peer: IPv4Address, window: int) -> None:
        super().__init__(peerAddress=peer)
        self.window = window
        self.read_to = 0
        self.output_paused = False

    def unregisterProducer(self) -> None:
        self.producer = None
        self.streaming = None

    def write(self, data: bytes) -> None:
        super().write(data)
        if self.producer is not None and len(self.value()) - self.read_to > self.window:
            self.output_paused = True
            self.producer.pauseProducing()

    def take(self) -> bytes:
        """What the peer reads now: every byte written since it last read."""
        data: bytes = self.value()[self.read_to :]
        self.read_to = len(self.value())
        if self.output_paused and self.producer is not None:
            self.output_paused = False
            self.producer.resumeProducing()
        return data


@dataclass
class Peer:
    """The far end of one connection: what it still has to send, and its state."""

    protocol: Any
    transport: Transport
    pending: bytes = b""
    ended: bool = False
    reading: bool = True
    lost: bool = False
    received: bytearray = field(default_factory=bytearray)

    @property
    def chat(self) -> LineProtocol | None:
        return self.protocol if isinstance(self.protocol, LineProtocol) else None


class Harness:
    """A server factory, its clock, and the peers connected to it, all in memory."""

    def __init__(self, config: ServerConfig, window: int = 512, crowd: int = 0) -> None:
        self.clock = Clock()
        self.registry = Registry(
            History(config.history_keep), self.clock, replay=config.history, crowd=crowd,
            crowd_delay=0.5,
        )
        self.server = ChatServer(self.registry, config, self.clock)
        self.factory = LineFactory(self.server)
        self.window = window
        self.peers: list[Peer] = []

    def connect(self, host: str = "127.0.0.1") -> Peer:
        address = IPv4Address("TCP", host, 20000 + len(self.peers))
        protocol = self.factory.buildProtocol(address)
        transport = Transport(address, self.window)
        peer = Peer(protocol, transport)
        self.peers.append(peer)
        protocol.makeConnection(transport)
        self.settle()
        return peer

    def send(self, peer: Peer, data: bytes) -> None:
        """The peer sends ``data``; the server reads it whenever it is not paused."""
        if not peer.lost:
            peer.pending += data
        self.settle()

    def read(self, peer: Peer) -> bytes:
        data = peer.transport.take()
        peer.received += data
        self.settle()
        return data

    def end_input(self, peer: Peer) -> None:
        """The peer shuts down its sending side (``nc -N``) after what it has sent."""
        peer.ended = True
        self.settle()

    def drop(self, peer: Peer, reason: Exception) -> None:
        """The peer goes away (closes or resets); the server notices."""
        if not peer.lost:
            peer.lost = True
            peer.pending = b""
            peer.protocol.connectionLost(Failure(reason))
        self.settle()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle()

    def settle(self) -> None:
        """Deliver what may be delivered and run what is due, as a reactor would, until
        nothing changes."""
        for _ in range(1000):
            if not self._step():
                return
        raise AssertionError("the in-memory server did not settle")

    def _step(self) -> bool:
        for peer in self.peers:
            if peer.lost:
                continue
            if peer.transport.disconnecting:
                peer.lost = True
                peer.received += peer.transport.take()
                aborted = peer.transport.disconnected
                reason = ConnectionAborted() if aborted else ConnectionDone()
                peer.protocol.connectionLost(Failure(reason))
                return True
            if peer.transport.producerState == "producing":
                if peer.pending:
                    data, peer.pending = peer.pending, b""
                    peer.protocol.dataReceived(data)
                    return True
                if peer.ended and peer.chat is not None and not peer.chat._input_ended:
                    peer.chat.readConnectionLost()
                    return True
            if peer.reading and len(peer.transport.value()) > peer.transport.read_to:
                peer.received += peer.transport.take()
                return True
        # What is due now, or within the fan-out's gathering delay, runs: as a
        # reactor would, a little later.
        now = self.clock.seconds()
        soon = [call.getTime() for call in self.clock.getDelayedCalls()
                if call.getTime() <= now + FLUSH_DELAY]
        if soon:
            self.clock.advance(max(0.0, min(soon) - now))
            return True
        return False

    def live(self) -> list[Peer]:
        return [peer for peer in self.peers if not peer.lost and peer.chat is not None]


def assert_clean_output(data: bytes) -> None:
    """Apart from telnet replies, whole CRLF lines of UTF-8 a terminal cannot misread."""
    text = TELNET_REPLY.sub(b"", bytes(data))
    if text:
        received_lines(text)


def assert_registry_sound(harness: Harness) -> None:
    """One live connection per nickname, valid nicknames, no ghosts anywhere."""
    registry, server = harness.registry, harness.server
    live = {id(peer.protocol): peer for peer in harness.live()}
    clients = [member.client for member in registry.members.values()]
    assert len({id(client) for client in clients}) == len(clients)
    for key, member in registry.members.items():
        assert key == fold(member.nick)
        assert nickname_problem(member.nick) is None, member.nick
        assert id(member.client) in live, f"ghost member {member.nick}"
        assert member.client.connection.member is member  # type: ignore[attr-defined]
        assert member.room is not None and member.room.members.get(key) is member
        assert registry.rooms.get(member.room.key) is member.room
        assert list(member.rooms.values()) == [member.room], "the line protocol keeps one room"
    for room in registry.rooms.values():
        for key, member in room.members.items():
            assert registry.members.get(key) is member, f"ghost {member.nick} in {room.name}"
    for peer in live.values():
        member = peer.protocol.connection.member
        if member is not None and not peer.protocol.connection.closing:
            assert registry.members.get(member.key) is member
    fronts = {id(cast(Connection, connection).front) for connection in server.connections}
    assert fronts == set(live)
    assert server.admission.served == len(server.connections)
    assert sum(server.admission.per_address.values()) == len(server.connections)
    assert all(count > 0 for count in server.admission.per_address.values())


# Strategies

NICKS = ["alice", "Alice", "bob", "BOB", "carol", "x" * 20, "x" * 21, "no way", "élan", "-_-"]
ROOMS = ["lobby", "LOBBY", "#games", "games", "#", "r" * 32, "r" * 33, "two words", "ünï"]
FRAGMENTS = [
    b"\n", b"\r\n", b"\r", b"\t", b" ", b"/", b"//", b"\x00", b"\x07", b"\x7f",
    b"\x1b[31m", b"\x1b[2J", b"\x1b]0;pwned\x07", b"\x1bP1;2q\x1b\\", b"\x1b",
    "\u202e".encode(), "\u2028".encode(), "\u0085".encode(), "\ufeff".encode(),
    b"\xc3", b"\xe2\x82", b"\xff", b"\xff\xff", b"\xf0\x9f\x98\x80", "日本".encode(),
    b"\xff\xfd\x06", b"\xff\xfb\x01", b"\xff\xf4", b"\xff\xf5", b"\xff\xf6",
    b"\xff\xfa\x18\x01\xff\xf0", b"\xff\xfa", b"\xff\xf0",
    b"x" * 40, b"y" * 200,
]
COMMANDS = [
    "/nick {nick}", "/NICK {nick}", "/nick", "/nick {nick} {nick}", "/who", "/who x",
    "/me {text}", "/me", "/msg {nick} {text}", "/msg {nick}", "/msg", "/help", "/help nick",
    "/help /who", "/help nope", "/quit", "/quit {text}", "/nope", "/", "//{text}",
    "/join {room}", "/join", "/rooms", "/history", "/history {number}", "/ids", "/ids on",
    "/ids off", "/resume {room} {number}", "/resume {room}", "{nick}", "{text}",
]


@st.composite
def command_lines(draw: st.DrawFn) -> bytes:
    template = draw(st.sampled_from(COMMANDS))
    nick = draw(st.sampled_from(NICKS))
    room = draw(st.sampled_from(ROOMS))
    number = draw(st.sampled_from(["0", "1", "5", "1000", "1001", "-1", "x"]))
    text = draw(st.text(max_size=30))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    line = template.format(nick=nick, room=room, number=number, text=text)
    return (line + ending).encode("utf-8", "surrogatepass")


byte_soup = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=24), command_lines()),
    max_size=12,
).map(b"".join)

pastes = st.builds(lambda line, count: line * count, command_lines(), st.integers(2, 40))
peer_index = st.integers(min_value=0, max_value=9)
actions = st.one_of(
    st.tuples(st.just("connect"), st.sampled_from(["127.0.0.1", "127.0.0.2"])),
    st.tuples(st.just("send"), peer_index, byte_soup),
    st.tuples(st.just("send"), peer_index, command_lines()),
    st.tuples(st.just("send"), peer_index, command_lines()),
    st.tuples(st.just("send"), peer_index, pastes),
    st.tuples(st.just("stall"), peer_index),
    st.tuples(st.just("read"), peer_index),
    st.tuples(st.just("close"), peer_index),
    st.tuples(st.just("end"), peer_index),
    st.tuples(st.just("reset"), peer_index),
    st.tuples(st.just("tick"), st.sampled_from([0.01, 0.2, 1.0, 10.0])),
)
configs = st.builds(
    ServerConfig,
    max_line=st.integers(min_value=16, max_value=200),
    handshake_timeout=st.sampled_from([5.0, 60.0]),
    max_clients=st.sampled_from([0, 3, 4, 6]),
    max_per_ip=st.sampled_from([0, 2, 4]),
    sendq=st.integers(min_value=64, max_value=2048),
    flood_rate=st.sampled_from([0.0, 2.0, 8.0]),
    flood_burst=st.integers(min_value=1, max_value=8),
    history=st.sampled_from([0, 3]),
    history_keep=st.sampled_from([1, 5]),
)
crowds = st.sampled_from([0, 2, 100])


def play(harness: Harness, steps: list[tuple[Any, ...]]) -> None:
    """Three members join, then ``steps`` run; output and registry are checked after each."""
    for nick, host in (("ann", "127.0.0.1"), ("ben", "127.0.0.2"), ("cat", "127.0.0.1")):
        harness.send(harness.connect(host), nick.encode() + b"\n")
    for step in steps:
        kind, *args = step
        peers = harness.peers
        if kind == "connect":
            harness.connect(args[0])
        elif kind == "tick":
            harness.advance(args[0])
        else:
            peer = peers[args[0] % len(peers)]
            if kind == "send":
                harness.send(peer, args[1])
            elif kind == "stall":
                peer.reading = False
            elif kind == "read":
                peer.reading = True
                harness.read(peer)
            elif kind == "end":
                harness.end_input(peer)
            elif kind == "close":
                harness.drop(peer, ConnectionDone())
            elif kind == "reset":
                harness.drop(peer, ConnectionLost())
        for peer in peers:
            assert_clean_output(peer.transport.value())
        assert_registry_sound(harness)
    chats = [peer.chat for peer in harness.peers if peer.chat is not None]
    event(f"members at the end: {min(len(harness.registry), 3)}")
    event(f"rooms at the end: {min(len(harness.registry.rooms), 3)}")
    if any(isinstance(chat.connection.leave_reason, SendQueueExceeded) for chat in chats):
        event("a slow reader was cut")
    if any(chat.paused for chat in chats):
        event("a flooder was paused")


@PROPERTY_SETTINGS
@given(configs, crowds, st.lists(actions, max_size=40))
def test_arbitrary_input_keeps_output_clean_and_registry_sound(config, crowd, steps):
    """Any bytes, commands, stalls, resets and ticks: no exception, clean lines, no ghosts."""
    play(Harness(config, crowd=crowd), steps)


@PROPERTY_SETTINGS
@given(configs, crowds, st.lists(actions, max_size=30))
def test_shutdown_closes_every_connection_within_the_grace_period(config, crowd, steps):
    """Whatever state the clients are in, stopping the server closes them all in time."""
    harness = Harness(config, crowd=crowd)
    play(harness, steps)
    stopped = Farewell(harness.server, harness.clock).stopService()
    done: list[object] = []
    stopped.addBoth(done.append)
    harness.advance(harness.server.config.shutdown_grace + 0.01)
    assert done == [None]
    assert not harness.server.connections
    assert not harness.registry.members
    for peer in harness.peers:
        assert_clean_output(peer.transport.value())


message_texts = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]),
    min_size=1,
    max_size=40,
).filter(lambda text: not text.startswith("/") and bool(text.strip()))


@PROPERTY_SETTINGS
@given(
    st.lists(message_texts, min_size=1, max_size=80),
    st.lists(st.integers(min_value=0, max_value=5000), max_size=10),
    st.sampled_from([0.0, 4.0, 8.0, 50.0]),
    st.integers(min_value=1, max_value=30),
    st.sampled_from(["\n", "\r\n"]),
)
def test_flooded_lines_all_arrive_in_order_and_paced(texts, cuts, rate, burst, ending):
    """A paste in any chunking reaches the room whole, in order, no faster than the bucket."""
    harness = Harness(ServerConfig(flood_rate=rate, flood_burst=burst))
    alice, bob = harness.connect(), harness.connect()
    harness.send(alice, b"alice\n")
    harness.send(bob, b"bob\n")
    bob.received.clear()
    start = harness.clock.seconds()
    stream = "".join(text + ending for text in texts).encode()
    bounds = sorted({0, len(stream), *(cut % (len(stream) + 1) for cut in cuts)})
    for begin, end in pairwise(bounds):
        harness.send(alice, stream[begin:end])

    def delivered() -> list[str]:
        return [line for line in bytes(bob.received).decode().split("\r\n") if line]

    step = 0.5 / rate if rate else 0.0
    for _ in range(4 * len(texts) + 10):
        elapsed = harness.clock.seconds() - start
        if rate:
            assert len(delivered()) <= burst + rate * elapsed + 1e-9
        if len(delivered()) == len(texts):
            break
        harness.advance(step)
    assert delivered() == [f"<alice> {text}" for text in texts]
    assert b"!!!" not in alice.received
    assert_registry_sound(harness)


def test_slow_reader_is_cut_with_a_reason_and_the_others_keep_receiving():
    """A member over its send queue is cut; the room hears why; readers get everything."""
    harness = Harness(ServerConfig(sendq=2048, flood_rate=0), window=1024)
    alice, bob, slow = harness.connect(), harness.connect(), harness.connect()
    for peer, nick in ((alice, b"alice\n"), (bob, b"bob\n"), (slow, b"slow\n")):
        harness.send(peer, nick)
    slow.reading = False
    bob.received.clear()
    for number in range(200):
        harness.send(alice, b"message %03d %s\n" % (number, b"z" * 50))
    lines = bytes(bob.received).decode().split("\r\n")
    assert "*** slow has left (send queue exceeded 2048 bytes)" in lines
    assert [line for line in lines if line.startswith("<")] == [
        f"<alice> message {number:03d} {'z' * 50}" for number in range(200)
    ]
    assert slow.lost and harness.registry.find("slow") is None
    # Memory stays bounded: the socket's share, the send queue, and a line or two over.
    assert len(slow.transport.value()) < 1024 + 2048 + 400
    assert_registry_sound(harness)


def test_handshakes_count_against_the_per_address_limit():
    """Connections still choosing a nickname fill the per-address quota; the next is refused."""
    harness = Harness(ServerConfig(max_per_ip=2))
    first, second = harness.connect(), harness.connect()
    third = harness.connect()
    assert first.chat is not None and second.chat is not None
    assert third.lost
    assert bytes(third.received) == (
        b"!!! too many connections from your address (2); try again later\r\n"
    )
    assert harness.connect("127.0.0.2").chat is not None
    harness.drop(first, ConnectionDone())
    assert harness.connect().chat is not None


def test_telnet_negotiation_counts_against_the_send_queue():
    """A peer that sends telnet requests and never reads is cut at its send queue limit."""
    harness = Harness(ServerConfig(sendq=4096), window=1024)
    peer = harness.connect()
    peer.reading = False
    for _ in range(100):
        harness.send(peer, b"\xff\xfd\x01" * 1000)
    assert peer.lost
    assert len(peer.transport.value()) < 1024 + 4096 + 3000


def test_lines_arriving_while_paused_for_flood_are_kept():
    """Data handed over after the flood pause (TLS records do this) is delayed, not dropped."""
    harness = Harness(ServerConfig())
    alice, bob = harness.connect(), harness.connect()
    harness.send(alice, b"alice\n")
    harness.send(bob, b"bob\n")
    bob.received.clear()
    paste = b"".join(b"line %03d %s\n" % (number, b"x" * 90) for number in range(200))
    alice.protocol.dataReceived(paste[:16384])
    alice.protocol.dataReceived(paste[16384:])
    for _ in range(100):
        harness.advance(0.5)
    lines = [line for line in bytes(bob.received).decode().split("\r\n") if line]
    assert len(lines) == 200
    assert b"!!!" not in alice.received


def test_line_one_byte_over_the_limit_is_refused():
    """A line of max_line + 1 bytes (LF only) is refused like any longer one."""
    harness = Harness(ServerConfig(max_line=32))
    alice, bob = harness.connect(), harness.connect()
    harness.send(alice, b"alice\n")
    harness.send(bob, b"bob\n")
    bob.received.clear()
    harness.send(alice, b"x" * 33 + b"\n")
    assert bytes(bob.received) == b""
    assert b"!!! line too long" in alice.received


def test_nickname_change_by_case_keeps_the_nickname_rules():
    """/nick to a name that folds to the same key still obeys A-Z a-z 0-9 _ -."""
    harness = Harness(ServerConfig())
    peer = harness.connect()
    harness.send(peer, b"kk\n")
    harness.send(peer, "/nick \u212ak\n".encode())
    assert [member.nick for member in harness.registry.members.values()] == ["kk"]
    assert b"!!! nickname" in peer.received


def test_cut_reason_reaches_a_crowded_room():
    """Even in a room over the crowd size, the room hears that a slow reader was cut and why."""
    harness = Harness(ServerConfig(sendq=2048, flood_rate=0), window=1024, crowd=2)
    alice, bob, carol, slow = (harness.connect() for _ in range(4))
    for peer, nick in ((alice, b"alice\n"), (bob, b"bob\n"), (carol, b"carol\n"), (slow, b"s\n")):
        harness.send(peer, nick)
    harness.advance(1)
    slow.reading = False
    for number in range(100):
        harness.send(alice, b"message %03d %s\n" % (number, b"z" * 50))
    harness.advance(1)
    assert slow.lost
    assert b"(send queue exceeded 2048 bytes)" in bob.received


COMMAND_NAMES = sorted(
    name for name in LineProtocol.known_commands()
    if name != "quit"
)
argument_words = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=3),
    st.sampled_from(["lobby", "#dev", "alice", "bob", "on", "off", "1", "0", "1000"]),
)
arguments = st.lists(argument_words, max_size=4).map(" ".join)


@PROPERTY_SETTINGS
@given(st.sampled_from(COMMAND_NAMES), arguments, st.booleans())
@example("history", "²", True)
@example("resume", "lobby ²", False)
@example("resume", "lobby ٣ token", True)
def test_any_arguments_to_any_command_are_answered_and_the_connection_stays(
    name: str, args: str, joined: bool
) -> None:
    """Every command (but /quit) with arbitrary Unicode arguments, before or after the
    nickname, is answered with notices or errors, and the connection stays open."""
    harness = Harness(ServerConfig(flood_rate=0))
    bob = harness.connect()
    harness.send(bob, b"bob\n")
    peer = harness.connect()
    if joined:
        harness.send(peer, b"alice\n")
    peer.transport.take()
    harness.send(peer, f"/{name} {args}\n".encode("utf-8", "surrogatepass"))
    assert not peer.lost and not peer.transport.disconnecting
    answer = peer.transport.take()
    for line in received_lines(answer) if answer else []:
        assert line.startswith(("*** ", "!!! ", "-> *", "[")), line
    assert b"internal error" not in answer
    assert_registry_sound(harness)
