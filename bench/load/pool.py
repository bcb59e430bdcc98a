"""The coordinator's side of the generator processes: forked workers driven over pipes.

The coordinator sends every generator the same command in lock step (join,
sync, prepare, run, verify) and waits for all the answers; a failure in any
of them fails the run with a ``RunError``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from bench.load.engine import Spec, Worker


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
