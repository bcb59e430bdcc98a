"""TLS out of the box: the server listens with an ssl: endpoint."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.certificates import write_self_signed
from tests.support.servers import HOST, RunningServer, free_port


def receive_until(tls: ssl.SSLSocket, wanted: bytes, received: bytes = b"") -> bytes:
    """What ``tls`` receives after ``received``, read until it holds ``wanted``; fails at EOF."""
    while wanted not in received:
        chunk = tls.recv(4096)
        assert chunk, f"closed before {wanted!r}: {received!r}"
        received += chunk
    return received


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
        greeting = receive_until(tls, b"nickname")
        assert greeting.startswith(b"*** Welcome to tcpchat.\r\n"), greeting
        tls.sendall(b"alice\n")
        receive_until(tls, b"\r\n*** Welcome, alice!", greeting)


def wait_listening(server: RunningServer, port: int) -> None:
    """Wait until ``server`` says it listens on ``port`` too (it says so port by port)."""
    deadline = time.monotonic() + 5
    while f"tcpchat listening on {HOST}:{port}" not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.02)


def closed_within(connection: socket.socket, seconds: float) -> float:
    """Seconds until the server closes ``connection`` (which sends nothing); fails after
    ``seconds``."""
    started = time.monotonic()
    connection.settimeout(seconds)
    try:
        while connection.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept a silent TLS connection open for {seconds}s")
    return time.monotonic() - started


@pytest.mark.e2e
def test_a_connection_that_never_starts_tls_is_closed_and_its_slot_freed(
    tmp_path: Path, start_server: Callable[..., RunningServer]
) -> None:
    """A raw TCP socket that never sends a TLS handshake, and one refused beside it, are
    closed within the handshake and close timeouts; the address may connect again after."""
    pem = write_self_signed(tmp_path)
    port = free_port()
    server = start_server(
        "--listen", f"ssl:{port}:interface={HOST}:privateKey={pem}",
        "--handshake-timeout", "0.5", "--close-timeout", "0.5", "--max-per-ip", "1",
    )
    wait_listening(server, port)
    with (
        socket.create_connection((HOST, port), timeout=5) as silent,
        socket.create_connection((HOST, port), timeout=5) as refused,
    ):
        assert closed_within(refused, 2.0) < 2.0
        assert closed_within(silent, 2.5) < 2.5
    context = ssl.create_default_context(cafile=str(pem))
    context.check_hostname = False
    with (
        socket.create_connection((HOST, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert b"too many connections" not in receive_until(tls, b"nickname")
