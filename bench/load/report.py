"""The results table in Markdown: one row per metric with its median, every run and its target.

The header describes the command, the server, the machine, the software and
how the CPUs were shared; runs that failed are listed under the table.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load import cluster, ircd
from bench.load.server import REPO, tcpchat_args
from bench.load.verification import Counts
from bench.load.workloads import Metrics


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
        ("server_us_per_delivery", "server CPU per delivery", " µs", "", None),
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


# With --redis: the server rows count every node together, and redis-server has its own.
REDIS_ROWS: dict[str, list[tuple[str, str, str, str, Check]]] = {
    "W1": [
        ("server_us_per_message", "tcpchat CPU per message sent (all nodes)", " µs", "", None),
        ("redis_cpu_pct", "redis-server CPU, % of one core", "", "", None),
        ("redis_us_per_delivery", "redis-server CPU per delivery", " µs", "", None),
    ],
    "W2": [("redis_cpu_pct", "redis-server CPU, % of one core", "", "", None)],
}
SCALING_GOAL = 1.6
"""Issue 14: two processes deliver at least 1.6 times what one process does."""


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


def _rows_for(
    kind: str, label: str, runs: list[Metrics], targets: bool = True, redis: bool = False
) -> list[Row]:
    rows = [
        Row(
            label,
            what,
            [float(m.get(key, math.nan)) for m in runs],
            unit,
            target if targets else "",
            check if targets else None,
        )
        for key, what, unit, target, check in ROWS[kind] + (REDIS_ROWS[kind] if redis else [])
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
    for kind, label in (
        ("W1", f"W1 fan-out {opts.room}x{opts.senders}x{opts.messages}"),
        ("W2", f"W2 latency {opts.room} clients, {opts.rate:,.0f} msg/s"),
    ):
        for name, runs in by_server(opts, results.get(kind, [])):
            rows += _rows_for(kind, label + name, runs, redis=opts.redis)
    if opts.redis and "W1" in results:
        rows += scaling_rows(opts, results["W1"])
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


def scaling_rows(opts: argparse.Namespace, runs: list[Metrics]) -> list[Row]:
    """W1 deliveries/s of each cluster size over one node and over one process without
    Redis, run by run (run k of one configuration against run k of the other)."""

    def rates(name: str) -> dict[int, float]:
        return {
            m["run"]: float(m.get("deliveries_per_s", math.nan)) if "failed" not in m else math.nan
            for m in runs
            if m.get("server") == name
        }

    solo, one = rates("tcpchat"), rates("redis1")
    rows = []
    for n in opts.node_counts:
        if n == 1:
            continue
        mine = rates(f"redis{n}")
        for base, what in ((one, "1 node over Redis"), (solo, "1 process without Redis")):
            ratios = [mine[r] / base[r] for r in sorted(mine) if r in base]
            goal = n == 2 and base is solo
            rows.append(
                Row(
                    f"W1 scaling, {n} nodes over Redis",
                    f"deliveries/s ÷ {what}",
                    ratios,
                    " x",
                    f"≥ {SCALING_GOAL}" if goal else "",
                    (lambda v: v >= SCALING_GOAL) if goal else None,
                )
            )
    return rows


def config_label(name: str) -> str:
    """How a --redis configuration is named in the table."""
    if name.startswith("redis"):
        n = int(name[len("redis") :])
        return f", {n} node{'s' if n > 1 else ''} over Redis"
    return ", 1 process without Redis"


def by_server(opts: argparse.Namespace, runs: list[Metrics]) -> list[tuple[str, list[Metrics]]]:
    """The runs of each server, with what to add to the row label (nothing for line tcpchat)."""
    if opts.redis:
        return [
            (config_label(name), [m for m in runs if m.get("server") == name])
            for name in opts.servers
            if any(m.get("server") == name for m in runs)
        ]
    if opts.dialect == "line":
        return [("", runs)] if runs else []
    groups = []
    for name in opts.servers:
        mine = [m for m in runs if m.get("server") == name]
        if mine:
            groups.append((f", IRC, {name}", mine))
    return groups


def server_lines(opts: argparse.Namespace) -> list[str]:
    """The header's description of each server under test."""
    if opts.target:
        return [f"- Server: `--target {opts.target}`" + (" (IRC)" if opts.dialect == "irc" else "")]
    lines = []
    if opts.redis:
        nodes = ", ".join(map(str, opts.node_counts))
        return [
            "- Server without Redis: `twistd -n --pidfile= "
            + " ".join(tcpchat_args(opts, "PORT"))
            + "`, in a fresh temporary directory each run",
            f"- Clusters of {nodes} node(s): the same command with `--redis unix:DIR/redis.sock` "
            "for every node, each on its own free port and in its own fresh directory; one "
            f"{cluster.redis_version()} per run (`--port 0 --unixsocket DIR/redis.sock --save '' "
            "--appendonly no`); the clients dealt round-robin over the nodes (client i on node "
            "i mod N: senders and receivers on every node). Server CPU is all nodes together",
        ]
    for name in opts.servers:
        if name == "tcpchat":
            lines.append(
                "- Server: `twistd -n --pidfile= "
                + " ".join(tcpchat_args(opts, "PORT"))
                + "`, in a fresh temporary directory"
                + (" DIR" if opts.dialect == "irc" else "")
                + " (so a fresh history database) each run"
            )
            continue
        config = ircd.config_text(name).strip().replace("\n", " ")
        lines.append(
            f"- Server: {ircd.version(name)}, in a fresh temporary directory each run, "
            f"with this configuration: `{' '.join(config.split())}`; "
            f"left as they are: {ircd.LIMITS_LEFT[name]}"
        )
    return lines


def failures(opts: argparse.Namespace, results: dict[str, Any]) -> list[str]:
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
                f"{kind} run {m.get('run', i + 1)}"
                f"{', ' + m['server'] if len(opts.servers) > 1 else ''}: {m['failed']}"
                for i, m in enumerate(runs)
                if "failed" in m
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
        *server_lines(opts),
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
    loads = [
        f"- {kind} run {m.get('run', '?')}{config_label(m['server']) if opts.redis else ''}: "
        f"{m['load']}"
        for kind in ("W1", "W2", "R")
        for m in results.get(kind, [])
        if "load" in m
    ]
    if loads:
        lines += [
            "Other load when each run started (/proc/loadavg; top -bn2 -d 0.3, the busiest three):",
            "",
            *loads,
            "",
        ]
    notes = failures(opts, results)
    if opts.nofile_warning:
        notes.insert(0, opts.nofile_warning)
    if notes:
        lines += ["Problems:", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)
