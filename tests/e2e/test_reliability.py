"""The real server under load, faults and bad input, over loopback sockets.

Slow consumers are cut at the send queue, pasted floods are paced without
loss, connection limits refuse with one error line, garbage beside a
conversation does not disturb it, thousands of connect/disconnect cycles
leave no residue, and SIGTERM ends the process promptly whatever the
clients do. Every test also checks that the server logged no traceback.
"""

from __future__ import annotations

import contextlib
import random
import signal
import socket
import ssl
import time
from pathlib import Path

import pytest

from tests.support.certificates import write_self_signed
from tests.support.checked import Client
from tests.support.servers import LINE_TIMEOUT, LineConnection, RunningServer, free_port

pytestmark = pytest.mark.e2e

PAD = "p" * 990
"""Makes each test message about 1 KB, so queues fill with few lines."""

MIB = 1024 * 1024


# Helpers


def client(server: RunningServer, nick: str | None = None) -> Client:
    """A connection that checks every line it receives, joined as ``nick`` if given."""
    connection = Client(server.host, server.port)
    if nick is not None:
        connection.join(nick)
    return connection


class SocketLines(Client):
    """A checked client over a socket the test set up itself."""

    def __init__(self, sock: socket.socket) -> None:
        sock.settimeout(LINE_TIMEOUT)
        self.sock = sock
        self.buffer = b""
        self.seen = []


def stuck_reader(server: RunningServer, nick: str) -> SocketLines:
    """A member with a tiny receive buffer that never reads once it has joined."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect((server.host, server.port))
    connection = SocketLines(sock)
    connection.join(nick)
    return connection


def rss_kib(server: RunningServer) -> int:
    """Resident memory of the server process, in KiB."""
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/PID/status")


def assert_no_traceback(server: RunningServer) -> None:
    """The server's log holds no traceback and no unhandled error."""
    log = server.log()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
    assert "Unhandled" not in log


def lines_ready(connection: LineConnection, wait: float = 0.01) -> list[str]:
    """The complete lines that arrive within ``wait`` seconds, without blocking longer."""
    lines: list[str] = []
    while True:
        try:
            lines.append(connection.read_line(wait))
        except TimeoutError:
            return lines


def heard(connection: LineConnection, prefix: str) -> list[str]:
    """The lines received so far that start with ``prefix``."""
    return [line for line in connection.seen if line.startswith(prefix)]


def who(connection: LineConnection) -> str:
    """The member list of the room, as ``/who`` answers it (notices before it are skipped)."""
    connection.send_line("/who")
    return connection.expect(lambda line: line.startswith("*** ") and " in lobby: " in line)


# Slow consumers


def test_reader_that_never_reads_is_cut_while_the_others_get_every_message(start_server):
    """A member that stops reading is cut at --sendq, the room hears why, readers miss nothing."""
    server = start_server("--sendq", "65536", "--flood", "0")
    stuck = stuck_reader(server, "stuck")
    reader = client(server, "reader")
    sender = client(server, "sender")
    reader.expect("sender has joined")
    baseline = rss_kib(server)
    messages: list[str] = []
    notices: list[str] = []
    deadline = time.monotonic() + 20
    while not notices and len(messages) < 20_000 and time.monotonic() < deadline:
        # In step with the reader, which keeps up and must never be cut itself.
        first = len(messages)
        sender.send("".join(f"m{first + n:06d} {PAD}\n" for n in range(50)))
        while len(messages) < first + 50:
            line = reader.read_line()
            if line.startswith("<sender> "):
                messages.append(line)
            elif "stuck has left" in line:
                notices.append(line)
    assert notices == ["*** stuck has left (send queue exceeded 65536 bytes)"]
    assert messages == [f"<sender> m{number:06d} {PAD}" for number in range(len(messages))]
    stuck.read_until_closed(timeout=10)
    assert "stuck" not in who(reader)
    assert rss_kib(server) - baseline < 32 * 1024
    assert_no_traceback(server)


def test_telnet_negotiation_from_a_peer_that_never_reads_is_cut(start_server):
    """A peer flooding telnet requests and reading nothing is cut; server memory stays bounded."""
    server = start_server("--sendq", "65536")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect((server.host, server.port))
    sock.settimeout(10)
    baseline = rss_kib(server)
    chunk = b"\xff\xfd\x01" * (MIB // 3)
    sent = 0
    cut = False
    with contextlib.closing(sock):
        try:
            while sent < 8 * MIB:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            cut = True
        time.sleep(0.5)  # lets the server read what is still in its socket buffer
        grown = rss_kib(server) - baseline
    assert_no_traceback(server)
    assert cut, f"still connected after {sent} bytes of requests; server grew {grown} KiB"
    assert grown < 4 * 1024, f"server grew {grown} KiB answering {sent} bytes of requests"


# Floods


def test_paste_of_200_lines_arrives_whole_in_order_and_paced(start_server):
    """200 lines pasted at once all arrive, in order, the first burst at once, the rest paced."""
    server = start_server("--flood", "40", "--flood-burst", "30")
    bob = client(server, "bob")
    alice = client(server, "alice")
    bob.expect("alice has joined")
    expected = [f"<alice> pasted line {number:03d}" for number in range(200)]
    alice.send("".join(f"pasted line {number:03d}\n" for number in range(200)))
    start = time.monotonic()
    arrivals: list[float] = []
    received: list[str] = []
    for _ in expected:
        received.append(bob.expect("<alice>", timeout=10))
        arrivals.append(time.monotonic() - start)
    assert received == expected
    assert arrivals[29] < 1.0
    paced = (200 - 30) / 40
    assert paced * 0.8 < arrivals[-1] < paced + 3
    assert not [line for line in lines_ready(alice) if line.startswith("!!!")]
    assert_no_traceback(server)


def test_paste_over_tls_arrives_whole_and_in_order(start_server, tmp_path):
    """The same paste through an ssl: listener arrives whole and in order."""
    pem = write_self_signed(tmp_path, "127.0.0.1")
    port = free_port()
    server = start_server(
        "--listen",
        f"ssl:{port}:interface=127.0.0.1:privateKey={pem}:certKey={pem}",
        "--flood", "100",
    )
    bob = client(server, "bob")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    secure = context.wrap_socket(socket.create_connection((server.host, port), timeout=5))
    alice = SocketLines(secure)
    alice.join("alice")
    bob.expect("alice has joined")
    expected = [f"<alice> pasted line {number:03d} {PAD[:100]}" for number in range(200)]
    # Corked, the whole paste leaves in as few segments as possible, as a real paste would.
    secure.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    secure.sendall("".join(f"pasted line {number:03d} {PAD[:100]}\n" for number in range(200))
                   .encode())
    secure.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
    received: list[str] = []
    deadline = time.monotonic() + 5
    while len(received) < len(expected) and time.monotonic() < deadline:
        received += [line for line in lines_ready(bob, 0.2) if line.startswith("<alice>")]
    errors = [line for line in lines_ready(alice) if line.startswith("!!!")]
    alice.close()
    assert_no_traceback(server)
    assert errors == []
    assert received == expected


# Limits


def test_connection_over_the_per_address_limit_gets_one_error_line(start_server):
    """With --max-per-ip 2, handshakes count; the third connection gets one error line, then EOF."""
    server = start_server("--max-per-ip", "2")
    waiting = client(server)
    waiting.expect("choose a nickname")
    bob = client(server, "bob")
    refused = client(server)
    assert refused.read_until_closed() == (
        b"!!! too many connections from your address (2); try again later\r\n"
    )
    waiting.close()
    deadline = time.monotonic() + 5
    while True:  # the place is free once the server has seen the close
        retry = client(server)
        first = retry.read_line()
        retry.close()
        if not first.startswith("!!!") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not first.startswith("!!!")
    bob.close()
    assert_no_traceback(server)


def test_connection_over_max_clients_gets_one_error_line(start_server):
    """With --max-clients 2, the third connection is told the server is full, then closed."""
    server = start_server("--max-clients", "2", "--max-per-ip", "0")
    alice = client(server, "alice")
    waiting = client(server)
    waiting.expect("choose a nickname")
    refused = client(server)
    assert refused.read_until_closed() == (
        b"!!! the server is full (2 connections); try again later\r\n"
    )
    alice.close()
    waiting.close()
    assert_no_traceback(server)


def test_overlong_and_unterminated_input_is_refused_and_memory_stays_bounded(server):
    """An over-long line and 32 MiB without a newline each get one error; the next line works."""
    alice = client(server, "alice")
    bob = client(server, "bob")
    alice.expect("bob has joined")
    baseline = rss_kib(server)
    alice.send(b"x" * 5000 + b"\n")
    assert alice.expect("!!!").startswith("!!! line too long (5000 bytes; the limit is 2048")
    blob = b"y" * MIB
    for _ in range(32):
        alice.send(blob)
    alice.send(b"\nafter the blob\n")
    assert bob.expect("<alice>") == "<alice> after the blob"
    errors = [line for line in lines_ready(alice, 0.2) if line.startswith("!!!")]
    assert errors == [
        "!!! line too long (more than 2048 bytes; the limit is 2048 bytes): it was not sent"
    ]
    assert rss_kib(server) - baseline < 8 * 1024
    assert_no_traceback(server)


# Bad input beside a conversation


NOISE_PIECES = [
    b"\n", b"\r\n", b"\x00\x01\x02\x07\x08", b"\x1b[2J\x1b[H", b"\x1b]0;owned\x07",
    "\u202eevil\u202c".encode(), b"\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc", b"\xff\xfd\x06",
    b"\xff\xf4\xff\xfd\x06", b"\xff\xf6", b"\xff\xfa\x18\x01\xff\xf0", b"/nick alice\n",
    b"/nick BOB\n", b"/msg alice \x1b[31mhi\n", b"/me \x07\x07\n", b"/who\n", b"/help\n",
    b"/nope\n", b"z" * 3000 + b"\n", b"/quit\n",
]


def noise(rng: random.Random) -> bytes:
    """A few hundred bytes of garbage: random bytes, bad UTF-8, escapes, telnet, commands."""
    parts = [rng.randbytes(rng.randrange(1, 200)) for _ in range(rng.randrange(0, 3))]
    parts += rng.choices(NOISE_PIECES, k=rng.randrange(1, 6))
    rng.shuffle(parts)
    return b"".join(parts)


def test_thirty_garbage_connections_do_not_disturb_a_conversation(start_server):
    """30 connections sending garbage for 4 s: alice and bob get each other's words, all clean."""
    server = start_server("--max-per-ip", "40")
    alice = client(server, "alice")
    bob = client(server, "bob")
    alice.expect("bob has joined")
    rng = random.Random(20_240_101)
    noisy: list[socket.socket] = []
    for _ in range(30):
        sock = socket.create_connection((server.host, server.port), timeout=5)
        sock.setblocking(False)
        noisy.append(sock)
    said = 0
    deadline = time.monotonic() + 4
    next_line = time.monotonic()
    try:
        while time.monotonic() < deadline:
            for sock in rng.sample(noisy, 10):
                with contextlib.suppress(BlockingIOError, ConnectionError):
                    sock.send(noise(rng))
                with contextlib.suppress(BlockingIOError, ConnectionError):
                    sock.recv(65536)
            if time.monotonic() >= next_line:
                alice.send_line(f"from alice {said:02d}")
                bob.send_line(f"from bob {said:02d}")
                said += 1
                next_line += 0.125
            lines_ready(alice, 0.0005)
            lines_ready(bob, 0.0005)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            len(heard(alice, "<bob> from bob")) < said
            or len(heard(bob, "<alice> from alice")) < said
        ):
            lines_ready(alice, 0.05)
            lines_ready(bob, 0.05)
    finally:
        for sock in noisy:
            sock.close()
    alice_heard = heard(alice, "<bob> from bob")
    bob_heard = heard(bob, "<alice> from alice")
    assert said >= 25
    assert alice_heard == [f"<bob> from bob {number:02d}" for number in range(said)]
    assert bob_heard == [f"<alice> from alice {number:02d}" for number in range(said)]
    assert_no_traceback(server)


# Faults and residue


def cycle(server: RunningServer, number: int) -> None:
    """One short life of a connection, ended in one of six ways."""
    nick = f"cyc{number % 40}"
    connection = client(server)
    way = number % 6
    if way == 0:  # joins and quits politely
        connection.send(f"{nick}\n/quit done\n")
        connection.read_until_closed()
    elif way == 1:  # joins, then resets
        connection.send_line(nick)
        connection.expect(lambda line: "Welcome, " in line or line.startswith("!!!"))
        connection.reset()
    elif way == 2:  # gives up during the handshake
        connection.close()
    elif way == 3:  # resets in the middle of a line
        connection.send(nick)
        connection.reset()
    elif way == 4:  # asks for output and vanishes while it is written
        connection.send(f"{nick}\n" + "/help\n" * 5)
        connection.reset()
    else:  # says something and closes without reading
        connection.send(f"{nick}\nhello from {nick}\n")
        connection.close()


def test_thousands_of_connect_disconnect_cycles_leave_no_residue(start_server):
    """2000 joins, quits, resets and abandoned handshakes: no ghost, nicknames free, no growth."""
    server = start_server("--max-per-ip", "0")
    observer = client(server, "observer")

    def run(first: int, count: int) -> None:
        for number in range(first, first + count):
            cycle(server, number)
            if number % 50 == 49:
                who(observer)  # lets the server catch up, and drains the notices

    def alone() -> bool:
        deadline = time.monotonic() + 10
        while who(observer) != "*** 1 user in lobby: observer":
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    run(0, 300)
    assert alone()
    baseline = rss_kib(server)
    start = time.monotonic()
    run(300, 2000)
    elapsed = time.monotonic() - start
    assert alone()
    grown = rss_kib(server) - baseline
    joins = sum(1 for line in observer.seen if line.startswith("*** cyc") and "has joined" in line)
    leaves = sum(1 for line in observer.seen if line.startswith("*** cyc") and "has left" in line)
    assert joins == leaves > 1000
    assert grown < 4 * 1024, f"server grew {grown} KiB over 2000 cycles"
    assert elapsed < 30
    for number in range(40):
        client(server, f"cyc{number}").close()
    assert_no_traceback(server)


def test_every_connection_has_tcp_keepalive_on(server):
    """Half-open peers are found: the server's sockets run the TCP keepalive timer."""
    connections = [client(server, "alice"), client(server)]
    ports = {connection.sock.getsockname()[1] for connection in connections}
    time.sleep(0.2)
    timers = {}
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        local, remote = (int(address.split(":")[1], 16) for address in fields[1:3])
        if local == server.port and remote in ports:
            timers[remote] = fields[5].split(":")[0]
    assert timers == dict.fromkeys(ports, "02")  # 02: the keepalive timer is running


# Shutdown


def test_sigterm_with_a_stuck_reader_exits_within_the_grace_period(start_server):
    """SIGTERM with a member that reads nothing, one mid-handshake and one talking: out in ~3 s."""
    server = start_server("--flood", "0", "--sendq", str(64 * MIB))
    stuck = stuck_reader(server, "stuck")
    listener = client(server, "listener")
    talker = client(server, "talker")
    listener.expect("talker has joined")
    mute = client(server)
    # More than the kernel buffers of the stuck socket hold (up to 4 MiB on Linux).
    count = 8000
    talker.send("".join(f"t{number:05d} {PAD}\n" for number in range(count)))
    listener.expect(f"<talker> t{count - 1:05d}", timeout=20)
    assert "stuck" in who(talker)
    talker.send("still talking\n" * 20)
    started = time.monotonic()
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    farewell = listener.read_until_closed(timeout=10)
    status = server.process.wait(10)
    elapsed = time.monotonic() - started
    assert b"*** The server is shutting down" in farewell
    assert status in (0, -signal.SIGTERM)
    assert elapsed < 3 + 2.5
    log = server.log()
    assert "still open after 3.0s" in log
    assert "Server Shut Down." in log
    assert_no_traceback(server)
    for connection in (stuck, mute, talker):
        connection.close()

