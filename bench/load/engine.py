"""The generator process: simulated clients on raw non-blocking sockets and one ``epoll``.

A ``Worker`` owns a share of the clients and runs the coordinator's commands
(``cmd_join``, ``cmd_marker``, ``cmd_prepare``, ``cmd_run``, ``cmd_verify``, ...)
on them. During a timed phase a receiver only appends what it reads, with the
time of the read, and counts the message lines in it (``bytes.count(b"\\n<")``,
so ``***`` notices are not counted; in the IRC dialect the ``PRIVMSG #bench :``
of each delivery) to know when it is complete; every line is verified after
the clock stops.
"""

from __future__ import annotations

import errno
import gc
import os
import select
import socket
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bench.load import dialect as irc
from bench.load.verification import Counts, expected_lines, text_for, verify_stream

RECV_SIZE = 65536
IN_MASK = select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP
CONNECTING, GREETING, WELCOMING, JOINED, JOINING = range(5)
"""A client's handshake; IRC goes CONNECTING, WELCOMING (until 001), JOINING (until 366)."""


class Client:
    """One simulated chat user: a socket plus what it has received."""

    __slots__ = (
        "at_start",
        "carry",
        "chunks",
        "done",
        "done_t",
        "eof",
        "fd",
        "got",
        "idx",
        "msgs",
        "nbytes",
        "need",
        "nick",
        "out",
        "rbuf",
        "sock",
        "state",
        "t_connect",
        "t_welcome",
        "tail",
        "times",
    )

    def __init__(self, idx: int, nick: bytes) -> None:
        self.idx = idx
        self.nick = nick
        self.sock: socket.socket | None = None
        self.fd = -1
        self.state = CONNECTING
        self.rbuf = b""
        self.carry = b""
        self.msgs: list[tuple[bytes, float]] = []
        self.chunks: list[bytes] = []
        self.times: list[float] = []
        self.got = 0
        self.need = 0
        self.at_start = True
        self.done = False
        self.done_t = 0.0
        self.eof = False
        self.nbytes = 0
        self.out = memoryview(b"")
        self.t_connect = 0.0
        self.t_welcome = 0.0
        self.tail = b""


@dataclass
class Spec:
    """Everything a generator process needs to know, fixed for one run."""

    host: str
    port: int
    tag: str
    procs: int
    msg_size: int
    timeout: float
    stall: float
    worker_cpus: list[int] | None = None
    dialect: str = "line"
    ports: list[int] = field(default_factory=list)
    """A cluster's nodes: client ``idx`` connects to ``ports[idx % len(ports)]``."""

    def port_for(self, idx: int) -> int:
        return self.ports[idx % len(self.ports)] if self.ports else self.port

    def nick(self, idx: int) -> bytes:
        return f"{self.tag}{idx:05d}".encode()

    def wire(self, text: bytes) -> bytes:
        """What a client writes to say ``text`` in the room, line end included."""
        return irc.privmsg(text) if self.dialect == "irc" else text + b"\n"


class Worker:
    """The clients owned by one generator process and the loops that drive them."""

    def __init__(self, spec: Spec, wid: int) -> None:
        self.spec = spec
        self.wid = wid
        self.ep = select.epoll()
        self.clients: list[Client] = []
        self.by_fd: dict[int, Client] = {}
        self.senders: list[Client] = []
        self.send_times: dict[bytes, float] = {}
        self.expected: dict[bytes, list[bytes]] = {}
        self.schedule: list[tuple[float, Client, bytes, bytes]] = []

    # -- handshake -----------------------------------------------------------

    def _connect(self, c: Client, now: float) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex((self.spec.host, self.spec.port_for(c.idx)))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            raise ConnectionError(f"connect: {os.strerror(err)}")
        c.sock = sock
        c.fd = sock.fileno()
        c.t_connect = now
        self.by_fd[c.fd] = c
        self.ep.register(c.fd, select.EPOLLIN | select.EPOLLOUT)

    def _handshake(self, c: Client, data: bytes, now: float) -> bool:
        """Feed handshake bytes; True once the welcome line has arrived."""
        assert c.sock is not None
        if self.spec.dialect == "irc":
            return self._handshake_irc(c, data, now)
        c.rbuf += data
        while True:
            i = c.rbuf.find(b"\n")
            if i < 0:
                return False
            line = c.rbuf[:i].rstrip(b"\r")
            c.rbuf = c.rbuf[i + 1 :]
            if line.startswith(b"!!!"):
                said = line.decode(errors="replace")
                raise RuntimeError(f"{c.nick.decode()}: server said {said}")
            if c.state == GREETING:
                if line.startswith(b"***") and b"nickname" in line.lower():
                    c.sock.sendall(c.nick + b"\n")
                    c.state = WELCOMING
            elif line.startswith(b"*** Welcome, " + c.nick):
                c.state = JOINED
                c.t_welcome = now
                rest, c.rbuf = c.rbuf, b""
                if rest:
                    self._scan(c, rest, now)
                return True

    def _handshake_irc(self, c: Client, data: bytes, now: float) -> bool:
        """IRC: 001 (registered) is answered with JOIN; 366 (end of NAMES) ends the handshake."""
        assert c.sock is not None
        c.rbuf += data
        while True:
            i = c.rbuf.find(b"\n")
            if i < 0:
                return False
            line = c.rbuf[:i].rstrip(b"\r")
            c.rbuf = c.rbuf[i + 1 :]
            if irc.handshake_error(line):
                said = line.decode(errors="replace")
                raise RuntimeError(f"{c.nick.decode()}: server said {said}")
            answer = irc.pong(line)
            if answer is not None:
                c.sock.sendall(answer)
            command, _ = irc.command_of(line)
            if command == b"001" and c.state == WELCOMING:
                c.sock.sendall(irc.join())
                c.state = JOINING
            elif command == b"366" and c.state == JOINING:
                c.state = JOINED
                c.t_welcome = now
                rest, c.rbuf = c.rbuf, b""
                if rest:
                    self._scan(c, rest, now)
                return True

    def _scan(self, c: Client, data: bytes, now: float) -> None:
        """Outside timed phases: count bytes, keep only ``<nick> ...`` lines."""
        if self.spec.dialect == "irc":
            self._scan_irc(c, data, now)
            return
        c.nbytes += len(data)
        if b"<" not in data and b"<" not in c.carry:
            i = data.rfind(b"\n")
            c.carry = data[i + 1 :] if i >= 0 else c.carry + data
            return
        *lines, c.carry = (c.carry + data).split(b"\n")
        for line in lines:
            if line[:1] == b"<":
                c.msgs.append((line.rstrip(b"\r"), now))

    def _scan_irc(self, c: Client, data: bytes, now: float) -> None:
        """IRC outside timed phases: keep channel messages as ``<nick> ...``, answer PINGs."""
        assert c.sock is not None
        c.nbytes += len(data)
        *lines, c.carry = (c.carry + data).split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r")
            message = irc.as_message(line)
            if message is not None:
                c.msgs.append((message, now))
                continue
            answer = irc.pong(line)
            if answer is not None:
                c.sock.sendall(answer)

    def _read_scan(self, c: Client, now: float) -> None:
        """Read once from a joined client outside a timed phase."""
        assert c.sock is not None
        try:
            data = c.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except ConnectionError:
            data = b""
        if data:
            self._scan(c, data, now)
        else:
            self._eof(c)

    def _eof(self, c: Client) -> None:
        if not c.eof:
            c.eof = True
            self.ep.unregister(c.fd)

    def cmd_join(self, arg: dict[str, Any]) -> dict[str, Any]:
        """Connect and log in the given clients, at most ``concurrency`` at a time."""
        waiting = deque(Client(idx, self.spec.nick(idx)) for idx in arg["indexes"])
        self.clients.extend(waiting)
        total = len(waiting)
        concurrency = max(1, arg["concurrency"])
        deadline = time.monotonic() + self.spec.timeout
        in_flight = joined = 0
        t_start = time.perf_counter()
        t_end = t_start
        cpu0 = time.process_time()
        while joined < total and time.monotonic() < deadline:
            now = time.perf_counter()
            while waiting and in_flight < concurrency:
                self._connect(waiting.popleft(), now)
                in_flight += 1
            for fd, ev in self.ep.poll(0.05):
                c = self.by_fd[fd]
                assert c.sock is not None
                if c.state == CONNECTING:
                    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise ConnectionError(f"connect: {os.strerror(err)}")
                    c.state = GREETING
                    self.ep.modify(fd, select.EPOLLIN)
                    if self.spec.dialect == "irc":
                        c.sock.sendall(irc.registration(c.nick))
                        c.state = WELCOMING
                    if not ev & select.EPOLLIN:
                        continue
                if c.state == JOINED:
                    self._read_scan(c, now)
                    continue
                try:
                    data = c.sock.recv(RECV_SIZE)
                except BlockingIOError:
                    continue
                if not data:
                    raise ConnectionError(f"{c.nick.decode()}: closed during the handshake")
                if self._handshake(c, data, now):
                    joined += 1
                    in_flight -= 1
                    t_end = now
        shakes = array("d", (c.t_welcome - c.t_connect for c in self.clients if c.t_welcome))
        return {
            "t_start": t_start,
            "t_end": t_end if joined == total else time.perf_counter(),
            "joined": joined,
            "total": total,
            "cpu": time.process_time() - cpu0,
            "handshakes": shakes,
        }

    # -- markers (sync points, W3 broadcasts) ---------------------------------

    def cmd_marker(self, arg: dict[str, Any]) -> dict[str, Any]:
        """Given clients send ``label``; wait until every client has the others' copies."""
        label: bytes = arg["label"].encode()
        senders: list[int] = arg["senders"]
        lines = {idx: b"<" + self.spec.nick(idx) + b"> " + label for idx in senders}
        t_send: dict[int, float] = {}
        for c in self.clients:
            if c.idx in lines:
                assert c.sock is not None
                t_send[c.idx] = time.perf_counter()
                c.sock.sendall(self.spec.wire(label))
        need = {c: {ln for idx, ln in lines.items() if idx != c.idx} for c in self.clients}
        pending = {c for c in self.clients if need[c]}
        deadline = time.monotonic() + self.spec.timeout
        t_done = 0.0
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"marker {label!r}: {len(pending)} clients still waiting")
            events = self.ep.poll(0.05)
            now = time.perf_counter()
            for fd, _ in events:
                c = self.by_fd[fd]
                self._read_scan(c, now)
                if c in pending:
                    got = {ln: t for ln, t in c.msgs}
                    if need[c] <= got.keys():
                        pending.discard(c)
                        t_done = max(t_done, *(got[ln] for ln in need[c]))
                    elif c.eof:
                        raise ConnectionError(f"{c.nick.decode()}: closed before {label!r}")
        return {"t_send": t_send, "t_done": t_done}

    def cmd_markers_check(self, arg: dict[str, Any]) -> dict[str, Any]:
        """Every client got each marker line of the others once, and no other message."""
        counts = Counts()
        for c in self.clients:
            want = {
                b"<" + self.spec.nick(idx) + b"> " + label.encode()
                for idx, label in arg["markers"]
                if idx != c.idx
            }
            got = [ln for ln, _ in c.msgs]
            counts.lost += len(want - set(got))
            counts.duplicated += len(got) - len(set(got))
            counts.garbled += len(set(got) - want)
        return {"counts": counts, "bytes": sum(c.nbytes for c in self.clients)}

    # -- timed phases ---------------------------------------------------------

    def _start_collecting(self) -> None:
        for c in self.clients:
            c.chunks = [c.carry] if c.carry else []
            c.times = [0.0] if c.carry else []
            c.tail = c.carry[-(len(irc.DELIVERY) - 1) :]
            c.carry = b""
            c.got = 0
            c.at_start = True
            c.done = False
            c.done_t = 0.0

    def cmd_prepare(self, arg: dict[str, Any]) -> None:
        """Build what senders will send and what every receiver must get (before the clock)."""
        size = self.spec.msg_size
        senders: list[int] = arg["senders"]
        count: int = arg["messages"]
        self.expected = {
            self.spec.nick(idx): expected_lines(self.spec.nick(idx), s, count, size)
            for s, idx in enumerate(senders)
        }
        for s, nick in enumerate(arg.get("fake_senders", [])):
            self.expected[nick] = expected_lines(nick, s, count, size)
        own = {c.idx: c for c in self.clients}
        self.schedule = []
        self.senders = [own[idx] for idx in senders if idx in own]
        for c in self.senders:
            s = senders.index(c.idx)
            wire = self.spec.wire
            c.out = memoryview(b"".join(wire(text_for(s, q, size)) for q in range(count)))
        for c in self.clients:
            c.need = sum(len(v) for k, v in self.expected.items() if k != c.nick)
        self._start_collecting()

    def _flush(self, c: Client) -> None:
        """Send as much of ``c.out`` as the socket takes; watch for writability if needed."""
        assert c.sock is not None
        if c.out:
            try:
                n = c.sock.send(c.out)
            except BlockingIOError:
                n = 0
            c.out = c.out[n:]
        self.ep.modify(c.fd, select.EPOLLIN | select.EPOLLOUT if c.out else select.EPOLLIN)

    def _timing(self, t0: float, cpu0: float) -> dict[str, Any]:
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - t0
        gc.enable()
        finished = [c.done_t for c in self.clients if c.need and c.done_t]
        incomplete = sum(1 for c in self.clients if c.need and not c.done_t)
        t_end = max(finished, default=time.perf_counter())
        received = sum(sum(map(len, c.chunks)) for c in self.clients)
        return {
            "t0": t0,
            "t_end": t_end,
            "cpu": cpu,
            "wall": wall,
            "incomplete": incomplete,
            "bytes": received,
        }

    def cmd_prepare_paced(self, arg: dict[str, Any]) -> None:
        """W2: message k goes out from sender k % S at ``k / rate`` seconds."""
        size = self.spec.msg_size
        senders: list[int] = arg["senders"]
        rate: float = arg["rate"]
        total: int = arg["total"]
        per_sender = [len(range(s, total, len(senders))) for s in range(len(senders))]
        self.expected = {
            self.spec.nick(idx): expected_lines(self.spec.nick(idx), s, per_sender[s], size)
            for s, idx in enumerate(senders)
        }
        own = {c.idx: c for c in self.clients}
        self.schedule = []
        for k in range(total):
            s = k % len(senders)
            c = own.get(senders[s])
            if c is not None:
                text = text_for(s, k // len(senders), size)
                wire = self.spec.wire(text)
                self.schedule.append((k / rate, c, wire, b"<" + c.nick + b"> " + text))
        self.send_times = {}
        self.senders = []
        for c in self.clients:
            c.need = sum(len(v) for k, v in self.expected.items() if k != c.nick)
        self._start_collecting()

    def cmd_run(self, arg: None) -> dict[str, Any]:
        """The timed phase: send (all at once, or on schedule) and collect until complete.

        A receiver appends each read, with the time it was read, and counts the
        lines that start a message (``\\n<``); notices are not counted. It is
        complete when it holds as many message lines as it must receive. The
        phase ends when every receiver is complete or closed, when nothing has
        arrived for ``spec.stall`` seconds, or at ``spec.timeout``.
        """
        gc.disable()
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        deadline = t0 + self.spec.timeout
        last_rx = t0
        schedule = self.schedule
        send_times = self.send_times
        lags = array("d")
        nxt = 0
        for c in self.senders:
            self._flush(c)
        pending = sum(1 for c in self.clients if c.need)
        by_fd = self.by_fd
        counted_irc = self.spec.dialect == "irc"
        while pending or nxt < len(schedule):
            now = time.perf_counter()
            if now > deadline or (now - last_rx > self.spec.stall and nxt == len(schedule)):
                break
            while nxt < len(schedule) and t0 + schedule[nxt][0] <= now:
                at, c, wire, line = schedule[nxt]
                stamp = time.perf_counter()
                c.out = memoryview(bytes(c.out) + wire) if c.out else memoryview(wire)
                self._flush(c)
                send_times[line] = stamp
                lags.append(stamp - t0 - at)
                nxt += 1
            wait = 0.05
            if nxt < len(schedule):
                wait = min(wait, max(0.0, t0 + schedule[nxt][0] - time.perf_counter()))
            events = self.ep.poll(wait)
            now = time.perf_counter()
            for fd, ev in events:
                c = by_fd[fd]
                if ev & select.EPOLLOUT:
                    self._flush(c)
                if not ev & IN_MASK:
                    continue
                try:
                    data = c.sock.recv(RECV_SIZE)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except ConnectionError:
                    data = b""
                if not data:
                    self._eof(c)
                    if not c.done:
                        c.done = True
                        pending -= 1
                    continue
                last_rx = now
                c.chunks.append(data)
                c.times.append(now)
                if counted_irc:
                    found, c.tail = irc.count_deliveries(data, c.tail)
                    c.got += found
                else:
                    c.got += data.count(b"\n<") + (c.at_start and data[0] == 60)
                    c.at_start = data[-1] == 10
                if c.got >= c.need and not c.done:
                    c.done = True
                    c.done_t = time.perf_counter()
                    pending -= 1
        result = self._timing(t0, cpu0)
        result["lags"] = lags
        return result

    def cmd_send_times(self, arg: None) -> dict[bytes, float]:
        return self.send_times

    def cmd_verify(self, arg: dict[str, Any]) -> dict[str, Any]:
        """After the clock: verify every receiver; with send times, compute latencies."""
        send_times: dict[bytes, float] | None = arg.get("send_times")
        latencies: array[float] | None = array("d") if send_times is not None else None
        counts = Counts()
        for c in self.clients:
            want = {k: v for k, v in self.expected.items() if k != c.nick}
            times = c.times if send_times is not None else None
            counts.add(
                verify_stream(c.chunks, times, want, send_times, latencies, self.spec.dialect)
            )
            if c.need and not c.done_t:
                if c.eof:
                    counts.disconnected += 1
                else:
                    counts.incomplete += 1
            c.chunks = []
            c.times = []
        return {"counts": counts, "latencies": latencies}

    # -- teardown -------------------------------------------------------------

    def cmd_drain(self, arg: None) -> int:
        """Read until the server closes every connection (it is shutting down)."""
        deadline = time.monotonic() + self.spec.timeout
        open_ = sum(1 for c in self.clients if not c.eof and c.sock is not None)
        while open_ and time.monotonic() < deadline:
            events = self.ep.poll(0.05)
            now = time.perf_counter()
            for fd, _ in events:
                c = self.by_fd[fd]
                self._read_scan(c, now)
                if c.eof:
                    open_ -= 1
        self.cmd_close(None)
        return open_

    def cmd_close(self, arg: None) -> None:
        for c in self.clients:
            if c.sock is not None:
                c.sock.close()
                c.sock = None
        self.clients = []
        self.by_fd = {}
        self.ep.close()
        self.ep = select.epoll()
