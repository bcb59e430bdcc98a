"""Fixtures that start the real server for the end-to-end tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.checked import Client
from tests.support.client_process import BackgroundClient
from tests.support.servers import LineConnection, RunningServer, running


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start ``twistd -n tcpchat`` with extra options; every one is stopped after the test."""
    started: list[RunningServer] = []

    def start(*args: str) -> RunningServer:
        server = RunningServer(tmp_path, list(args)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        try:
            server.stop()
        finally:
            server.kill()


@pytest.fixture
def server(start_server: Callable[..., RunningServer]) -> RunningServer:
    """The real server with its default options, on a free loopback port."""
    return start_server()


@pytest.fixture
def connect(server: RunningServer) -> Iterator[Callable[..., LineConnection]]:
    """Open connections to ``server`` (joined when given a nickname); all closed afterwards."""
    opened: list[LineConnection] = []

    def open_connection(nick: str | None = None) -> LineConnection:
        connection = server.connect(nick)
        opened.append(connection)
        return connection

    yield open_connection
    for connection in opened:
        connection.close()


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for a whole test module: default options, but no history replayed.

    Tests sharing it quit all their connections, so the next test finds the
    room empty and hears nothing of the tests before.
    """
    with running(tmp_path_factory.mktemp("quiet-server"), "--history", "0", "--db", ":memory:") \
            as shared:
        yield shared


@pytest.fixture
def open_client() -> Iterator[Callable[..., Client]]:
    """Open a :class:`Client` to a server, joined as ``nick`` if given; all quit afterwards."""
    opened: list[Client] = []

    def open_one(server: RunningServer, nick: str | None = None) -> Client:
        client = Client(server.host, server.port)
        opened.append(client)
        if nick is not None:
            client.join(nick)
        return client

    yield open_one
    for client in opened:
        client.leave()


@pytest.fixture
def background_clients() -> Iterator[Callable[[list[str]], BackgroundClient]]:
    """Start pipe-mode clients that are killed at the end of the test if still running."""
    started: list[BackgroundClient] = []

    def start(arguments: list[str]) -> BackgroundClient:
        started.append(BackgroundClient(arguments))
        return started[-1]

    yield start
    for client in started:
        client.stop()


@pytest.fixture
def peers(server: RunningServer) -> Iterator[Callable[[str], Client]]:
    """Members of the room on plain sockets; they quit at the end of the test."""
    opened: list[Client] = []

    def join(nick: str) -> Client:
        opened.append(Client(server.host, server.port))
        opened[-1].join(nick)
        return opened[-1]

    yield join
    for peer in opened:
        peer.leave()
