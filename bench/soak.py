"""Soak test for the tcpchat server: many clients joining, chatting, misbehaving, leaving.

Run by hand, not by the test suite::

    python bench/soak.py --seconds 60 --clients 40

It starts the real server (``twistd -n tcpchat`` with its default limits) in
a temporary directory on a free loopback port and, for ``--seconds``, runs
three kinds of client, each an asyncio task living one connection after
another:

- residents join first and stay to the end, reading everything; they are
  the judges of delivery;
- chatters join, send numbered messages (now and then a paste of dozens of
  lines at once, which the server paces) and leave with ``/quit``;
- misbehavers inject one fault after another: resets, vanishing while the
  server writes, abandoned handshakes, half-closes, readers that never read
  (and ask for history), garbage bytes, over-long and unterminated lines,
  telnet commands, and more connections from one address than allowed.

Then every resident must hold every numbered message the others sent,
exactly once and in each sender's order (``lost`` must be 0), no line any
resident received may hold a control character, the room must be back to
the residents alone, and SIGTERM must end the server promptly. The report
goes to standard output; the exit status is 1 if any check failed.

Clients connect from the source addresses 127.0.0.2 and up (the server
always listens on 127.0.0.1), a few clients per address, so that the
per-address limit applies to them as it would to real users.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.checked import unsafe_characters  # noqa: E402
from tests.support.servers import HOST, RunningServer  # noqa: E402

PER_ADDRESS = 6
"""Clients sharing one source address (the server allows 16 by default)."""

IO_TIMEOUT = 30.0


@dataclass
class Tally:
    """What happened during the soak, for the report and the verdict."""

    connections: int = 0
    sent: dict[str, list[int]] = field(default_factory=dict)
    """Numbered messages per sender nickname, counted once its life ended cleanly."""
    received: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    """For each resident, the numbers it received from each sender."""
    faults: Counter[str] = field(default_factory=Counter)
    bad_inputs: Counter[str] = field(default_factory=Counter)
    bad_input_bytes: int = 0
    never_readers: set[str] = field(default_factory=set)
    """Nicknames of the readers that never read."""
    cut_seen: set[str] = field(default_factory=set)
    """Those of them that saw the server cut them off."""
    cut_notices: Counter[str] = field(default_factory=Counter)
    """Notices "NICK has left (send queue exceeded ...)" the residents got, per nickname."""
    refusals: Counter[str] = field(default_factory=Counter)
    dirty_lines: list[str] = field(default_factory=list)
    unexpected: Counter[str] = field(default_factory=Counter)
    slot_release_wait: float = 0.0
    """Longest a probe waited for the server to stop counting closed connections."""
    pastes: int = 0
    pasted_lines: int = 0
    rss_samples: list[int] = field(default_factory=list)


@dataclass
class Outcome:
    """How the run ended: its length, its cast, and the state it left the server in."""

    elapsed: float
    residents: int
    chatters: int
    misbehavers: int
    who: str
    rss_end: int
    peak: int
    late: int
    stop_seconds: float
    farewells: int
    cpu: float
    """Share of one core the server used while clients came and went."""


class Line:
    """A connection with line reading and a way to end it abruptly."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(
        cls, port: int, source: str, receive_buffer: int = 0, limit: int = 1 << 20
    ) -> Line:
        """Connect from ``source``; ``limit`` bounds what asyncio reads ahead (twice that)."""
        sock = socket.socket()
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.bind((source, 0))
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (HOST, port)), IO_TIMEOUT)
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock, limit=limit)
        return cls(reader, writer)

    async def line(self, timeout: float = IO_TIMEOUT) -> str | None:
        """The next line without its CRLF, or None at the end of the stream."""
        raw = await asyncio.wait_for(self.reader.readline(), timeout)
        if not raw:
            return None
        return raw.rstrip(b"\r\n").decode("utf-8")

    async def until(self, wanted: Callable[[str], bool], timeout: float = IO_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = await self.line(max(0.01, deadline - time.monotonic()))
            if line is None:
                raise ConnectionError("closed while waiting")
            if wanted(line):
                return line

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), IO_TIMEOUT)

    async def join(self, nick: str) -> str:
        await self.until(lambda line: "choose a nickname" in line)
        await self.send(nick.encode() + b"\n")
        return await self.until(lambda line: line.startswith(("*** Welcome, ", "!!! ")))

    async def read_to_end(self, timeout: float = IO_TIMEOUT) -> list[str]:
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while (line := await self.line(max(0.01, deadline - time.monotonic()))) is not None:
            lines.append(line)
        return lines

    def reset(self) -> None:
        """End with a TCP reset, dropping whatever is unsent."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def close(self) -> None:
        self.writer.close()


class Soak:
    """The clients, the server they talk to, and the tally they keep."""

    def __init__(self, options: argparse.Namespace, server: RunningServer) -> None:
        self.options = options
        self.server = server
        self.port = server.port
        self.rng = random.Random(options.seed)
        self.tally = Tally()
        self.stop_at = 0.0
        self.residents: list[str] = []
        self._generation: Counter[str] = Counter()

    @property
    def running(self) -> bool:
        return time.monotonic() < self.stop_at

    def source(self, index: int) -> str:
        return f"127.0.0.{2 + index // PER_ADDRESS}"

    async def connect(self, index: int, receive_buffer: int = 0, limit: int = 1 << 20) -> Line:
        self.tally.connections += 1
        return await Line.open(self.port, self.source(index), receive_buffer, limit)

    def nick(self, role: str, index: int) -> str:
        self._generation[f"{role}{index}"] += 1
        return f"{role}{index}g{self._generation[f'{role}{index}']}"

    # Residents

    async def resident(self, index: int, joined: asyncio.Event, done: asyncio.Event) -> Line:
        nick = f"resident{index}"
        connection = await self.connect(index)
        welcome = await connection.join(nick)
        assert welcome.startswith("*** Welcome, "), welcome
        self.residents.append(nick)
        received: dict[str, list[int]] = defaultdict(list)
        self.tally.received[nick] = received
        joined.set()
        reading = asyncio.create_task(self._judge(connection, received))
        sent: list[int] = []
        self.tally.sent[nick] = sent
        while self.running:
            await asyncio.sleep(self.rng.uniform(0.3, 1.5))
            sent.append(len(sent))
            await connection.send(f"soak {len(sent) - 1} resident chatter\n".encode())
        await done.wait()
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        return connection

    async def _judge(self, connection: Line, received: dict[str, list[int]]) -> None:
        while True:
            try:
                line = await connection.line(timeout=3600)
            except UnicodeDecodeError as error:
                self.tally.dirty_lines.append(f"not UTF-8: {error}")
                continue
            if line is None:
                self.tally.unexpected["a resident was disconnected"] += 1
                return
            if unsafe_characters(line):
                self.tally.dirty_lines.append(repr(line))
            if line.startswith("<"):
                sender, _, text = line[1:].partition("> ")
                words = text.split(" ")
                if len(words) >= 2 and words[0] == "soak" and words[1].isdigit():
                    received[sender].append(int(words[1]))
            elif "(send queue exceeded" in line:
                self.tally.cut_notices[line.split(" ")[1]] += 1

    # Chatters

    async def chatter(self, index: int) -> None:
        while self.running:
            nick = self.nick("c", index)
            sent: list[int] = []
            try:
                await self._chat_once(index, nick, sent)
            except (OSError, TimeoutError, ConnectionError, asyncio.IncompleteReadError) as error:
                self.tally.unexpected[f"chatter: {type(error).__name__}"] += 1
                continue
            self.tally.sent[nick] = sent

    async def _chat_once(self, index: int, nick: str, sent: list[int]) -> None:
        connection = await self.connect(index)
        try:
            welcome = await connection.join(nick)
            if not welcome.startswith("*** Welcome, "):
                raise ConnectionError(welcome)
            draining = asyncio.create_task(connection.read_to_end(timeout=300))
            for _ in range(self.rng.randrange(1, 25)):
                if not self.running:
                    break
                count = self.rng.choice([40, 60, 80, 120, 200])
                # A paste is paced at the default 8 lines/s: only start what can end in time.
                if self.rng.random() < 0.06 and self.stop_at - time.monotonic() > count / 8 + 5:
                    paste = "".join(
                        f"soak {len(sent) + n} pasted line {n} of {count}\n" for n in range(count)
                    )
                    sent.extend(range(len(sent), len(sent) + count))
                    self.tally.pastes += 1
                    self.tally.pasted_lines += count
                    await connection.send(paste.encode())
                else:
                    text = self.rng.choice(["hello", "how are you", "é 日本 🙂", "x" * 300])
                    sent.append(len(sent))
                    await connection.send(f"soak {len(sent) - 1} {text}\n".encode())
                await asyncio.sleep(self.rng.uniform(0.2, 0.8))
            await connection.send(b"/quit see you\n")
            lines = await asyncio.wait_for(draining, 300)
            if "*** Bye" not in lines:
                raise ConnectionError("no Bye after /quit")
        finally:
            connection.close()

    # Misbehavers

    async def misbehaver(self, index: int, prober: bool) -> None:
        faults: list[tuple[str, Callable[[int], Awaitable[None]]]] = [
            ("reset after joining", self.reset_after_joining),
            ("vanished while the server wrote", self.vanish_mid_write),
            ("abandoned handshake", self.abandon_handshake),
            ("half-close (nc -N)", self.half_close),
            ("reader that never reads", self.never_reads),
            ("garbage", self.garbage),
        ]
        if prober:
            faults = [("more connections than allowed from one address", self.over_the_limit)]
        while self.running:
            name, fault = self.rng.choice(faults)
            try:
                await fault(index)
            except (OSError, TimeoutError, ConnectionError, asyncio.IncompleteReadError) as error:
                self.tally.unexpected[f"{name}: {type(error).__name__}"] += 1
                continue
            self.tally.faults[name] += 1
            pause = (0.5, 1.5) if prober else (0.05, 0.5)
            await asyncio.sleep(self.rng.uniform(*pause))

    async def reset_after_joining(self, index: int) -> None:
        connection = await self.connect(index)
        await connection.join(self.nick("m", index))
        await connection.send(b"soon gone\n" * self.rng.randrange(0, 5))
        await asyncio.sleep(self.rng.uniform(0, 1))
        connection.reset()

    async def vanish_mid_write(self, index: int) -> None:
        connection = await self.connect(index)
        await connection.join(self.nick("m", index))
        await connection.send(self.rng.choice([b"/help\n" * 5, b"/history 1000\n", b"/who\n"]))
        connection.reset()

    async def abandon_handshake(self, index: int) -> None:
        connection = await self.connect(index)
        if self.rng.random() < 0.5:
            await connection.send(b"half-a-nick")
        if self.rng.random() < 0.5:
            connection.reset()
        else:
            connection.close()

    async def half_close(self, index: int) -> None:
        connection = await self.connect(index)
        nick = self.nick("m", index)
        await connection.send(f"{nick}\nbye from a half-closed peer\n".encode())
        connection.writer.write_eof()
        await connection.read_to_end()
        connection.close()

    async def never_reads(self, index: int) -> None:
        connection = await self.connect(index, receive_buffer=4096, limit=4096)
        nick = self.nick("m", index)
        await connection.join(nick)
        self.tally.never_readers.add(nick)
        deadline = min(time.monotonic() + 25, self.stop_at + 5)
        try:
            while time.monotonic() < deadline and not connection.writer.transport.is_closing():
                connection.writer.write(b"/history 1000\n")
                await asyncio.wait_for(connection.writer.drain(), 5)
                await asyncio.sleep(0.15)
        except ConnectionError:
            pass
        finally:
            if connection.writer.transport.is_closing() or connection.reader.at_eof():
                self.tally.cut_seen.add(nick)
            connection.reset()

    async def garbage(self, index: int) -> None:
        connection = await self.connect(index)
        drain = asyncio.create_task(connection.reader.read(-1))
        until = time.monotonic() + self.rng.uniform(0.5, 3)
        try:
            while time.monotonic() < until:
                kind, data = self.bad_input()
                self.tally.bad_inputs[kind] += 1
                self.tally.bad_input_bytes += len(data)
                await connection.send(data)
                await asyncio.sleep(self.rng.uniform(0, 0.05))
        except ConnectionError:
            # Garbage may hold a valid nickname and then /quit: the server closes.
            self.tally.faults["garbage that ended in /quit"] += 1
        finally:
            if self.rng.random() < 0.5:
                connection.reset()
            else:
                connection.close()
            drain.cancel()
            with contextlib.suppress(BaseException):
                await drain

    def bad_input(self) -> tuple[str, bytes]:
        rng = self.rng
        kinds: list[tuple[str, Callable[[], bytes]]] = [
            ("random bytes", lambda: rng.randbytes(rng.randrange(1, 2000))),
            ("invalid UTF-8", lambda: b"\xc3\x28 \xa0\xa1 \xe2\x28\xa1 \xf0\x28\x8c\xbc \xff\n"),
            ("C0/C1 controls", lambda: "\x00\x07\x08\x1b\x7f\u0085\u009b text\n".encode()),
            ("ANSI escapes", lambda: b"\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b[31mred\x1b[0m\n"),
            ("bidi overrides", lambda: "\u202egnp.exe\u202c \u2066x\u2069\n".encode()),
            ("telnet commands", lambda: b"\xff\xfd\x01\xff\xfb\x03\xff\xf4\xff\xfd\x06\xff\xf6"),
            ("telnet subnegotiation", lambda: b"\xff\xfa\x18\x01\xff\xf0"),
            ("over-long line", lambda: b"L" * rng.randrange(2100, 10_000) + b"\n"),
            ("unterminated blob", lambda: b"U" * rng.randrange(10_000, 300_000)),
            (
                "bad commands",
                lambda: rng.choice(
                    [
                        b"/nick\n",
                        b"/msg\n",
                        b"/nope\n",
                        b"/join bad room\n",
                        b"/history -1\n",
                        b"/resume x\n",
                        b"//\n",
                        b"/\n",
                        b"/me\n",
                        b"/nick resident0\n",
                    ]
                ),
            ),
            (
                "nickname attacks",
                lambda: rng.choice(
                    [
                        b"resident0\n",
                        b"RESIDENT1\n",
                        "\u212aelvin\n".encode(),
                        b"a" * 21 + b"\n",
                        b"bad nick\n",
                        b"\xff\xfe\n",
                    ]
                ),
            ),
            ("CR/LF games", lambda: b"a\rb\r\r\n\n\r\nc\r"),
        ]
        kind, make = rng.choice(kinds)
        return kind, make()

    async def over_the_limit(self, index: int) -> None:
        """Take an address of its own, fill its quota with handshakes, expect one refusal.

        The previous probe's connections are closed, but the server counts them
        until it has seen them close: a fill that meets a refusal starts again.
        """
        source = f"127.0.1.{1 + index % 250}"
        began = time.monotonic()
        while True:
            opened: list[Line] = []
            try:
                if await self._fill(source, opened):
                    self.tally.connections += 1
                    extra = await Line.open(self.port, source)
                    opened.append(extra)
                    lines = await extra.read_to_end(timeout=10)
                    if len(lines) == 1 and lines[0].startswith("!!! too many connections"):
                        self.tally.refusals["one error line, then closed"] += 1
                    else:
                        self.tally.refusals[f"unexpected: {lines[:2]}"] += 1
                    return
            finally:
                for connection in opened:
                    connection.close()
            waited = time.monotonic() - began
            self.tally.slot_release_wait = max(self.tally.slot_release_wait, waited)
            if waited > 30:
                raise ConnectionError(f"{source} still counted 30 s after its connections closed")
            await asyncio.sleep(0.25)

    async def _fill(self, source: str, opened: list[Line]) -> bool:
        """Open --max-per-ip handshakes from ``source``; False if one is refused."""
        for _ in range(self.options.max_per_ip):
            self.tally.connections += 1
            connection = await Line.open(self.port, source)
            opened.append(connection)
            first = await connection.until(
                lambda line: "choose a nickname" in line or line.startswith("!!!")
            )
            if first.startswith("!!!"):
                return False
        return True

    # The run

    def sample_memory(self) -> None:
        rss, _ = memory_kib(self.server)
        self.tally.rss_samples.append(rss)

    async def run(self) -> Outcome:
        options = self.options
        residents_count = max(3, options.clients // 8)
        misbehavers = max(2, options.clients // 3)
        chatters = max(1, options.clients - residents_count - misbehavers)
        joined = [asyncio.Event() for _ in range(residents_count)]
        done = asyncio.Event()
        self.stop_at = time.monotonic() + options.seconds + 60
        residents = [
            asyncio.create_task(self.resident(index, joined[index], done))
            for index in range(residents_count)
        ]
        for event in joined:
            await asyncio.wait_for(event.wait(), IO_TIMEOUT)
        self.sample_memory()
        started = time.monotonic()
        cpu_at_start = cpu_seconds(self.server)
        self.stop_at = started + options.seconds
        workers = [
            asyncio.create_task(self.chatter(residents_count + index)) for index in range(chatters)
        ]
        workers += [
            # Every eighth misbehaver, from the first, only probes the per-address limit.
            asyncio.create_task(self.misbehaver(residents_count + chatters + index, index % 8 == 0))
            for index in range(misbehavers)
        ]
        while self.running:
            await asyncio.sleep(1)
            self.sample_memory()
        finished, late = await asyncio.wait(workers, timeout=120)
        for task in late:
            task.cancel()
        for task in finished:
            if task.exception() is not None:
                self.tally.unexpected[f"worker crashed: {task.exception()!r}"] += 1
        wound_down = time.monotonic() - started
        cpu = (cpu_seconds(self.server) - cpu_at_start) / wound_down
        await self.settle()
        who = await self.who(residents_count)
        done.set()
        connections = await asyncio.gather(*residents)
        rss_end, peak = memory_kib(self.server)
        stuck = await self.fill_the_kernel(await self.connect(0, receive_buffer=4096, limit=4096))
        stop_seconds, farewells = await self.terminate(connections)
        stuck.close()
        return Outcome(
            wound_down,
            residents_count,
            chatters,
            misbehavers,
            who,
            rss_end,
            peak,
            len(late),
            stop_seconds,
            farewells,
            cpu,
        )

    async def fill_the_kernel(self, stuck: Line) -> Line:
        """Make a member that never reads until the kernel holds all it can for it.

        From then on the server itself holds its output, so closing it politely
        cannot finish: shutdown has to give up on it after the grace period.
        """
        await stuck.join("stuck")
        client_port = stuck.writer.get_extra_info("sockname")[1]
        unchanged, last = 0, -1
        deadline = time.monotonic() + 20
        while unchanged < 3 and time.monotonic() < deadline:
            await stuck.send(b"/history 1000\n")
            await asyncio.sleep(0.3)
            queued = kernel_send_queue(self.port, client_port)
            unchanged = unchanged + 1 if queued == last else 0
            last = queued
        await stuck.send(b"/history 1000\n")
        return stuck

    async def terminate(self, residents: list[Line]) -> tuple[float, int]:
        """SIGTERM with the residents and a reader that never reads still connected.

        Returns the seconds until the process ended and how many residents
        were told that the server is shutting down.
        """
        process = self.server.process
        assert process is not None
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        heard = await asyncio.gather(*(resident.read_to_end() for resident in residents))
        while process.poll() is None and time.monotonic() - began < 30:
            await asyncio.sleep(0.02)
        seconds = time.monotonic() - began
        told = sum(any("shutting down" in line for line in lines) for lines in heard)
        return seconds, told

    def deliveries(self) -> tuple[int, int, int, int]:
        """Expected, delivered, lost and out-of-order deliveries to the residents."""
        expected = delivered = lost = disordered = 0
        for judge, received in self.tally.received.items():
            for sender, numbers in self.tally.sent.items():
                if sender == judge:
                    continue
                got = received.get(sender, [])
                expected += len(numbers)
                delivered += len(got)
                lost += len(set(numbers) - set(got))
                disordered += got != sorted(got) or len(got) != len(set(got))
        return expected, delivered, lost, disordered

    async def settle(self, timeout: float = 30) -> None:
        """Wait until every resident holds every message, or the timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.deliveries()[2]:
            await asyncio.sleep(0.2)

    async def who(self, residents: int, timeout: float = 15) -> str:
        """Join as an inspector and ask /who until only the residents (and it) remain."""
        inspector = await self.connect(0)
        await inspector.join("inspector")
        wanted = f"*** {residents + 1} users in lobby: "
        deadline = time.monotonic() + timeout
        answer = ""
        while time.monotonic() < deadline:
            await inspector.send(b"/who\n")
            answer = await inspector.until(lambda line: " in lobby: " in line)
            if answer.startswith(wanted):
                break
            await asyncio.sleep(0.25)
        await inspector.send(b"/quit\n")
        await inspector.read_to_end()
        return answer


def kernel_send_queue(server_port: int, client_port: int) -> int:
    """Bytes the kernel holds for the server's side of one connection (/proc/net/tcp)."""
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        local, remote = (int(address.split(":")[1], 16) for address in fields[1:3])
        if (local, remote) == (server_port, client_port):
            return int(fields[4].split(":")[0], 16)
    return -1


def cpu_seconds(server: RunningServer) -> float:
    """User and system CPU time of the server process so far."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(server: RunningServer) -> tuple[int, int]:
    """VmRSS and VmHWM (peak) of the server process, in KiB."""
    assert server.process is not None
    values: dict[str, int] = {}
    for row in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        name, _, rest = row.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def report(soak: Soak, outcome: Outcome, tracebacks: int) -> bool:
    """Print the figures and say whether every check held."""
    tally = soak.tally
    expected, delivered, lost, disordered = soak.deliveries()
    messages = sum(len(numbers) for numbers in tally.sent.values())
    residents = outcome.residents
    rss_start = tally.rss_samples[0]
    who = outcome.who
    clean_room = who.startswith(f"*** {residents + 1} users in lobby: ")
    cut = set(tally.cut_notices)
    every_resident_told = all(count == residents for count in tally.cut_notices.values())
    checks = [
        ("messages lost", lost == 0, str(lost)),
        ("deliveries duplicated or out of order", disordered == 0, str(disordered)),
        ("lines with control characters", not tally.dirty_lines, str(len(tally.dirty_lines))),
        ("tracebacks in the server log", tracebacks == 0, str(tracebacks)),
        ("unexpected client errors", not tally.unexpected, str(sum(tally.unexpected.values()))),
        ("room after everyone left", clean_room, who),
        (
            "only readers that never read were cut, every resident told",
            cut <= tally.never_readers and tally.cut_seen <= cut and every_resident_told,
            f"{len(cut)} cut of {len(tally.never_readers)}, "
            f"{sum(tally.cut_notices.values())} notices to {residents} residents",
        ),
        (
            "refusals as one error line",
            set(tally.refusals) <= {"one error line, then closed"},
            str(dict(tally.refusals)),
        ),
        ("SIGTERM to exit", outcome.stop_seconds < 3 + 3, f"{outcome.stop_seconds:.2f} s"),
        (
            "residents told of the shutdown",
            outcome.farewells == residents,
            f"{outcome.farewells} of {residents}",
        ),
        ("clients finished in time", outcome.late == 0, f"{outcome.late} still busy"),
    ]
    rows = [
        (
            "load",
            f"{soak.options.seconds:g} s, then {outcome.elapsed - soak.options.seconds:.1f}"
            " s for the last clients to finish",
        ),
        (
            "clients at once",
            f"{soak.options.clients}: {residents} residents, "
            f"{outcome.chatters} chatters, {outcome.misbehavers} misbehavers",
        ),
        ("connections made", str(tally.connections)),
        ("messages sent (numbered)", f"{messages} ({messages / outcome.elapsed:.0f}/s)"),
        ("  of which pasted", f"{tally.pasted_lines} lines in {tally.pastes} pastes"),
        ("deliveries expected", str(expected)),
        ("deliveries made", str(delivered)),
        ("messages lost", str(lost)),
        ("faults injected", str(sum(tally.faults.values()))),
        *((f"  {name}", str(count)) for name, count in sorted(tally.faults.items())),
        ("readers that never read, cut at --sendq", f"{len(cut)} of {len(tally.never_readers)}"),
        ("over-limit connections refused", str(sum(tally.refusals.values()))),
        ("  longest wait for closed ones to stop counting", f"{tally.slot_release_wait:.2f} s"),
        ("bad inputs sent", f"{sum(tally.bad_inputs.values())} ({tally.bad_input_bytes} bytes)"),
        *((f"  {name}", str(count)) for name, count in sorted(tally.bad_inputs.items())),
        ("server CPU while clients came and went", f"{outcome.cpu:.0%} of one core"),
        ("server memory at start", f"{rss_start / 1024:.1f} MiB"),
        ("server memory, peak", f"{outcome.peak / 1024:.1f} MiB"),
        ("server memory at end", f"{outcome.rss_end / 1024:.1f} MiB"),
        (
            "SIGTERM to exit",
            f"{outcome.stop_seconds:.2f} s with {residents} residents and "
            "1 reader that never reads connected",
        ),
    ]
    width = max(len(name) for name, _ in rows + [(c[0], "") for c in checks])
    print(f"tcpchat soak, seed {soak.options.seed}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print("checks")
    for name, ok, value in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {name:<{width}}  {value}")
    for name, count in tally.unexpected.items():
        print(f"  unexpected: {name} x{count}")
    for line in tally.dirty_lines[:5]:
        print(f"  dirty line: {line}")
    return all(ok for _, ok, _ in checks)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long clients come and go")
    parser.add_argument("--clients", type=int, default=40, help="clients at once")
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice")
    parser.add_argument(
        "--max-per-ip",
        type=int,
        default=16,
        help="the server's --max-per-ip, which the over-limit probe fills (default: its default)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    workdir = Path(tempfile.mkdtemp(prefix="tcpchat-soak-"))
    server = RunningServer(workdir, ["--max-per-ip", str(options.max_per_ip)]).start()
    try:
        soak = Soak(options, server)
        outcome = asyncio.run(soak.run())
        tracebacks = server.log().count("Traceback")
        ok = report(soak, outcome, tracebacks)
    finally:
        server.kill()
        if options.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
