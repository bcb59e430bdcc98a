"""BlockingConnection against the session's redis-server: several commands, array replies."""

from __future__ import annotations

import pytest

from chat.redis.address import BlockingConnection, RedisAddress, RedisError, blocking_command
from tests.support.redis_server import RedisServer, redis, redis_server

__all__ = ["redis", "redis_server"]  # the fixtures, for pytest to find


def test_one_connection_answers_commands_in_turn_with_arrays(redis: RedisServer) -> None:
    """HSET then HMGET and SMEMBERS over one connection: arrays of texts, None for a missing
    field, an empty array for an empty set."""
    with BlockingConnection(redis.address) as connection:
        assert connection.command("HSET", "h", "a", "1", "b", "2") == 2
        assert connection.command("HMGET", "h", "a", "nothing", "b") == ["1", None, "2"]
        assert connection.command("SMEMBERS", "empty") == []


def test_an_aborted_transaction_answers_none(redis: RedisServer) -> None:
    """EXEC after a WATCHed key changed answers a null array: None."""
    with BlockingConnection(redis.address) as connection:
        connection.command("WATCH", "watched")
        blocking_command(redis.address, "SET", "watched", "by another")
        assert connection.command("MULTI") == "OK"
        assert connection.command("SET", "watched", "by me") == "QUEUED"
        assert connection.command("EXEC") is None
    assert blocking_command(redis.address, "GET", "watched") == "by another"


def test_the_connection_logs_in_to_its_database(redis: RedisServer) -> None:
    """With ``db`` the commands go to that database, not to 0."""
    elsewhere = RedisAddress(path=redis.path, db=3)
    with BlockingConnection(elsewhere) as connection:
        connection.command("SET", "where", "three")
    assert blocking_command(redis.address, "GET", "where") is None
    assert blocking_command(elsewhere, "GET", "where") == "three"
    blocking_command(elsewhere, "FLUSHDB")


def test_one_blocking_command_refuses_an_array_reply(redis: RedisServer) -> None:
    """blocking_command answers integers, texts or None; an array is a RedisError."""
    with pytest.raises(RedisError, match="array reply to SMEMBERS"):
        blocking_command(redis.address, "SMEMBERS", "s")
