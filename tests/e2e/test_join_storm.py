"""A join storm on the default listener: 2,000 clients connecting at once are all greeted.

Twisted listens with a backlog of 50 unless told otherwise; 2,000
connections at once overflow such an accept queue, the kernel drops
handshakes it had already acknowledged, and those clients wait for a
greeting that never comes. One thread drives every client through
non-blocking sockets and a selector, with one deadline for all.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable

import pytest

from tests.support.servers import RunningServer

pytestmark = pytest.mark.e2e

CLIENTS = 2000
DEADLINE = 30.0
PROMPT = b"choose a nickname"


def greeted_within(host: str, port: int, clients: int, deadline: float) -> tuple[int, float]:
    """Connect ``clients`` sockets at once; how many saw the prompt, and in how many seconds."""
    selector = selectors.DefaultSelector()
    received: dict[socket.socket, bytes] = {}
    started = time.monotonic()
    for _ in range(clients):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex((host, port))
        received[client] = b""
        selector.register(client, selectors.EVENT_READ)
    waiting = clients
    try:
        while waiting and time.monotonic() - started < deadline:
            for key, _ in selector.select(timeout=0.5):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                try:
                    chunk = ready.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                received[ready] += chunk
                if PROMPT in received[ready] or not chunk:
                    selector.unregister(ready)
                    waiting -= 1
        greeted = sum(PROMPT in data for data in received.values())
        return greeted, time.monotonic() - started
    finally:
        selector.close()
        for client in received:
            client.close()


def test_two_thousand_clients_at_once_are_all_greeted(
    start_server: Callable[..., RunningServer],
) -> None:
    """Every one of 2,000 simultaneous connections to the default endpoint form gets the prompt."""
    server = start_server("--max-per-ip", "0", "--flood", "0", "--db", "")
    greeted, seconds = greeted_within(server.host, server.port, CLIENTS, DEADLINE)
    assert greeted == CLIENTS, f"{CLIENTS - greeted} of {CLIENTS} never greeted in {seconds:.1f}s"
