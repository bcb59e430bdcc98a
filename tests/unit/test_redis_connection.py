"""The Redis connection helpers against a real redis-server: both ways of talking to it."""

from __future__ import annotations

import re

import pytest

from chat.redis.connection import (
    RedisAddress,
    RedisError,
    blocking_command,
    encode_command,
    parse_url,
)
from tests.support.redis_server import RedisServer, redis, redis_server, settle

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
    ("rediss://localhost", "TLS (rediss://) is not supported yet"),
    ("unix:/r.sock?ping=0", "ping is seconds from 0.05 to 3600, not '0'"),
    ("redis://h?backoff=soon", "backoff is seconds from 0.05 to 3600, not 'soon'"),
    ("redis://h?db=1", "unknown setting 'db' (known: backoff, ping)"),
    ("unix:/r.sock?pign=1", "unknown setting 'pign'"),
])
def test_a_redis_url_that_names_nothing_says_why(url: str, said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        parse_url(url)
