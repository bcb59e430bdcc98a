"""Support for tests against a real Redis: a ``redis-server`` for the session, and waiting on it.

:func:`redis_server` (session scope) starts ``/usr/bin/redis-server`` on a
unix socket in a temporary directory, with nothing saved (``--save ''
--appendonly no``), waits for it to answer within :data:`START_TIMEOUT`
seconds and stops it by its pid at the end of the session. :func:`redis`
(per test) empties it with FLUSHALL and hands the test a
:class:`RedisServer` to connect to; every connection made through
:meth:`RedisServer.connect` is closed when the test ends.

The Redis ports answer through the global Twisted reactor, which pytest does
not run: :func:`settle` and :func:`wait_until` turn it (``reactor.iterate``)
on the test's thread until a Deferred fires or a condition holds, for at
most :data:`WAIT_TIMEOUT` seconds.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from twisted.internet import defer, reactor
from twisted.python.failure import Failure

from chat.redis.connection import RedisAddress, RedisClient, connect, encode_command

T = TypeVar("T")

START_TIMEOUT = 10.0
WAIT_TIMEOUT = 10.0
REDIS_SERVER = "/usr/bin/redis-server"


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_TIMEOUT) -> None:
    """Turn the reactor until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not done within {timeout}s"
        reactor.iterate(0.005)


def settle(deferred: defer.Deferred[T], timeout: float = WAIT_TIMEOUT) -> T:
    """What ``deferred`` fires with, turning the reactor until it does (raising its failure)."""
    outcome: list[Any] = []
    deferred.addBoth(outcome.append)
    wait_until(lambda: bool(outcome), timeout)
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]  # type: ignore[no-any-return]


def _command(path: str, *words: str) -> bytes:
    """Send one command over a short blocking connection; the raw first reply line."""
    with socket.socket(socket.AF_UNIX) as connection:
        connection.settimeout(START_TIMEOUT)
        connection.connect(path)
        connection.sendall(encode_command(*words))
        return connection.recv(4096)


@dataclass
class RedisServer:
    """A running redis-server, reached on the unix socket ``path``."""

    path: str
    pid: int
    clients: list[RedisClient] = field(default_factory=list)

    @property
    def address(self) -> RedisAddress:
        return RedisAddress(path=self.path)

    def connect(self) -> RedisClient:
        """A new connection to this server, closed at the end of the test."""
        client = settle(connect(self.address))
        self.clients.append(client)
        return client

    def flush(self) -> None:
        """Forget every key."""
        assert _command(self.path, "FLUSHALL") == b"+OK\r\n"

    def disconnect_all(self) -> None:
        for client in self.clients:
            settle(client.disconnect())
        self.clients.clear()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server for the whole session, saving nothing, on a unix socket."""
    if shutil.which(REDIS_SERVER) is None:
        pytest.fail(f"{REDIS_SERVER} is not installed (Debian package redis-server)")
    directory: Path = tmp_path_factory.mktemp("redis")
    path = str(directory / "redis.sock")
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", "0", "--unixsocket", path, "--save", "", "--appendonly", "no",
         "--dir", str(directory), "--logfile", str(directory / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"redis-server exited: see {directory}/redis.log"
            try:
                if _command(path, "PING") == b"+PONG\r\n":
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"redis-server not up within {START_TIMEOUT}s"
            time.sleep(0.01)
        yield RedisServer(path, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The session's redis-server, emptied for this test; its connections closed after it."""
    redis_server.flush()
    yield redis_server
    redis_server.disconnect_all()
