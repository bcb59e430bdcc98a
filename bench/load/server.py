"""The server under test: a fresh ``twistd -n tcpchat`` per run, or one given by ``--target``.

In the IRC dialect tcpchat serves the clients on its ``--irc`` listener (its
line listener on a unix socket in the run's directory), and ``--server``
may name ngircd or InspIRCd instead (``bench/load/ircd.py``).

``bench/load/session.py`` pairs it (or, with ``--redis``, a ``Cluster`` of
several, ``bench/load/cluster.py``) with a pool of generator processes for one run.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.load import ircd
from bench.load.pool import Pool

REPO = Path(__file__).resolve().parents[2]


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


def tcpchat_args(opts: argparse.Namespace, port: str, workdir: str = "DIR") -> list[str]:
    """``tcpchat`` and its options, as the benchmark starts the server."""
    listen = ["--listen", f"tcp:{port}:interface=127.0.0.1"]
    if opts.dialect == "irc":
        listen = ["--listen", f"unix:{workdir}/line.sock"]
        listen += ["--irc", f"tcp:{port}:interface=127.0.0.1"]
    return [
        "tcpchat",
        *listen,
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

    def __init__(
        self,
        opts: argparse.Namespace,
        label: str,
        extra: Sequence[str] = (),
        profiled: bool = True,
    ) -> None:
        """``extra``: more options for tcpchat (a cluster's ``--redis URL``); ``profiled``:
        whether ``--profile`` applies to this process (a cluster profiles its first node)."""
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
        name = opts.server
        nofile = opts.server_nofile
        cpus = opts.server_cpus

        def preexec() -> None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(nofile, hard), hard))
            if cpus:
                os.sched_setaffinity(0, cpus)

        twistd_opts = ["-n", "--pidfile="]
        if opts.profile == "cprofile" and profiled:
            stats = Path(opts.profile_dir) / f"server-{label}.cprofile"
            twistd_opts += ["--profile", str(stats), "--profiler", "cprofile", "--savestats"]
        if name == "tcpchat":
            server_args = [*tcpchat_args(opts, str(self.port), str(logdir)), *extra]
            self.argv = [twistd_path(), *twistd_opts, *server_args]
        else:
            self.log = logdir / f"{name}.out"
            self.argv = ircd.command(name, self.port, logdir, opts.max_clients)
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
        if opts.profile in ("py-spy", "py-spy-raw") and name == "tcpchat" and profiled:
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

    def logs(self) -> list[Path]:
        return [self.log] if self.log is not None else []

    def remove_logs(self) -> None:
        if self.log is not None:
            shutil.rmtree(self.log.parent, ignore_errors=True)

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
        self.terminate()
        if pool is not None:
            pool.recv()
        self.reap()

    def terminate(self) -> None:
        """Send our server SIGTERM (it says goodbye and closes every connection)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def reap(self) -> None:
        """Wait for our server to exit (killing it after 20 s), then for its profiler."""
        if self.proc is None:
            return
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
