"""The benchmark's ``--redis`` / ``--nodes`` options: which configurations a run compares."""

from __future__ import annotations

import pytest

from bench.load.cli import parse_args, run_options


def test_redis_runs_one_process_without_redis_beside_each_cluster_size() -> None:
    """--redis --nodes 1,3 compares one plain process, a 1-node and a 3-node cluster."""
    opts = parse_args(["--workload", "W1", "--redis", "--nodes", "1,3", "--out", "/tmp/x.md"])
    assert opts.servers == ["tcpchat", "redis1", "redis3"]
    assert [run_options(opts, name).nodes_count for name in opts.servers] == [0, 1, 3]
    assert opts.server_cpus is None and opts.worker_cpus is None


@pytest.mark.parametrize("nodes", ["0", "2,2", "two", "9", ""])
def test_bad_node_counts_are_refused(nodes: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--nodes takes distinct numbers from 1 to 8; anything else is a usage error."""
    with pytest.raises(SystemExit):
        parse_args(["--workload", "W1", "--redis", "--nodes", nodes])
    assert "--nodes" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra", [["--workload", "W3"], ["--workload", "W1", "--target", "127.0.0.1:7000"]]
)
def test_redis_refuses_what_it_cannot_run(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--redis with W3 or --target is a usage error naming --redis."""
    with pytest.raises(SystemExit):
        parse_args(["--redis", *extra])
    assert "--redis" in capsys.readouterr().err
