"""A loopback server that accepts connections and never says a word, for greeting timeouts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SilentServer:
    """Listens on a free loopback port, accepts, holds each connection open, sends nothing."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._held.append(connection)
            self.accepted += 1

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(5.0)
        for connection in self._held:
            connection.close()
        self._listener.close()


@contextmanager
def silent_server() -> Iterator[SilentServer]:
    """A :class:`SilentServer`, closed with its connections at the end."""
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()
