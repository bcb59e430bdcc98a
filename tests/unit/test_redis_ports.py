"""The Redis ports as several processes see them: two instances on one redis-server, one chat."""

from __future__ import annotations

import pytest

from chat.ports import AlreadyClaimedError, Claim
from chat.redis.connection import RedisError, blocking_command
from chat.redis.directory import RedisDirectory
from chat.redis.sequencer import RedisSequencer
from tests.support.redis_server import RedisServer, redis, redis_server, settle

__all__ = ["redis", "redis_server"]  # the fixtures, for pytest to find


def test_two_sequencers_never_hand_out_the_same_id(redis: RedisServer) -> None:
    """Two processes taking ids in turn from one counter get disjoint ids."""
    one, two = RedisSequencer(redis.address, block=7), RedisSequencer(redis.address, block=7)
    ids = [sequencer.next_id() for _ in range(50) for sequencer in (one, two)]
    assert len(set(ids)) == len(ids)
    assert RedisSequencer(redis.address).last_id >= max(ids)


def test_a_sequencer_over_a_key_that_is_not_a_number_is_a_clear_error(redis: RedisServer) -> None:
    """Whatever else wrote the key, the sequencer says so instead of numbering from it."""
    blocking_command(redis.address, "SET", "tcpchat:ids", "oops")
    with pytest.raises(RedisError, match="tcpchat:ids holds 'oops'"):
        RedisSequencer(redis.address)


def test_a_block_of_no_ids_is_refused(redis: RedisServer) -> None:
    with pytest.raises(ValueError, match="at least one id"):
        RedisSequencer(redis.address, block=0)


def test_a_nick_claimed_through_one_process_is_refused_through_another(redis: RedisServer) -> None:
    """Two connections, as two servers: the second asking for Alice in any case is refused."""
    here, there = RedisDirectory(redis.connect()), RedisDirectory(redis.connect())
    settle(here.claim("Alice", "node1/s1"))
    with pytest.raises(AlreadyClaimedError):
        settle(there.claim("alice", "node2/s1"))
    assert settle(there.find("ALICE")) == Claim("Alice", "node1/s1")
    assert settle(there.online_count()) == 1


def test_chats_with_other_prefixes_do_not_share_nicknames(redis: RedisServer) -> None:
    """One Redis may carry several chats, each under its own key prefix."""
    client = redis.connect()
    settle(RedisDirectory(client, prefix="one:").claim("alice", "a"))
    other = RedisDirectory(client, prefix="two:")
    assert settle(other.claim("alice", "b")) == Claim("alice", "b")
    assert settle(other.online()) == [Claim("alice", "b")]
