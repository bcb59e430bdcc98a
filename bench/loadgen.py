"""Load generator and benchmark for the tcpchat server (run by hand, not by the test suite).

It starts the real server (``twistd -n tcpchat``) on a free loopback port,
or drives one given with ``--target 127.0.0.1:PORT``, and measures:

- W1 fan-out: a room of ``--room`` clients, ``--senders`` of them writing
  ``--messages`` lines each as fast as the server takes them; deliveries per
  second until every receiver holds every message.
- W2 latency: the same room, ``--rate`` messages per second paced for
  ``--duration`` seconds; p50/p99/p99.9 from ``send()`` to the read that
  brought the line in.
- W3 scale: ``--clients`` concurrent clients joining as fast as the server
  takes them (handshakes per second, server VmRSS/VmHWM, whether the join
  storm grows as N squared), then one message reaching all of them.
- R reader ceiling: a trivial in-bench blaster writes W1's volume to the
  generator, to show how fast the generator itself can read.

Clients are raw non-blocking sockets on one ``epoll`` per generator process
(``--procs``). During a timed phase a receiver only appends what it reads, with
the time of the read, and counts the message lines in it (``bytes.count(b"\\n<")``,
so ``***`` notices are not counted) to know when it is complete. Every line is
verified after the clock stops: each message carries its sender number and
sequence number and has a known text, so lost, duplicated, reordered (per
sender) and garbled lines are all counted (``--self-check`` shows each caught).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import gc
import ipaddress
import math
import multiprocessing
import os
import platform
import random
import resource
import select
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import traceback
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "latest.md"
RECV_SIZE = 65536
IN_MASK = select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP
CONNECTING, GREETING, WELCOMING, JOINED = range(4)
MIN_TEXT = 14


# --------------------------------------------------------------------------
# What is sent and what must arrive
# --------------------------------------------------------------------------


def text_for(sender: int, seq: int, size: int) -> bytes:
    """The text of message ``seq`` of sender number ``sender``, ``size`` bytes long."""
    head = b"m%03d.%07d." % (sender, seq)
    return head + bytes([97 + (sender + seq) % 26]) * (size - len(head))


def expected_lines(nick: bytes, sender: int, count: int, size: int) -> list[bytes]:
    """The lines (without CRLF) a receiver must get from this sender, in order."""
    prefix = b"<" + nick + b"> "
    return [prefix + text_for(sender, seq, size) for seq in range(count)]


@dataclass
class Counts:
    """Verification of what receivers got; everything but ``notices`` must be 0."""

    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    garbled: int = 0
    incomplete: int = 0
    disconnected: int = 0
    notices: int = 0

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def errors(self) -> int:
        return (
            self.lost
            + self.duplicated
            + self.reordered
            + self.garbled
            + self.incomplete
            + self.disconnected
        )

    def summary(self) -> str:
        return (
            f"lost {self.lost}, duplicated {self.duplicated}, reordered {self.reordered}, "
            f"garbled {self.garbled}; receivers incomplete {self.incomplete}, "
            f"disconnected by the server {self.disconnected}"
        )


def _diagnose(got: list[bytes], want: list[bytes], counts: Counts) -> None:
    """Classify the difference between one sender's expected and received lines."""
    index = {line: seq for seq, line in enumerate(want)}
    seqs: list[int] = []
    for line in got:
        seq = index.get(line)
        if seq is None:
            counts.garbled += 1
        else:
            seqs.append(seq)
    unique = set(seqs)
    counts.duplicated += len(seqs) - len(unique)
    counts.lost += len(want) - len(unique)
    seen: set[int] = set()
    high = -1
    for seq in seqs:
        if seq in seen:
            continue
        seen.add(seq)
        if seq < high:
            counts.reordered += 1
        else:
            high = seq


def verify_stream(
    chunks: Sequence[bytes],
    times: Sequence[float] | None,
    expected: dict[bytes, list[bytes]],
    send_times: dict[bytes, float] | None,
    latencies: array[float] | None,
) -> Counts:
    """Verify one receiver's byte stream against what each sender sent.

    ``expected`` maps a nickname to the lines it sent, in order. ``***``
    notices are counted and ignored; any other line is either an expected
    message or garbled. With ``times`` (one per chunk) and ``send_times``
    the latency of every message line is appended to ``latencies``.
    """
    counts = Counts()
    groups: dict[bytes, list[bytes]] = {nick: [] for nick in expected}
    carry = b""
    for i, chunk in enumerate(chunks):
        buf = carry + chunk if carry else chunk
        lines = buf.split(b"\r\n")
        carry = lines.pop()
        now = times[i] if times is not None else 0.0
        for line in lines:
            if line[:1] == b"<":
                group = groups.get(line[1 : line.find(b"> ")])
                if group is None:
                    counts.garbled += 1
                    continue
                group.append(line)
                if send_times is not None and latencies is not None:
                    sent = send_times.get(line)
                    if sent is not None:
                        latencies.append(now - sent)
            elif line[:4] == b"*** ":
                counts.notices += 1
            else:
                counts.garbled += 1
    if carry:
        counts.garbled += 1
    for nick, want in expected.items():
        got = groups[nick]
        if got != want:
            _diagnose(got, want, counts)
    return counts


def self_check() -> None:
    """Show that the verifier catches each kind of fault (``--self-check``)."""
    size = 20
    expected = {b"s%d" % s: expected_lines(b"s%d" % s, s, 50, size) for s in range(3)}
    lines = [line for seq in range(50) for line in (v[seq] for v in expected.values())]

    def check(name: str, stream: list[bytes], **want: int) -> None:
        data = b"".join(line + b"\r\n" for line in stream) + b"*** bob has joined\r\n"
        chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
        got = verify_stream(chunks, None, expected, None, None)
        wrong = {k: getattr(got, k) for k in want if getattr(got, k) != want[k]}
        others = got.errors() - sum(want.values())
        status = "ok" if not wrong and others == 0 and got.notices == 1 else f"WRONG {got}"
        print(f"self-check {name}: {got.summary()} -> {status}")
        if status != "ok":
            raise SystemExit(1)

    check("intact", lines)
    check("lost", lines[:10] + lines[11:], lost=1)
    check("duplicated", lines[:10] + lines[9:], duplicated=1)
    check("reordered", [*lines[:10], lines[13], *lines[10:13], *lines[14:]], reordered=1)
    bad = lines[20].replace(b"m", b"M", 1)
    check("garbled", [*lines[:20], bad, *lines[21:]], garbled=1, lost=1)
    check("unknown", [*lines, b"<mallory> hi"], garbled=1)
    check("unframed", [*lines[:5], lines[5] + lines[6], *lines[7:]], garbled=1, lost=2)


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not ordered:
        return math.nan
    rank = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[min(rank, len(ordered) - 1)]


# --------------------------------------------------------------------------
# The generator process: raw sockets on one epoll
# --------------------------------------------------------------------------


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

    def nick(self, idx: int) -> bytes:
        return f"{self.tag}{idx:05d}".encode()


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
        err = sock.connect_ex((self.spec.host, self.spec.port))
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

    def _scan(self, c: Client, data: bytes, now: float) -> None:
        """Outside timed phases: count bytes, keep only ``<nick> ...`` lines."""
        c.nbytes += len(data)
        if b"<" not in data and b"<" not in c.carry:
            i = data.rfind(b"\n")
            c.carry = data[i + 1 :] if i >= 0 else c.carry + data
            return
        *lines, c.carry = (c.carry + data).split(b"\n")
        for line in lines:
            if line[:1] == b"<":
                c.msgs.append((line.rstrip(b"\r"), now))

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
                c.sock.sendall(label + b"\n")
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
            c.out = memoryview(b"".join(text_for(s, q, size) + b"\n" for q in range(count)))
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
                self.schedule.append((k / rate, c, text + b"\n", b"<" + c.nick + b"> " + text))
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
            counts.add(verify_stream(c.chunks, times, want, send_times, latencies))
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


class RunError(Exception):
    """A run that could not finish; ``metrics`` holds what was measured until then."""

    def __init__(self, reason: str, metrics: dict[str, Any]) -> None:
        super().__init__(reason)
        self.metrics = metrics


def worker_main(conn: Connection, spec: Spec, wid: int) -> None:
    """A generator process: run the coordinator's commands until told to exit."""
    if spec.worker_cpus:
        os.sched_setaffinity(0, spec.worker_cpus)
    worker = Worker(spec, wid)
    try:
        while conn.poll(spec.timeout * 4):
            cmd, arg = conn.recv()
            if cmd == "exit":
                break
            try:
                conn.send(("ok", getattr(worker, "cmd_" + cmd)(arg)))
            except Exception as error:
                summary = f"generator {wid}, {cmd}: {type(error).__name__}: {error}"
                conn.send(("error", (summary, traceback.format_exc())))
                break
    finally:
        worker.cmd_close(None)


class Pool:
    """The generator processes, driven in lock step by the coordinator."""

    def __init__(self, spec: Spec) -> None:
        ctx = multiprocessing.get_context("fork")
        self.spec = spec
        self.conns: list[Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        self.broken = False
        for wid in range(spec.procs):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child, spec, wid), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def share(self, indexes: Sequence[int]) -> list[list[int]]:
        """Client indexes dealt round-robin to the generator processes."""
        return [list(indexes[w :: self.spec.procs]) for w in range(self.spec.procs)]

    def send(self, cmd: str, args: Sequence[Any] | None = None, same: Any = None) -> None:
        for w, conn in enumerate(self.conns):
            conn.send((cmd, args[w] if args is not None else same))

    def recv(self) -> list[Any]:
        """Every generator's answer; a failure in any of them fails the run."""
        out = []
        for w, conn in enumerate(self.conns):
            if not conn.poll(self.spec.timeout + 30):
                self.broken = True
                raise RunError(f"generator {w} did not answer", {})
            status, value = conn.recv()
            if status != "ok":
                self.broken = True
                summary, trace = value
                print(trace, file=sys.stderr)
                raise RunError(summary, {})
            out.append(value)
        return out

    def call(self, cmd: str, args: Sequence[Any] | None = None, same: Any = None) -> list[Any]:
        self.send(cmd, args, same)
        return self.recv()

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(("exit", None))
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)


# --------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------


def raise_nofile(wanted: int) -> tuple[int, int]:
    """Raise this process's RLIMIT_NOFILE soft limit (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = hard if hard == resource.RLIM_INFINITY else min(max(soft, wanted), hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def twistd_path() -> str:
    beside = Path(sys.executable).with_name("twistd")
    found = str(beside) if beside.exists() else shutil.which("twistd")
    if not found:
        raise SystemExit("twistd not found: pip install -e . in the repository first")
    return found


def tcpchat_args(opts: argparse.Namespace, port: str) -> list[str]:
    """``tcpchat`` and its options, as the benchmark starts the server."""
    return [
        "tcpchat",
        "--listen",
        f"tcp:{port}:interface=127.0.0.1",
        "--flood",
        "0",
        "--max-per-ip",
        "0",
        "--max-clients",
        str(opts.max_clients),
        *opts.server_arg,
    ]


class Server:
    """The twistd process under test (or a server given by --target)."""

    def __init__(self, opts: argparse.Namespace, label: str) -> None:
        self.opts = opts
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = opts.server_pid
        self.profiler: subprocess.Popen[bytes] | None = None
        self.log: Path | None = None
        if opts.target:
            host, _, port = opts.target.rpartition(":")
            self.host, self.port = host, int(port)
            return
        self.host, self.port = "127.0.0.1", free_port()
        logdir = Path(tempfile.mkdtemp(prefix="tcpchat-bench-"))
        self.log = logdir / "twistd.log"
        nofile = opts.server_nofile
        cpus = opts.server_cpus

        def preexec() -> None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(nofile, hard), hard))
            if cpus:
                os.sched_setaffinity(0, cpus)

        twistd_opts = ["-n", "--pidfile="]
        if opts.profile == "cprofile":
            stats = Path(opts.profile_dir) / f"server-{label}.cprofile"
            twistd_opts += ["--profile", str(stats), "--profiler", "cprofile", "--savestats"]
        self.argv = [twistd_path(), *twistd_opts, *tcpchat_args(opts, str(self.port))]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=logdir,
                env=env,
                preexec_fn=preexec,
            )
        self.pid = self.proc.pid
        self._wait_ready()
        if opts.profile in ("py-spy", "py-spy-raw"):
            raw = opts.profile == "py-spy-raw"
            profile = Path(opts.profile_dir) / f"server-{label}.{'folded' if raw else 'svg'}"
            self.profiler = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(self.pid),
                    "--rate",
                    "250",
                    "-o",
                    str(profile),
                    "--format",
                    "raw" if raw else "flamegraph",
                    "--duration",
                    str(int(opts.timeout * 3)),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited ({self.proc.returncode}):\n{self.log_tail()}")
            with socket.socket() as s:
                if s.connect_ex((self.host, self.port)) == 0:
                    return
            time.sleep(0.05)
        raise SystemExit(f"server did not listen within 30 s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the server process so far."""
        if self.pid is None:
            return math.nan
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return math.nan
        parts = stat[stat.rindex(")") + 2 :].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self) -> dict[str, float]:
        """VmRSS and VmHWM of the server, in MB (NaN if unknown)."""
        out = {"VmRSS": math.nan, "VmHWM": math.nan}
        if self.pid is None:
            return out
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in out:
                    out[key] = int(value.split()[0]) / 1024
        return out

    def nofile(self) -> str:
        if self.pid is None:
            return "unknown"
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/limits").read_text().splitlines():
                if line.startswith("Max open files"):
                    return line.split()[3]
        return "unknown"

    def stop(self, pool: Pool | None) -> None:
        """Our server: SIGTERM it while clients drain to EOF. A target: just disconnect."""
        if self.proc is None:
            if pool is not None:
                pool.call("close")
            return
        if pool is not None:
            pool.send("drain")
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        if pool is not None:
            pool.recv()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            print(f"  server {self.proc.pid} ignored SIGTERM for 20 s; killing it", file=sys.stderr)
            self.proc.kill()
            self.proc.wait(10)
        if self.profiler is not None:
            try:
                self.profiler.wait(30)
            except subprocess.TimeoutExpired:
                self.profiler.send_signal(signal.SIGINT)
                self.profiler.wait(10)


@contextlib.contextmanager
def session(opts: argparse.Namespace, label: str) -> Iterator[tuple[Server, Pool]]:
    """A server (fresh unless --target) and a pool of generator processes for one run."""
    server = Server(opts, label)
    spec = Spec(
        host=server.host,
        port=server.port,
        tag=random.choice(string.ascii_lowercase) + "".join(random.choices(string.digits, k=3)),
        procs=opts.procs,
        msg_size=opts.msg_size,
        timeout=opts.timeout,
        stall=opts.stall,
        worker_cpus=opts.worker_cpus,
    )
    pool = Pool(spec)
    stopped = False
    try:
        try:
            yield server, pool
        except RunError:
            server.stop(None if pool.broken else pool)
            stopped = True
            if server.log is not None:
                print(f"  server log kept: {server.log}", flush=True)
            raise
        server.stop(pool)
        stopped = True
        if server.log is not None:
            shutil.rmtree(server.log.parent, ignore_errors=True)
    finally:
        if not stopped:
            with contextlib.suppress(Exception):
                server.stop(None)
        pool.close()


# --------------------------------------------------------------------------
# Workloads (coordinator side); each returns one run's metrics
# --------------------------------------------------------------------------

Metrics = dict[str, Any]


def listen_overflows() -> int:
    """TcpExt ListenOverflows: connections dropped because an accept queue was full."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        head, values = [
            line.split()
            for line in Path("/proc/net/netstat").read_text().splitlines()
            if line.startswith("TcpExt:")
        ][:2]
        return int(values[head.index("ListenOverflows")])
    return 0


def _join_room(pool: Pool, room: int, concurrency: int) -> Metrics:
    """Log ``room`` clients in; fail the run if they are not all in within the timeout."""
    shares = pool.share(range(room))
    per = max(1, concurrency // pool.spec.procs)
    overflows = listen_overflows()
    res = pool.call("join", [{"indexes": s, "concurrency": per} for s in shares])
    overflows = listen_overflows() - overflows
    t_start = min(r["t_start"] for r in res)
    t_end = max(r["t_end"] for r in res)
    joined = sum(r["joined"] for r in res)
    shakes = sorted(x for r in res for x in r["handshakes"])
    metrics = {
        "joined": joined,
        "join_s": t_end - t_start,
        "t_start": t_start,
        "handshakes_per_s": joined / (t_end - t_start) if t_end > t_start else math.nan,
        "handshake_p50_ms": percentile(shakes, 0.5) * 1e3,
        "handshake_p99_ms": percentile(shakes, 0.99) * 1e3,
        "gen_cpu_s": sum(r["cpu"] for r in res),
        "listen_overflows": float(overflows),
    }
    if joined < room:
        raise RunError(
            f"only {joined:,} of {room:,} clients were logged in after "
            f"{pool.spec.timeout:g} s (--timeout)",
            metrics,
        )
    return metrics


def _marker(pool: Pool, senders: list[int], label: str) -> Metrics:
    res = pool.call("marker", same={"senders": senders, "label": label})
    t_send = min(t for r in res for t in r["t_send"].values())
    t_done = max(r["t_done"] for r in res)
    return {"t_send": t_send, "t_done": t_done, "seconds": t_done - t_send}


def _verify(pool: Pool, send_times: dict[bytes, float] | None = None) -> tuple[Counts, list[float]]:
    res = pool.call("verify", same={"send_times": send_times})
    counts = Counts()
    latencies: list[float] = []
    for r in res:
        counts.add(r["counts"])
        if r["latencies"] is not None:
            latencies.extend(r["latencies"])
    latencies.sort()
    return counts, latencies


def other_processes(server_pid: int | None) -> dict[int, int]:
    """CPU ticks so far of every process that is neither this benchmark nor the server."""
    table: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields_ = stat[stat.rindex(")") + 2 :].split()
            table[int(entry.name)] = (int(fields_[1]), int(fields_[11]) + int(fields_[12]))
    ours = {os.getpid(), server_pid}
    others: dict[int, int] = {}
    for pid, (ppid, ticks) in table.items():
        chain, parent = pid, ppid
        while chain not in ours and parent > 1 and parent in table:
            chain, parent = parent, table[parent][0]
        if chain not in ours:
            others[pid] = ticks
    return others


class CpuWindow:
    """Who used the CPUs during a phase: the server, the generator, other processes."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.wall = time.perf_counter()
        self.server_cpu = server.cpu_seconds()
        self.others = other_processes(server.pid)

    def close(self, generator_cpu: float) -> Metrics:
        """Shares of one core; ``generator_cpu`` is the generator processes' CPU seconds."""
        wall = time.perf_counter() - self.wall
        server = self.server.cpu_seconds() - self.server_cpu
        after = other_processes(self.server.pid)
        ticks = sum(t - self.others.get(pid, 0) for pid, t in after.items())
        return {
            "server_cpu_pct": server / wall * 100,
            "gen_cpu_pct": generator_cpu / wall * 100,
            "other_cpu_pct": ticks / os.sysconf("SC_CLK_TCK") / wall * 100,
        }


def _timed_run(server: Server, pool: Pool) -> tuple[list[Metrics], Metrics]:
    """The timed phase in every generator, and who used the CPUs during it."""
    window = CpuWindow(server)
    res = pool.call("run")
    return res, window.close(sum(r["cpu"] for r in res))


def _check_complete(counts: Counts, metrics: Metrics) -> Metrics:
    """A run whose receivers did not all get everything has no valid figure."""
    metrics["counts"] = counts
    if counts.incomplete or counts.disconnected:
        raise RunError(
            f"{counts.incomplete} receivers incomplete, {counts.disconnected} disconnected "
            f"by the server (see its log)",
            {k: v for k, v in metrics.items() if k == "counts" or k.endswith("_cpu_pct")},
        )
    return metrics


def run_w1(opts: argparse.Namespace, run: int) -> Metrics:
    """W1: every sender writes all its messages at once; time until all are delivered."""
    room, senders, messages = opts.room, list(range(opts.senders)), opts.messages
    with session(opts, f"W1-{run}") as (server, pool):
        _join_room(pool, room, opts.concurrency)
        _marker(pool, [0, 1], "sync-w1")
        pool.call("prepare", same={"senders": senders, "messages": messages})
        res, cpu = _timed_run(server, pool)
        cpu["server_nofile"] = server.nofile()
        counts, _ = _verify(pool)
    t0 = min(r["t0"] for r in res)
    seconds = max(r["t_end"] for r in res) - t0
    deliveries = len(senders) * messages * (room - 1)
    return _check_complete(
        counts,
        {
            "deliveries": deliveries,
            "seconds": seconds,
            "deliveries_per_s": deliveries / seconds,
            "mb_per_s": sum(r["bytes"] for r in res) / seconds / 1e6,
            **cpu,
        },
    )


def run_w2(opts: argparse.Namespace, run: int) -> Metrics:
    """W2: paced messages; latency from send() to the read that brought each line."""
    room, senders = opts.room, list(range(opts.senders))
    total = int(opts.rate * opts.duration)
    with session(opts, f"W2-{run}") as (server, pool):
        _join_room(pool, room, opts.concurrency)
        _marker(pool, [0, 1], "sync-w2")
        pool.call("prepare_paced", same={"senders": senders, "rate": opts.rate, "total": total})
        res, cpu = _timed_run(server, pool)
        cpu["server_nofile"] = server.nofile()
        send_times: dict[bytes, float] = {}
        for part in pool.call("send_times"):
            send_times.update(part)
        counts, lat = _verify(pool, send_times)
    t0 = min(r["t0"] for r in res)
    lags = sorted(x for r in res for x in r["lags"])
    return _check_complete(
        counts,
        {
            "messages": total,
            "deliveries": len(lat),
            "seconds": max(r["t_end"] for r in res) - t0,
            "p50_ms": percentile(lat, 0.50) * 1e3,
            "p99_ms": percentile(lat, 0.99) * 1e3,
            "p999_ms": percentile(lat, 0.999) * 1e3,
            "max_ms": (lat[-1] if lat else math.nan) * 1e3,
            "lag_p99_ms": percentile(lags, 0.99) * 1e3,
            **cpu,
        },
    )


W3_MARKERS = ["first broadcast after the join storm", "broadcast in a quiet room"]


def run_w3(opts: argparse.Namespace, run: int, clients: int) -> Metrics:
    """W3: a join storm of ``clients``, server memory, then one message reaching all."""
    with session(opts, f"W3-{clients}-{run}") as (server, pool):
        metrics: Metrics = {"rss_idle_mb": server.memory_mb()["VmRSS"]}
        metrics["server_nofile"] = server.nofile()
        window = CpuWindow(server)
        try:
            metrics.update(_join_room(pool, clients, opts.concurrency))
        except RunError as failed:
            failed.metrics.update(metrics)
            failed.metrics.update(window.close(failed.metrics.pop("gen_cpu_s")))
            mem = server.memory_mb()
            failed.metrics.update(rss_mb=mem["VmRSS"], hwm_mb=mem["VmHWM"])
            raise
        metrics.update(window.close(metrics.pop("gen_cpu_s")))
        metrics["rss_joined_mb"] = server.memory_mb()["VmRSS"]
        first = _marker(pool, [0], W3_MARKERS[0])
        quiet = _marker(pool, [0], W3_MARKERS[1])
        mem = server.memory_mb()
        checks = pool.call("markers_check", same={"markers": [(0, m) for m in W3_MARKERS]})
    counts = Counts()
    for c in checks:
        counts.add(c["counts"])
    metrics.update(
        {
            "settle_s": first["t_done"] - metrics["t_start"],
            "first_broadcast_ms": first["seconds"] * 1e3,
            "broadcast_ms": quiet["seconds"] * 1e3,
            "rss_mb": mem["VmRSS"],
            "hwm_mb": mem["VmHWM"],
            "received_kb_per_client": sum(c["bytes"] for c in checks) / clients / 1024,
            "counts": counts,
        }
    )
    return metrics


class Blaster:
    """R workload: a trivial server that writes a prebuilt W1-sized stream to every client."""

    def __init__(self, opts: argparse.Namespace) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.nicks = [b"r%03d" % s for s in range(opts.senders)]
        lines = [
            b"<"
            + self.nicks[k % opts.senders]
            + b"> "
            + text_for(k % opts.senders, k // opts.senders, opts.msg_size)
            + b"\r\n"
            for k in range(opts.senders * opts.messages)
        ]
        payload = b"".join(lines)
        self.proc = ctx.Process(
            target=self._main, args=(child, opts.room, payload, opts.server_cpus), daemon=True
        )
        self.proc.start()
        child.close()
        self.port: int = self.conn.recv()

    @staticmethod
    def _main(conn: Connection, clients: int, payload: bytes, cpus: list[int] | None) -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        listener.settimeout(60)
        conn.send(listener.getsockname()[1])
        socks = []
        for _ in range(clients):
            sock, _ = listener.accept()
            sock.settimeout(60)
            sock.sendall(b"*** blaster\r\n*** Please choose a nickname:\r\n")
            nick = b""
            while not nick.endswith(b"\n"):
                nick += sock.recv(64)
            sock.sendall(b"*** Welcome, " + nick.strip() + b"!\r\n")
            sock.setblocking(False)
            socks.append(sock)
        if not conn.poll(120) or conn.recv() != "go":
            return
        ep = select.epoll()
        views = {s.fileno(): (s, memoryview(payload)) for s in socks}
        for fd in views:
            ep.register(fd, select.EPOLLOUT)
        deadline = time.monotonic() + 120
        while views and time.monotonic() < deadline:
            for fd, _ in ep.poll(0.1):
                sock, view = views[fd]
                try:
                    view = view[sock.send(view) :]
                except BlockingIOError:
                    continue
                if view:
                    views[fd] = (sock, view)
                else:
                    ep.unregister(fd)
                    del views[fd]
        conn.poll(120)
        for s in socks:
            s.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send("exit")
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)


def run_r(opts: argparse.Namespace, run: int) -> Metrics:
    blaster = Blaster(opts)
    ropts = argparse.Namespace(**{**vars(opts), "target": f"127.0.0.1:{blaster.port}"})
    try:
        with session(ropts, f"R-{run}") as (_, pool):
            _join_room(pool, opts.room, opts.concurrency)
            pool.call(
                "prepare",
                same={"senders": [], "messages": opts.messages, "fake_senders": blaster.nicks},
            )
            pool.send("run")
            blaster.conn.send("go")
            res = pool.recv()
            counts, _ = _verify(pool)
    finally:
        blaster.close()
    t0 = min(r["t0"] for r in res)
    seconds = max(r["t_end"] for r in res) - t0
    lines = opts.room * opts.senders * opts.messages
    return {
        "deliveries_per_s": lines / seconds,
        "seconds": seconds,
        "gen_cpu_pct": sum(r["cpu"] for r in res) / max(r["wall"] for r in res) * 100,
        "mb_per_s": sum(r["bytes"] for r in res) / seconds / 1e6,
        "counts": counts,
    }


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import twisted

    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "chat", "twisted"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "memory": f"{int(mem) / 1024 / 1024:.0f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "twisted": twisted.__version__,
        "commit": commit + (" (with uncommitted server changes)" if dirty else ""),
    }


def cpu_times() -> list[int]:
    """The machine-wide ``cpu`` line of /proc/stat (user ... steal), in clock ticks."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def jitter_probe(seconds: float = 1.0) -> tuple[float, float]:
    """Busy-loop on this CPU: the longest pause seen (ms) and % of time lost to pauses > 0.5 ms.

    On a virtual machine this shows how often the hypervisor takes the CPU
    away; no latency figure can be better than that.
    """
    lost = worst = 0.0
    last = time.perf_counter()
    end = last + seconds
    while last < end:
        now = time.perf_counter()
        gap = now - last
        if gap > 0.0005:
            lost += gap
            worst = max(worst, gap)
        last = now
    return worst * 1e3, lost / seconds * 100


def fmt(value: float, unit: str = "") -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}{unit}"
    if abs(value) >= 100:
        return f"{value:.0f}{unit}"
    if abs(value) >= 10:
        return f"{value:.1f}{unit}"
    return f"{value:.2f}{unit}"


Check = Callable[[float], bool] | None

# Per workload: metric key, what it is, unit, target, whether the median meets it.
ROWS: dict[str, list[tuple[str, str, str, str, Check]]] = {
    "R": [
        ("deliveries_per_s", "lines read/s by the generator", "", "", None),
        ("mb_per_s", "MB/s read", "", "", None),
        ("gen_cpu_pct", "generator CPU, % of one core", "", "", None),
    ],
    "W1": [
        ("deliveries_per_s", "deliveries/s", "", "≥ 3,000,000", lambda v: v >= 3_000_000),
        ("seconds", "time until every receiver had every message", " s", "", None),
        ("server_cpu_pct", "server CPU, % of one core", "", "", None),
        ("gen_cpu_pct", "generator CPU, % of one core", "", "", None),
        ("other_cpu_pct", "other processes' CPU, % of one core", "", "< 5", lambda v: v < 5),
    ],
    "W2": [
        ("p50_ms", "p50 send → receipt", " ms", "", None),
        ("p99_ms", "p99 send → receipt", " ms", "< 5 ms", lambda v: v < 5),
        ("p999_ms", "p99.9 send → receipt", " ms", "", None),
        ("max_ms", "max send → receipt", " ms", "", None),
        ("lag_p99_ms", "generator pacing lag p99 (sent late by)", " ms", "", None),
        ("server_cpu_pct", "server CPU, % of one core", "", "", None),
        ("gen_cpu_pct", "generator CPU, % of one core", "", "", None),
        ("other_cpu_pct", "other processes' CPU, % of one core", "", "< 5", lambda v: v < 5),
    ],
    "W3": [
        ("handshakes_per_s", "handshakes/s (join storm)", "", "≥ 2,000", lambda v: v >= 2000),
        ("settle_s", "join storm: first connect → room quiet", " s", "", None),
        ("handshake_p99_ms", "handshake p99 (connect → welcome)", " ms", "", None),
        ("listen_overflows", "accept queue overflows (SYNs dropped, 1 s retry)", "", "", None),
        ("server_cpu_pct", "server CPU during the storm, % of one core", "", "", None),
        ("gen_cpu_pct", "generator CPU during the storm, % of one core", "", "", None),
        ("other_cpu_pct", "other processes' CPU during the storm", "", "< 5", lambda v: v < 5),
        ("received_kb_per_client", "notices received per client", " KB", "", None),
        ("broadcast_ms", "one message → all others (quiet room)", " ms", "", None),
        ("rss_mb", "server VmRSS at the end", " MB", "", None),
        ("hwm_mb", "server VmHWM (peak)", " MB", "< 100 MB", lambda v: v < 100),
    ],
}


@dataclass
class Row:
    """One line of the results table: a metric's value in each run and its median."""

    workload: str
    metric: str
    values: list[float]
    unit: str = ""
    target: str = ""
    check: Check = None
    med: float = field(init=False)

    def __post_init__(self) -> None:
        clean = [v for v in self.values if not math.isnan(v)]
        self.med = statistics.median(clean) if clean else math.nan

    def cells(self) -> list[str]:
        met = ""
        if self.check is not None:
            met = "n/a" if math.isnan(self.med) else ("yes" if self.check(self.med) else "**no**")
        runs = " / ".join(fmt(v) for v in self.values)
        return [self.workload, self.metric, fmt(self.med, self.unit), runs, self.target, met]


def table(rows: list[Row]) -> str:
    head = ["workload", "metric", "median", "runs", "target", "met"]
    out = ["| " + " | ".join(head) + " |", "| --- | --- | ---: | --- | --- | --- |"]
    out += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(out)


def _rows_for(kind: str, label: str, runs: list[Metrics], targets: bool = True) -> list[Row]:
    rows = [
        Row(
            label,
            what,
            [float(m.get(key, math.nan)) for m in runs],
            unit,
            target if targets else "",
            check if targets else None,
        )
        for key, what, unit, target, check in ROWS[kind]
    ]
    total = Counts()
    for m in runs:
        total.add(m["counts"])
    failed = sum(1 for m in runs if "failed" in m)
    rows.append(
        Row(
            label,
            f"verification: {total.summary()}; failed runs {failed}",
            [float(total.errors() + failed)],
            "",
            "0",
            lambda v: v == 0,
        )
    )
    return rows


def build_rows(opts: argparse.Namespace, results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if "R" in results:
        rows += _rows_for(
            "R", f"R reader ceiling {opts.room}x{opts.senders}x{opts.messages}", results["R"]
        )
    if "W1" in results:
        rows += _rows_for(
            "W1", f"W1 fan-out {opts.room}x{opts.senders}x{opts.messages}", results["W1"]
        )
    if "W2" in results:
        rows += _rows_for(
            "W2", f"W2 latency {opts.room} clients, {opts.rate:,.0f} msg/s", results["W2"]
        )
    if "W3" in results:
        by_size: dict[int, list[Metrics]] = results["W3"]
        sizes = sorted(by_size)
        for n in sizes:
            rows += _rows_for("W3", f"W3 scale {n:,} clients", by_size[n], n == sizes[-1])
        if len(sizes) >= 2:
            a, b = sizes[-2], sizes[-1]
            ratios = [
                math.log(y.get("settle_s", math.nan) / x.get("settle_s", math.nan))
                / math.log(b / a)
                for x, y in zip(by_size[a], by_size[b], strict=False)
            ]
            rows.append(
                Row(
                    f"W3 {a:,} → {b:,} clients",
                    "join storm growth exponent (1 linear, 2 N²)",
                    ratios,
                    "",
                    "< 1.5",
                    lambda v: v < 1.5,
                )
            )
    return rows


def failures(results: dict[str, Any]) -> list[str]:
    out = []
    for kind, runs in results.items():
        if kind == "W3":
            for n, by_run in sorted(runs.items()):
                out += [
                    f"W3 {n:,} clients, run {i + 1}: {m['failed']}"
                    for i, m in enumerate(by_run)
                    if "failed" in m
                ]
        elif isinstance(runs, list):
            out += [
                f"{kind} run {i + 1}: {m['failed']}" for i, m in enumerate(runs) if "failed" in m
            ]
    return out


def report(opts: argparse.Namespace, results: dict[str, Any], argv: list[str]) -> str:
    info = machine()
    if opts.worker_cpus:
        server = f"CPU {opts.server_cpus[0]}" if opts.server_cpus else "not pinned (--target)"
        sharing = (
            f"server pinned to {server}, generator to CPU(s) {','.join(map(str, opts.worker_cpus))}"
        )
    else:
        sharing = "no CPU pinning"
    lines = [
        f"# tcpchat benchmark — {time.strftime('%Y-%m-%d %H:%M %Z')}",
        "",
        f"- Command: `python bench/loadgen.py {' '.join(argv)}`",
        "- Server: "
        + (
            f"`--target {opts.target}`"
            if opts.target
            else "`twistd -n --pidfile= " + " ".join(tcpchat_args(opts, "PORT")) + "`, "
            "in a fresh temporary directory (so a fresh history database) each run"
        ),
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['memory']} RAM, "
        f"Linux {info['kernel']}; hypervisor steal during the benchmark "
        f"{results['steal_pct']:.1f}% of CPU time; busy-loop probe: longest pause "
        f"{results['jitter'][0]:.1f} ms, {results['jitter'][1]:.2f}% of time in pauses > 0.5 ms",
        f"- Software: Python {info['python']}, Twisted {info['twisted']}, "
        f"server commit {info['commit']}",
        f"- Generator: {opts.procs} process(es), raw sockets + epoll; {sharing}; "
        f"server RLIMIT_NOFILE {results.get('nofile', 'n/a')}; message text {opts.msg_size} "
        f"bytes",
        f"- Median of {opts.runs} run(s)"
        + ("; one server given by --target" if opts.target else "; a fresh server each run"),
        "",
        table(build_rows(opts, results)),
        "",
    ]
    notes = failures(results)
    if opts.nofile_warning:
        notes.insert(0, opts.nofile_warning)
    if notes:
        lines += ["Problems:", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python bench/loadgen.py",
        description="Benchmark the tcpchat server: fan-out (W1), latency (W2), scale (W3).",
    )
    p.add_argument(
        "--workload",
        choices=["W1", "W2", "W3", "R", "all"],
        default="all",
        help="what to run; all = W1, W2, W3 (R, the generator's own ceiling, "
        "runs only when asked for)",
    )
    p.add_argument("--runs", type=int, default=3, help="runs per workload; the median is shown")
    p.add_argument(
        "--target",
        metavar="HOST:PORT",
        help="drive this already running server (loopback only) instead of starting one",
    )
    p.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument for twistd tcpchat, e.g. --server-arg=--db=:memory: (repeatable)",
    )
    p.add_argument("--server-pid", type=int, help="pid of the --target server, for CPU and memory")
    p.add_argument("--room", type=int, default=100, help="W1/W2 room size")
    p.add_argument("--senders", type=int, default=10, help="W1/W2 clients that send")
    p.add_argument("--messages", type=int, default=1000, help="W1 messages per sender")
    p.add_argument("--msg-size", type=int, default=32, help="bytes of text per message")
    p.add_argument("--rate", type=float, default=5000, help="W2 messages per second")
    p.add_argument("--duration", type=float, default=3, help="W2 seconds of paced sending")
    p.add_argument("--clients", type=int, default=10000, help="W3 concurrent clients")
    p.add_argument(
        "--ladder",
        default="0.25,0.5,1",
        help="W3 sizes as fractions of --clients (the join storm's growth is "
        "judged on the last two)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="clients handshaking at once (all generator processes together)",
    )
    p.add_argument("--procs", type=int, default=1, help="generator processes")
    p.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the server to CPU 0 and the generator to the other CPUs",
    )
    p.add_argument("--timeout", type=float, default=120, help="bound on every phase, seconds")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=60,
        metavar="SECONDS",
        help="before each run, wait up to this long for other processes to go quiet (0: never)",
    )
    p.add_argument(
        "--stall",
        type=float,
        default=10,
        help="end a timed phase when nothing has arrived for this many seconds",
    )
    p.add_argument(
        "--profile",
        choices=["py-spy", "py-spy-raw", "cprofile"],
        help="profile the server: py-spy flame graph (SVG), py-spy collapsed stacks "
        "(text), or twistd --profiler cprofile --savestats (pstats file)",
    )
    p.add_argument("--profile-dir", default="/tmp", help="where profiles are written")
    p.add_argument(
        "--self-check",
        action="store_true",
        help="check that the verifier detects lost, duplicated, reordered and garbled lines",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and one run: a smoke test (writes no file unless --out)",
    )
    p.add_argument("--out", help=f"Markdown results file (default {RESULTS.relative_to(REPO)})")
    opts = p.parse_args(argv)
    if opts.quick:
        opts.room, opts.senders, opts.messages = 20, 4, 200
        opts.rate, opts.duration = 1000, 1
        opts.clients, opts.ladder, opts.runs = 400, "0.5,1", 1
    if opts.msg_size < MIN_TEXT:
        p.error(f"--msg-size must be at least {MIN_TEXT}")
    if opts.room < 2 or not 2 <= opts.senders <= opts.room:
        p.error("need 2 <= --senders <= --room")
    if opts.target:
        host, _, port = opts.target.rpartition(":")
        try:
            loopback = ipaddress.IPv4Address(host).is_loopback and port.isdigit()
        except ValueError:
            loopback = False
        if not loopback:
            p.error("--target must be 127.x.x.x:PORT (this tool only drives loopback servers)")
    if opts.profile:
        Path(opts.profile_dir).mkdir(parents=True, exist_ok=True)
    if opts.out is None and not opts.quick:
        opts.out = str(RESULTS)
    cpus = sorted(os.sched_getaffinity(0))
    if opts.no_pin or len(cpus) < 2:
        opts.server_cpus = opts.worker_cpus = None
    else:
        opts.server_cpus, opts.worker_cpus = [cpus[0]], cpus[1:]
    if opts.target:
        opts.server_cpus = None
    opts.max_clients = max(20000, opts.clients + 100)
    return opts


def wait_quiet(limit: float, server_pid: int | None) -> None:
    """Wait (at most ``limit`` seconds) until other processes use < 5% of a core for 2 s."""
    deadline = time.monotonic() + limit
    said = False
    while time.monotonic() < deadline:
        before = other_processes(server_pid)
        time.sleep(2)
        after = other_processes(server_pid)
        busy = sum(t - before.get(pid, 0) for pid, t in after.items()) / os.sysconf("SC_CLK_TCK")
        if busy / 2 < 0.05:
            return
        if not said:
            print(
                f"  waiting up to {limit:g} s for other processes to calm down "
                f"(they use {busy / 2:.0%} of a core)",
                flush=True,
            )
            said = True
    print("  the machine did not calm down; measuring anyway", flush=True)


def _attempt(label: str, run: Callable[[], Metrics], opts: argparse.Namespace) -> Metrics:
    """One run; a failed run keeps what it measured and says why it failed."""
    if opts.wait_quiet:
        wait_quiet(opts.wait_quiet, opts.server_pid)
    started = time.perf_counter()
    try:
        metrics = run()
    except RunError as failed:
        metrics = {**failed.metrics, "failed": str(failed)}
    metrics.setdefault("counts", Counts())
    shown = ", ".join(
        f"{k} {fmt(v)}" for k, v in metrics.items() if isinstance(v, float) and k[:2] != "t_"
    )
    parts = [f"FAILED: {metrics['failed']}"] if "failed" in metrics else []
    parts += [shown] if shown else []
    parts.append(metrics["counts"].summary())
    print(f"{label} ({time.perf_counter() - started:.1f} s): " + "; ".join(parts), flush=True)
    return metrics


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    opts = parse_args(argv)
    if opts.self_check:
        self_check()
        return 0
    if opts.worker_cpus:
        os.sched_setaffinity(0, opts.worker_cpus)
    soft, hard = raise_nofile(max(opts.clients, opts.room) + 1000)
    opts.server_nofile = soft
    opts.nofile_warning = ""
    if soft < opts.clients + 100:
        opts.nofile_warning = (
            f"RLIMIT_NOFILE could only be raised to {soft} (hard limit {hard}): "
            f"{opts.clients:,} clients will not fit in the server"
        )
        print(f"warning: {opts.nofile_warning}", file=sys.stderr)
    workloads = ["W1", "W2", "W3"] if opts.workload == "all" else [opts.workload]
    results: dict[str, Any] = {"jitter": jitter_probe()}
    ticks0 = cpu_times()
    for kind in workloads:
        for run in range(opts.runs):
            if kind != "W3":
                runner = {"W1": run_w1, "W2": run_w2, "R": run_r}[kind]
                m = _attempt(f"{kind} run {run + 1}", functools.partial(runner, opts, run), opts)
                results.setdefault(kind, []).append(m)
                results["nofile"] = m.get("server_nofile", results.get("nofile", "n/a"))
                continue
            by_size = results.setdefault("W3", {})
            fractions = [float(x) for x in opts.ladder.split(",")]
            for n in sorted({max(2, round(opts.clients * f)) for f in fractions}):
                label = f"W3 run {run + 1}, {n:,} clients"
                m = _attempt(label, functools.partial(run_w3, opts, run, n), opts)
                results["nofile"] = m.get("server_nofile", results.get("nofile", "n/a"))
                by_size.setdefault(n, []).append(m)
    ticks = [b - a for a, b in zip(ticks0, cpu_times(), strict=True)]
    results["steal_pct"] = ticks[7] / max(1, sum(ticks)) * 100
    text = report(opts, results, argv)
    print()
    print(text)
    if opts.out:
        out = Path(opts.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
