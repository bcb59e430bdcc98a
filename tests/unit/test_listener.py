"""The Listener service in memory: backlog, failures as one line, and how it says where."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import ServerFactory
from twisted.internet.testing import MemoryReactor, RaisingMemoryReactor

from chat.config import ServerConfig
from chat.listener import Listener, ListenError, describe_address, endpoint_problem, with_backlog
from tests.support.certificates import self_signed


def test_default_listener_gets_a_large_backlog() -> None:
    """Without backlog= in the endpoint, a TCP listener gets ServerConfig.backlog, not 50."""
    reactor = MemoryReactor()
    Listener(reactor, "tcp:0:interface=127.0.0.1", ServerFactory()).startService()
    [(_, _, backlog, interface)] = reactor.tcpServers
    assert (backlog, interface) == (ServerConfig().backlog, "127.0.0.1")


def test_listener_uses_the_backlog_it_is_given() -> None:
    """The backlog passed in (from --backlog) is the one listened with."""
    reactor = MemoryReactor()
    Listener(reactor, "tcp:0", ServerFactory(), backlog=3000).startService()
    assert reactor.tcpServers[0][2] == 3000


def test_tls_and_unix_listeners_get_the_backlog_too(tmp_path: Path) -> None:
    """ssl: and unix: endpoints are given the backlog as well."""
    key, certificate = self_signed("127.0.0.1")
    (tmp_path / "server.pem").write_bytes(key + certificate)
    reactor = MemoryReactor()
    Listener(reactor, f"ssl:0:privateKey={tmp_path / 'server.pem'}", ServerFactory(),
             backlog=777).startService()
    Listener(reactor, f"unix:{tmp_path / 'chat.sock'}", ServerFactory(), backlog=778).startService()
    assert reactor.sslServers[0][3] == 777
    assert reactor.unixServers[0][2] == 778


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("tcp:1234", "tcp:1234:backlog=1024"),
        ("tcp6:1234:interface=\\:\\:1", "tcp6:1234:interface=\\:\\:1:backlog=1024"),
        ("ssl:1234:privateKey=k.pem", "ssl:1234:privateKey=k.pem:backlog=1024"),
        ("unix:/tmp/chat.sock", "unix:/tmp/chat.sock:backlog=1024"),
        ("TCP6:1234", "TCP6:1234:backlog=1024"),
    ],
)
def test_backlog_is_added_where_the_endpoint_sets_none(description: str, expected: str) -> None:
    """TCP, TLS and unix endpoints without a backlog get one."""
    assert with_backlog(description, 1024) == expected


@pytest.mark.parametrize(
    "description",
    [
        "tcp:1234:backlog=5",
        "tcp:1234:127.0.0.1:5",  # interface and backlog given by position
        "tcp6:1234:5",
        "ssl:1234:k.pem:k.pem:TLSv1_2_METHOD::5",
        "unix:/tmp/chat.sock:666:5",
        "systemd:domain=INET:index=0",
    ],
)
def test_backlog_is_left_alone_where_set_or_not_accepted(description: str) -> None:
    """A backlog the endpoint sets, by name or position, is kept; systemd: takes none."""
    assert with_backlog(description, 1024) == description


def test_port_in_use_is_one_line_and_an_exception_twistd_reports() -> None:
    """A failure to listen is a ListenError (an Exception, so twistd's daemon reports it)."""
    in_use = CannotListenError("", 1234, OSError(errno.EADDRINUSE, "Address already in use"))
    listener = Listener(RaisingMemoryReactor(listenException=in_use), "tcp:1234", ServerFactory())
    with pytest.raises(ListenError) as raised:
        listener.startService()
    assert isinstance(raised.value, Exception)
    assert str(raised.value) == "tcpchat: cannot listen on tcp:1234: Address already in use"
    assert not listener.running


def test_listen_before_start_is_not_repeated_by_start() -> None:
    """listen() may come before startService(); the port is opened once."""
    reactor = MemoryReactor()
    listener = Listener(reactor, "tcp:0", ServerFactory())
    listener.listen()
    listener.startService()
    assert len(reactor.tcpServers) == 1 and listener.running


def test_unix_lock_names_the_listening_process() -> None:
    """A unix: endpoint with its lock file must listen in the process that serves."""
    reactor = MemoryReactor()
    assert Listener(reactor, "unix:/tmp/chat.sock", ServerFactory()).lock_names_process
    assert not Listener(reactor, "unix:/tmp/chat.sock:lockfile=0", ServerFactory()) \
        .lock_names_process
    assert not Listener(reactor, "tcp:1234", ServerFactory()).lock_names_process


@pytest.mark.parametrize(
    ("address", "text"),
    [
        (UNIXAddress(b"/tmp/chat.sock"), "/tmp/chat.sock"),
        (IPv4Address("TCP", "127.0.0.1", 5555), "127.0.0.1:5555"),
        (IPv6Address("TCP", "::1", 5555), "[::1]:5555"),
    ],
)
def test_address_is_written_as_a_person_would(address: Any, text: str) -> None:
    """A unix socket is its path, not b'...'; TCP is host:port."""

    class Port:
        def getHost(self) -> Any:
            return address

    assert describe_address(Port()) == text  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("description", "problem"),
    [
        ("tcp:notaport", "port 'notaport' is not a number"),
        ("tcp:port=notaport", "port 'notaport' is not a number"),
        ("tcp6:", "port '' is not a number"),
        ("ssl:70000", "port 70000 is not between 0 and 65535"),
        ("tcp", "no port given (tcp:PORT)"),
        ("tcp:1234:backlog=lots", "backlog 'lots' is not a whole number above 0"),
        ("tcp:1234:backlog=0", "backlog '0' is not a whole number above 0"),
        ("unix:/tmp/chat.sock:mode=rw", "mode 'rw' is not an octal number"),
        ("unix:", "no socket path given (unix:PATH)"),
        ("unix:/no/such/folder/chat.sock", "folder /no/such/folder does not exist"),
    ],
)
def test_endpoint_problem_names_the_wrong_part(description: str, problem: str) -> None:
    """A wrong endpoint says which part is wrong, not Python's int() message."""
    assert endpoint_problem(description) == problem


@pytest.mark.parametrize(
    "description",
    ["tcp:0", "tcp:1234:interface=127.0.0.1:backlog=10", "tcp6:1234", "unix:/tmp/x.sock",
     "systemd:domain=INET:index=0", "carrier-pigeon:1"],
)
def test_endpoint_problem_is_none_for_what_it_does_not_judge(description: str) -> None:
    """Good endpoints, and types it does not know, are left to serverFromString."""
    assert endpoint_problem(description) is None


def test_make_service_listens_with_the_configured_backlog() -> None:
    """--backlog (ServerConfig.backlog) is the backlog every default listener gets."""
    from chat.service import make_service

    reactor = MemoryReactor()
    top = make_service(reactor, ["tcp:0"], ServerConfig(db="", backlog=77))
    # Only the listeners: the stores' threads would wait for a reactor that never runs.
    for service in top:
        if isinstance(service, Listener):
            service.startService()
    assert reactor.tcpServers[0][2] == 77
