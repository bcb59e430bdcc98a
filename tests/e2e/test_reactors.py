"""The real server on the reactor twistd's --reactor chooses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.servers import RunningServer

REACTOR_CLASSES = {
    "asyncio": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "poll": "twisted.internet.pollreactor.PollReactor",
}


class _ServerOnReactor(RunningServer):
    """``twistd --reactor=NAME -n tcpchat``."""

    def __init__(self, workdir: Path, reactor: str) -> None:
        super().__init__(workdir, ["--db", ""])
        self.reactor = reactor

    def arguments(self) -> list[str]:
        return [f"--reactor={self.reactor}", *super().arguments()]


@pytest.mark.parametrize("reactor", sorted(REACTOR_CLASSES))
def test_the_server_runs_on_the_reactor_chosen(tmp_path: Path, reactor: str) -> None:
    """twistd --reactor=asyncio (or poll) tcpchat starts on that reactor and relays a message."""
    server = _ServerOnReactor(tmp_path, reactor).start()
    try:
        alice, bob = server.connect("alice"), server.connect("bob")
        alice.expect("bob has joined")
        bob.send_line("hello from bob")
        assert alice.expect("<bob>") == "<bob> hello from bob"
        alice.close()
        bob.close()
        assert f"reactor class: {REACTOR_CLASSES[reactor]}." in server.log()
    finally:
        try:
            server.stop()
        finally:
            server.kill()
