"""TLS out of the box: the server listens with an ssl: endpoint."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.certificates import write_self_signed
from tests.servers import HOST, RunningServer, free_port


@pytest.mark.e2e
def test_chat_over_tls(tmp_path: Path, start_server: Callable[..., RunningServer]) -> None:
    """A client speaking TLS is greeted and can join."""
    pem = write_self_signed(tmp_path)
    port = free_port()
    start_server("--listen", f"ssl:{port}:interface={HOST}:privateKey={pem}")
    context = ssl.create_default_context(cafile=str(pem))
    context.check_hostname = False
    with (
        socket.create_connection((HOST, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        received = b""
        while b"nickname" not in received:
            received += tls.recv(4096)
        tls.sendall(b"alice\n")
        while b"Welcome, alice!" not in received:
            received += tls.recv(4096)
        assert tls.version() is not None
