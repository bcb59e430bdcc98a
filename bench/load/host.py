"""Readings of the machine the benchmark runs on, from ``/proc`` and the resource limits.

Other processes' CPU use (to wait for quiet and to report disturbed runs),
accept queue overflows, hypervisor steal time, a busy-loop jitter probe, and
raising this process's limit on open files.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import time
from pathlib import Path


def raise_nofile(wanted: int) -> tuple[int, int]:
    """Raise this process's RLIMIT_NOFILE soft limit (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = hard if hard == resource.RLIM_INFINITY else min(max(soft, wanted), hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


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


def load_snapshot() -> str:
    """The load average and the three busiest processes over 0.3 s (``top -bn2``; other
    helpers' tests show up here), as one line for the report."""
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    busiest = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["top", "-bn2", "-d", "0.3", "-w", "200"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.splitlines()
        heads = [i for i, line in enumerate(out) if line.split()[:1] == ["PID"]]
        for line in out[heads[-1] + 1 :][:3] if heads else []:
            words = line.split()
            if len(words) >= 12:
                busiest.append(f"{words[11]} {words[8]}%")
    return f"loadavg {load}; top: {', '.join(busiest) or 'n/a'}"


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
