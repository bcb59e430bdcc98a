"""The direct write, on real sockets and Twisted's real transports, with no reactor running.

Each transport is made by Twisted's own listening port (``tcp.Port``,
``unix.Port``) on a :class:`MemoryReactorClock`: accepted as a reactor
would accept it, but never written by a reactor, so whatever reaches the
peer was sent by the direct write itself, and whatever Twisted queued stays
in its buffers until a test calls ``doWrite``. These tests fail if Twisted's
TCP transport loses the private state the direct write reads, or if the
fast path switches itself off.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import tcp, unix
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import DefaultOpenSSLContextFactory
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure

from chat.session.direct_write import direct_writer
from chat.testing import Chat
from tests.support.certificates import write_self_signed

SMALL_BUFFER = 4096
"""Kernel buffer sizes, in bytes, that one large write overflows."""


class _Kept(Protocol):
    """A protocol that does nothing; its transport is what the tests write to."""


class _Ports:
    """Twisted listening ports on a reactor that never runs, and what they accepted."""

    def __init__(self) -> None:
        self.reactor = MemoryReactorClock()
        self._ports: list[tcp.Port] = []
        self._accepted: list[Any] = []

    def listen_tcp(self, factory: IProtocolFactory | None = None) -> tcp.Port:
        port = tcp.Port(0, factory or Factory.forProtocol(_Kept), interface="127.0.0.1",
                        reactor=self.reactor)
        self._listening(port)
        return port

    def listen_unix(self, path: Path) -> unix.Port:
        port = unix.Port(os.fsencode(path), Factory.forProtocol(_Kept), reactor=self.reactor)
        self._listening(port)
        return port

    def _listening(self, port: tcp.Port) -> None:
        port.startListening()
        self._ports.append(port)

    def accept(self, port: Any) -> Any:
        """The transport the port makes for the connection waiting on it, as a reactor would."""
        port.doRead()
        (transport,) = (
            reader for reader in self.reactor.readers
            if isinstance(reader, tcp.Connection) and reader not in self._accepted
        )
        self._accepted.append(transport)
        return transport

    def close(self) -> None:
        for transport in self._accepted:
            transport.connectionLost(Failure(ConnectionDone()))
        for port in self._ports:
            port.stopListening()
        self.reactor.advance(0)  # the ports close their sockets a turn later


@pytest.fixture
def ports() -> Iterator[_Ports]:
    made = _Ports()
    yield made
    made.close()


def _connect(port: tcp.Port, receive_buffer: int | None = None) -> socket.socket:
    peer = socket.socket()
    if receive_buffer is not None:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    peer.settimeout(5)
    peer.connect(("127.0.0.1", port.getHost().port))
    return peer


def _nothing_arrives(peer: socket.socket) -> bool:
    peer.setblocking(False)
    try:
        return not peer.recv(1024)
    except BlockingIOError:
        return True


def _writer(transport: Any) -> Callable[[bytes], None]:
    """A write as a connection's output does it: what the direct sending leaves, to the
    transport."""
    write = direct_writer(transport, transport.write)
    assert write is not None
    return write


def _queued_by(transport: Any) -> tuple[Callable[[bytes], None], list[bytes]]:
    """A direct writer whose queue only keeps what it is given."""
    queued: list[bytes] = []
    write = direct_writer(transport, queued.append)
    assert write is not None
    return write, queued


def _tls_context(folder: Path) -> DefaultOpenSSLContextFactory:
    pem = str(write_self_signed(folder))
    return DefaultOpenSSLContextFactory(pem, pem)


def test_with_an_empty_buffer_the_bytes_go_to_the_socket_at_once(ports: _Ports) -> None:
    """On a plain TCP transport the peer has the bytes before any reactor runs, and Twisted
    has queued none of them."""
    port = ports.listen_tcp()
    with _connect(port) as peer:
        transport = ports.accept(port)
        assert type(transport) is tcp.Server
        assert direct_writer(transport, transport.write) is not None
        _writer(transport)(b"hello\r\n")
        assert transport._tempDataLen == 0 and transport.dataBuffer == b""
        assert peer.recv(1024) == b"hello\r\n"


def test_what_the_socket_does_not_take_is_queued_and_later_writes_wait_behind_it(
    ports: _Ports,
) -> None:
    """Once Twisted holds bytes, in its list or in its buffer, later writes queue behind them,
    and the peer receives everything in the order written."""
    big = bytes(range(256)) * 4096
    port = ports.listen_tcp()
    with _connect(port, receive_buffer=SMALL_BUFFER) as peer:
        transport = ports.accept(port)
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
        write = _writer(transport)
        write(big)
        queued = transport._tempDataLen
        assert 0 < queued < len(big)
        write(b"second")
        assert transport._tempDataLen == queued + len(b"second")
        transport.doWrite()
        assert transport.dataBuffer and transport._tempDataLen == 0
        write(b"third")
        assert transport._tempDataLen == len(b"third")
        expected = big + b"second" + b"third"
        received = bytearray()
        while len(received) < len(expected):
            received += peer.recv(1 << 16)
            transport.doWrite()
        assert bytes(received) == expected


class _CountedSends:
    """A socket whose sends are counted, passed on to the real one."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sends: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.sends.append(data)
        return self.sock.send(data)


def test_nothing_to_write_is_not_sent(ports: _Ports) -> None:
    """Writing no bytes (a batch that renders as nothing) makes no send and queues nothing;
    the next bytes arrive as usual."""
    port = ports.listen_tcp()
    with _connect(port) as peer:
        transport = ports.accept(port)
        counted = _CountedSends(transport.socket)
        real, transport.socket = transport.socket, counted
        write, queued = _queued_by(transport)
        transport.socket = real
        write(b"")
        assert counted.sends == [] and queued == []
        write(b"next\r\n")
        assert counted.sends == [b"next\r\n"]
        assert peer.recv(1024) == b"next\r\n"


def test_a_failed_send_leaves_the_bytes_and_the_error_to_the_transport(ports: _Ports) -> None:
    """A peer that has reset the connection makes the send fail: nothing is raised, and the
    bytes are returned whole, for the transport, which meets the error when it writes them."""
    port = ports.listen_tcp()
    peer = _connect(port)
    transport = ports.accept(port)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()
    write, queued = _queued_by(transport)
    write(b"after the reset")
    assert queued == [b"after the reset"]


def test_tls_endpoints_have_no_direct_sending(ports: _Ports, tmp_path: Path) -> None:
    """The TLS transport an ssl: endpoint gives its protocol has no direct sending."""
    tls_factory = TLSMemoryBIOFactory(_tls_context(tmp_path), False, Factory.forProtocol(_Kept))
    port = ports.listen_tcp(tls_factory)
    with _connect(port):
        tls = ports.accept(port).protocol.wrappedProtocol.transport
        assert direct_writer(tls, tls.write) is None


def test_tls_started_later_switches_the_direct_sending_off(ports: _Ports, tmp_path: Path) -> None:
    """After startTLS on a TCP connection, a sender made before it sends nothing in clear."""
    port = ports.listen_tcp()
    with _connect(port) as peer:
        transport = ports.accept(port)
        write, queued = _queued_by(transport)
        transport.startTLS(_tls_context(tmp_path))
        write(b"secret")
        assert queued == [b"secret"]
        assert _nothing_arrives(peer)


def test_unix_sockets_have_no_direct_sending(ports: _Ports, tmp_path: Path) -> None:
    """A unix socket's transport, whose bytes may carry file descriptors, has no direct sending."""
    path = tmp_path / "chat.sock"
    port = ports.listen_unix(path)
    with socket.socket(socket.AF_UNIX) as peer:
        peer.connect(str(path))
        transport = ports.accept(port)
        assert isinstance(transport, tcp.Server)
        assert direct_writer(transport, transport.write) is None


def test_other_transports_have_no_direct_sending() -> None:
    """Anything not a Twisted TCP transport (here a test's StringTransport) is left alone."""
    assert direct_writer(StringTransport(), StringTransport().write) is None


def test_the_chat_protocol_greets_through_the_direct_sending(ports: _Ports) -> None:
    """A chat connection on plain TCP has its greeting before any reactor runs."""
    port = ports.listen_tcp(Chat().factory)
    with _connect(port) as peer:
        transport = ports.accept(port)
        assert transport._tempDataLen == 0 and transport.dataBuffer == b""
        assert peer.recv(4096).startswith(b"*** Welcome to tcpchat.")
