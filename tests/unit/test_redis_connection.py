"""The Redis connection helpers against a real redis-server: both ways of talking to it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import reactor as the_reactor
from twisted.internet.base import BlockingResolver

from chat.redis.connection import (
    RedisAddress,
    RedisError,
    blocking_command,
    connect_lazily,
    encode_command,
    parse_url,
)
from tests.support.certificates import self_signed
from tests.support.redis_server import REDIS_SERVER, RedisServer, redis, redis_server, settle
from tests.support.servers import free_port

__all__ = ["redis", "redis_server"]  # the fixtures, for pytest to find


def test_a_command_is_encoded_in_the_redis_protocol() -> None:
    """Each word is a bulk string, numbers written as text."""
    assert encode_command("INCRBY", "ids", 10) == b"*3\r\n$6\r\nINCRBY\r\n$3\r\nids\r\n$2\r\n10\r\n"


def test_a_blocking_command_answers_integers_texts_and_none(redis: RedisServer) -> None:
    """INCRBY gives an integer, GET the text stored, or None when nothing is."""
    assert blocking_command(redis.address, "INCRBY", "ids", 5) == 5
    assert blocking_command(redis.address, "GET", "ids") == "5"
    assert blocking_command(redis.address, "GET", "nothing") is None


def test_a_refused_blocking_command_raises_what_redis_said(redis: RedisServer) -> None:
    """An error reply is a RedisError with Redis's words."""
    blocking_command(redis.address, "SET", "text", "abc")
    with pytest.raises(RedisError, match="not an integer"):
        blocking_command(redis.address, "INCR", "text")


def test_an_unreachable_redis_is_a_clear_error(tmp_path: object) -> None:
    """No server at the address: a RedisError naming where it looked."""
    address = RedisAddress(path=f"{tmp_path}/none.sock", timeout=0.5)
    with pytest.raises(RedisError, match=r"none\.sock"):
        blocking_command(address, "PING")


def test_the_connection_and_the_blocking_command_see_the_same_data(redis: RedisServer) -> None:
    """What one writes the other reads: they are one server."""
    client = redis.connect()
    settle(client.execute_command("SET", "greeting", "hello"))
    assert blocking_command(redis.address, "GET", "greeting") == "hello"


@pytest.mark.parametrize(("url", "address"), [
    ("redis://127.0.0.1:6380/2", RedisAddress("127.0.0.1", 6380, db=2)),
    ("redis://:s%40cret@localhost", RedisAddress("localhost", 6379, password="s@cret")),
    ("redis://user:pw@[::1]:7000", RedisAddress("::1", 7000, password="pw")),
    ("unix:/run/redis.sock?db=1&password=x", RedisAddress(path="/run/redis.sock", password="x",
                                                        db=1)),
    ("unix:///run/redis.sock", RedisAddress(path="/run/redis.sock")),
    ("unix:/r.sock?ping=0.5&backoff=2", RedisAddress(path="/r.sock", ping=0.5, backoff=2.0)),
    ("redis://h/1?backoff=30", RedisAddress("h", 6379, db=1, backoff=30.0)),
])
def test_a_redis_url_names_its_server(url: str, address: RedisAddress) -> None:
    """The forms --redis takes: TCP with password and database, or a unix socket."""
    assert parse_url(url) == address


@pytest.mark.parametrize(("url", "said"), [
    ("http://localhost", "use redis://"),
    ("redis://", "use redis://"),
    ("unix:", "no socket path"),
    ("redis://localhost:99999", "port is not a number"),
    ("redis://localhost/two", "database is a number"),
    ("rediss://localhost?ca=/no/such.pem", "ca '/no/such.pem' is not a file"),
    ("redis://localhost?ca=/etc/hosts", "unknown setting 'ca'"),
    ("unix:/r.sock?ping=0", "ping is seconds from 0.05 to 3600, not '0'"),
    ("redis://h?backoff=soon", "backoff is seconds from 0.05 to 3600, not 'soon'"),
    ("redis://h?db=1", "unknown setting 'db' (known: backoff, ping)"),
    ("unix:/r.sock?pign=1", "unknown setting 'pign'"),
])
def test_a_redis_url_that_names_nothing_says_why(url: str, said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        parse_url(url)


def test_a_rediss_url_is_tls_with_its_authority() -> None:
    """rediss:// is TLS, checked against the system's authorities or ?ca= ones."""
    assert parse_url("rediss://h:6380?ca=/etc/hosts") == RedisAddress(
        "h", 6380, tls=True, ca="/etc/hosts"
    )
    assert parse_url("rediss://:pw@h").tls and parse_url("rediss://h").ca is None


@pytest.fixture
def tls_redis() -> Iterator[RedisAddress]:
    """A redis-server answering TLS only, on a loopback port, with a certificate for
    localhost; the address names the certificate as the authority to trust."""
    folder = Path(tempfile.mkdtemp(prefix="tcpchat-tls-redis-"))
    key, certificate = self_signed("localhost")
    (folder / "key.pem").write_bytes(key)
    (folder / "ca.pem").write_bytes(certificate)
    port = free_port()
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", "0", "--bind", "127.0.0.1", "--tls-port", str(port),
         "--tls-cert-file", str(folder / "ca.pem"), "--tls-key-file", str(folder / "key.pem"),
         "--tls-auth-clients", "no", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--logfile", str(folder / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    address = RedisAddress("localhost", port, tls=True, ca=str(folder / "ca.pem"), timeout=2.0)
    try:
        deadline = time.monotonic() + 10.0
        while True:
            assert process.poll() is None, f"redis-server exited: see {folder}/redis.log"
            try:
                blocking_command(address, "PING")
                break
            except RedisError:
                assert time.monotonic() < deadline, "TLS redis-server not up within 10s"
                time.sleep(0.02)
        yield address
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def reached_both_ways(address: RedisAddress, key: str, value: str) -> None:
    """SET ``key`` through a node's connection to ``address`` and GET it back, then GET it
    with a blocking command: both ways in work."""
    # Names are resolved on the reactor's threads, which start only when it runs (it
    # never does here): resolve them on this thread for the test.
    reactor: Any = the_reactor
    resolver, name_resolver = reactor.resolver, reactor.nameResolver
    reactor.installResolver(BlockingResolver())
    try:
        client = connect_lazily(address)
        try:
            settle(client.execute_command("SET", key, value))
            assert settle(client.execute_command("GET", key)) == value
        finally:
            settle(client.disconnect())
    finally:
        reactor.installResolver(resolver)
        reactor.installNameResolver(name_resolver)
    assert blocking_command(address, "GET", key) == value


def test_redis_over_tls_is_reached_both_ways(tls_redis: RedisAddress) -> None:
    """The node's connection and the blocking command both talk TLS to Redis."""
    reached_both_ways(tls_redis, "over", "tls")


def test_a_redis_whose_certificate_is_not_trusted_is_refused(tls_redis: RedisAddress) -> None:
    """Without its authority (the system's only), the self-signed certificate fails."""
    untrusting = RedisAddress(tls_redis.host, tls_redis.port, tls=True, timeout=2.0)
    with pytest.raises(RedisError, match="certificate verify failed"):
        blocking_command(untrusting, "PING")
