"""One run's server and generator: ``session`` pairs a fresh server (``bench/load/server.py``),
or with ``--redis`` a ``Cluster`` of nodes (``bench/load/cluster.py``), with a pool of
generator processes, and stops both at the end (SIGTERM while the clients read until the
server closes them)."""

from __future__ import annotations

import argparse
import contextlib
import random
import string
from collections.abc import Iterator

from bench.load.cluster import Cluster
from bench.load.engine import Spec
from bench.load.pool import Pool, RunError
from bench.load.server import Server


@contextlib.contextmanager
def session(opts: argparse.Namespace, label: str) -> Iterator[tuple[Server | Cluster, Pool]]:
    """A server (fresh unless --target; a cluster with --redis) and a pool of generator
    processes for one run."""
    server: Server | Cluster
    if getattr(opts, "nodes_count", 0):
        server = Cluster(opts, label, opts.nodes_count)
    else:
        server = Server(opts, label)
    spec = Spec(
        host=server.host,
        port=server.port,
        ports=server.ports if isinstance(server, Cluster) else [],
        tag=random.choice(string.ascii_lowercase) + "".join(random.choices(string.digits, k=3)),
        procs=opts.procs,
        msg_size=opts.msg_size,
        timeout=opts.timeout,
        stall=opts.stall,
        worker_cpus=opts.worker_cpus,
        dialect=opts.dialect,
    )
    pool = Pool(spec)
    stopped = False
    try:
        try:
            yield server, pool
        except RunError:
            server.stop(None if pool.broken else pool)
            stopped = True
            for log in server.logs():
                print(f"  server log kept: {log}", flush=True)
            raise
        server.stop(pool)
        stopped = True
        server.remove_logs()
    finally:
        if not stopped:
            with contextlib.suppress(Exception):
                server.stop(None)
        pool.close()
