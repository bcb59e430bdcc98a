"""The workloads, on the coordinator's side; each returns one run's metrics.

- W1 fan-out: every sender writes all its messages at once; deliveries per
  second until every receiver holds every message.
- W2 latency: paced messages; latency from ``send()`` to the read that
  brought each line in.
- W3 scale: a join storm, the server's memory, then one message reaching all.
- R reader ceiling: a trivial in-bench ``Blaster`` writes W1's volume, to show
  how fast the generator itself can read.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import select
import socket
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from bench.load.cluster import Cluster
from bench.load.host import listen_overflows, other_processes
from bench.load.pool import Pool, RunError
from bench.load.server import Server
from bench.load.session import session
from bench.load.verification import Counts, text_for

Metrics = dict[str, Any]


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not ordered:
        return math.nan
    rank = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[min(rank, len(ordered) - 1)]


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


def _redis_cpu(server: Server | Cluster) -> float:
    return server.redis_cpu_seconds() if isinstance(server, Cluster) else math.nan


class CpuWindow:
    """Who used the CPUs during a phase: the server (all nodes of a cluster), its
    redis-server, the generator, other processes."""

    def __init__(self, server: Server | Cluster) -> None:
        self.server = server
        self.wall = time.perf_counter()
        self.server_cpu = server.cpu_seconds()
        self.redis_cpu = _redis_cpu(server)
        self.others = other_processes(server.pid)

    def close(self, generator_cpu: float) -> Metrics:
        """Shares of one core (and CPU seconds); ``generator_cpu`` is the generator
        processes' CPU seconds."""
        wall = time.perf_counter() - self.wall
        server = self.server.cpu_seconds() - self.server_cpu
        redis = _redis_cpu(self.server) - self.redis_cpu
        after = other_processes(self.server.pid)
        ticks = sum(t - self.others.get(pid, 0) for pid, t in after.items())
        return {
            "server_cpu_pct": server / wall * 100,
            "redis_cpu_pct": redis / wall * 100,
            "gen_cpu_pct": generator_cpu / wall * 100,
            "other_cpu_pct": ticks / os.sysconf("SC_CLK_TCK") / wall * 100,
            "server_cpu_s": server,
            "redis_cpu_s": redis,
        }


def _timed_run(server: Server | Cluster, pool: Pool) -> tuple[list[Metrics], Metrics]:
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
            "server_us_per_delivery": cpu["server_cpu_s"] / deliveries * 1e6,
            "redis_us_per_delivery": cpu["redis_cpu_s"] / deliveries * 1e6,
            "server_us_per_message": cpu["server_cpu_s"] / (len(senders) * messages) * 1e6,
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
