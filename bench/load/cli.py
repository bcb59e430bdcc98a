"""The command line: options, the runs of each workload, and where the report goes."""

from __future__ import annotations

import argparse
import functools
import ipaddress
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.load.host import cpu_times, jitter_probe, load_snapshot, raise_nofile, wait_quiet
from bench.load.pool import RunError
from bench.load.report import fmt, report
from bench.load.server import REPO
from bench.load.verification import MIN_TEXT, Counts, self_check
from bench.load.workloads import Metrics, run_r, run_w1, run_w2, run_w3

RESULTS = REPO / "bench" / "results" / "latest.md"
SERVERS = {"line": ["tcpchat"], "irc": ["tcpchat", "ngircd", "inspircd"]}


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
        "--dialect",
        choices=["line", "irc"],
        default="line",
        help="what the clients speak: tcpchat's line protocol, or IRC (NICK/USER, "
        "JOIN #bench, PRIVMSG #bench; W1 and W2 only)",
    )
    p.add_argument(
        "--server",
        default="tcpchat",
        metavar="NAME[,NAME...]",
        help="the servers to start and compare, rounds alternating: tcpchat, and in the "
        "IRC dialect ngircd and inspircd (default tcpchat)",
    )
    p.add_argument(
        "--redis",
        action="store_true",
        help="W1/W2 through Redis: start a redis-server of the benchmark's own (unix socket in "
        "a temporary directory, nothing saved) and --nodes tcpchat processes with --redis, the "
        "clients dealt round-robin over them; one process without Redis runs in the same "
        "rounds. The CPUs are not pinned",
    )
    p.add_argument(
        "--nodes",
        default="1,2,3",
        metavar="N[,N...]",
        help="with --redis: the cluster sizes to run, each in its own configuration "
        "(default 1,2,3)",
    )
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
    opts.servers = [name.strip() for name in opts.server.split(",") if name.strip()]
    known = SERVERS[opts.dialect]
    unknown = [name for name in opts.servers if name not in known]
    if unknown or not opts.servers or len(set(opts.servers)) < len(opts.servers):
        p.error(f"--server in the {opts.dialect} dialect: names from {', '.join(known)}, once each")
    if opts.target and opts.servers != ["tcpchat"]:
        p.error("--server and --target exclude each other")
    opts.node_counts = _node_counts(p, opts.nodes) if opts.redis else []
    if opts.redis:
        if opts.target or opts.dialect != "line" or opts.servers != ["tcpchat"]:
            p.error("--redis runs tcpchat clusters in the line dialect (no --target, --server)")
        if opts.workload not in ("W1", "W2"):
            p.error("--redis runs W1 or W2 (--workload W1)")
        opts.no_pin = True
        opts.servers = ["tcpchat", *(f"redis{n}" for n in opts.node_counts)]
    if opts.dialect == "irc" and opts.workload not in ("W1", "W2"):
        p.error("--dialect irc runs W1 or W2 (--workload W1)")
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


def _node_counts(p: argparse.ArgumentParser, text: str) -> list[int]:
    try:
        counts = [int(word) for word in text.split(",")]
    except ValueError:
        counts = []
    if not counts or len(set(counts)) < len(counts) or not all(1 <= n <= 8 for n in counts):
        p.error(f"--nodes {text!r}: distinct numbers from 1 to 8, comma-separated")
    return counts


def run_options(opts: argparse.Namespace, name: str) -> argparse.Namespace:
    """The options of one configuration: a server by name, or ``redisN`` (N nodes)."""
    nodes = int(name[len("redis") :]) if name.startswith("redis") else 0
    server = "tcpchat" if nodes else name
    return argparse.Namespace(**{**vars(opts), "server": server, "nodes_count": nodes})


def _attempt(label: str, run: Callable[[], Metrics], opts: argparse.Namespace) -> Metrics:
    """One run; a failed run keeps what it measured and says why it failed."""
    if opts.wait_quiet:
        wait_quiet(opts.wait_quiet, opts.server_pid)
    load = load_snapshot()
    started = time.perf_counter()
    try:
        metrics = run()
    except RunError as failed:
        metrics = {**failed.metrics, "failed": str(failed)}
    metrics.setdefault("counts", Counts())
    metrics["load"] = load
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
                for name in opts.servers:
                    sopts = run_options(opts, name)
                    label = f"{kind} run {run + 1}" + (f", {name}" if len(opts.servers) > 1 else "")
                    m = _attempt(label, functools.partial(runner, sopts, run), opts)
                    m["server"], m["run"] = name, run + 1
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
