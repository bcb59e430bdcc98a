"""Moderation kept in Redis: what one node sets every node holds; a node started later loads it."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from twisted.internet import reactor

from chat.config import ServerConfig
from chat.history_service import StartUpError
from chat.moderation.targets import AddressTarget, NickTarget
from chat.redis.address import RedisAddress, RedisError, blocking_command
from chat.redis.moderation import RedisModeration, SharedModeration, load_shared
from chat.service import load_moderation
from tests.support.redis_server import RedisServer, redis, redis_server, settle, wait_until

__all__ = ["redis", "redis_server"]  # the fixtures, for pytest to find

Node = tuple[SharedModeration, RedisModeration]


@pytest.fixture
def start_node(redis: RedisServer) -> Iterator[Callable[[], Node]]:
    """Start a node's moderation on the test's Redis; every one is stopped after the test."""
    started: list[RedisModeration] = []

    def start() -> Node:
        moderation, store = load_shared(redis.address, reactor)
        settle(store.start())
        started.append(store)
        return moderation, store

    yield start
    for store in started:
        settle(store.stop())


LAST_CHANGE = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
return last[1] and last[1][1]
"""


def _all_read(*nodes: Node) -> Callable[[], bool]:
    """Whether every node has read the stream of changes as far as Redis has it."""
    def all_read() -> bool:
        last = blocking_command(nodes[0][1].address, "EVAL", LAST_CHANGE, 1, "tcpchat:moderation")
        return all(store.last_id == last for _, store in nodes)
    return all_read


def test_a_ban_set_on_one_node_holds_on_another(start_node: Callable[[], Node]) -> None:
    """A nickname ban of a room made on one node keeps that nickname out of it on the other;
    lifted, it no longer does."""
    (one, _), (two, _) = start_node(), start_node()
    one.ban(NickTarget("zed"), "den", "alice", "spam")
    wait_until(lambda: two.banned("zed", None, "127.0.0.1", "den") is not None)
    ban = two.banned("zed", None, "127.0.0.1", "den")
    assert ban is not None and (ban.by, ban.reason) == ("alice", "spam")
    assert two.banned("zed", None, "127.0.0.1", "lobby") is None
    one.unban(NickTarget("zed"), "den")
    wait_until(lambda: two.banned("zed", None, "127.0.0.1", "den") is None)


def test_a_ban_whose_enforcing_fails_does_not_stop_the_node_reading_changes(
    start_node: Callable[[], Node],
) -> None:
    """If putting out a banned member fails on a node, the node still takes later changes."""
    (one, _), (two, store) = start_node(), start_node()

    def broken(_ban: object) -> None:
        raise RuntimeError("enforcing failed")

    store.enforce = broken
    one.ban(NickTarget("zed"), "den", "alice", "spam")
    one.set_topic("den", "still heard", "alice")
    wait_until(lambda: two.room("den").topic == "still heard")


def test_an_address_ban_of_the_server_holds_on_another(start_node: Callable[[], Node]) -> None:
    """A server-wide network ban made on one node refuses that network on the other."""
    (one, _), (two, _) = start_node(), start_node()
    one.ban(AddressTarget(ipaddress.ip_network("10.0.0.0/8")), None, "root", duration=3600)
    wait_until(lambda: two.banned(None, None, "10.1.2.3", None) is not None)
    assert two.banned(None, None, "192.168.0.1", None) is None


def test_a_topic_set_on_one_node_is_the_topic_on_another(start_node: Callable[[], Node]) -> None:
    """The topic, its setter and the room's operators follow; a cleared room is cleared."""
    (one, _), (two, _) = start_node(), start_node()
    one.set_topic("den", "plans for Friday", "alice")
    one.grant_op("den", "bob")
    wait_until(lambda: two.room("den").operators == {"bob"})
    assert (two.room("den").topic, two.room("den").topic_by) == ("plans for Friday", "alice")
    assert two.room("den") == one.room("den")
    one.set_topic("den", "", "alice")
    one.revoke_op("den", "bob")
    wait_until(lambda: two.room("den").default)


def test_a_mute_made_on_one_node_silences_on_another(start_node: Callable[[], Node]) -> None:
    """A mute in a room made on one node holds on the other until lifted there."""
    (one, _), (two, _) = start_node(), start_node()
    one.mute("carl", "den", "alice")
    wait_until(lambda: two.muted("carl", "den") is not None)
    two.unmute("carl", "den")
    wait_until(lambda: one.muted("carl", "den") is None)


def test_a_node_started_later_loads_what_is_in_force(start_node: Callable[[], Node]) -> None:
    """Bans, mutes and rooms set before a node starts are its own from the start; a ban that
    has run out is not."""
    one, store = start_node()
    one.ban(NickTarget("zed"), None, "root")
    one.ban(NickTarget("quick"), None, "root", duration=0.01)
    one.mute("carl", None, "root")
    one.set_topic("den", "plans", "alice")
    settle(store.stop())
    time.sleep(0.02)
    later, _ = start_node()
    assert later.banned("zed", None, "::1", None) is not None
    assert later.banned("quick", None, "::1", None) is None
    assert later.muted("carl", None) is not None
    assert later.room("den").topic == "plans"
    assert later.kept_rooms() == ["den"]


def test_nodes_changing_one_room_at_once_end_with_what_redis_holds(
    start_node: Callable[[], Node],
) -> None:
    """Both set the topic in the same reactor turn: each first shows its own, then both show
    the one that came last in the stream (the one a node started now loads)."""
    one, two = start_node(), start_node()
    for round_ in range(5):
        one[0].set_topic("den", f"one {round_}", "alice")
        two[0].set_topic("den", f"two {round_}", "bob")
        assert one[0].room("den").topic == f"one {round_}"
        assert two[0].room("den").topic == f"two {round_}"
    third = start_node()
    wait_until(_all_read(one, two, third))
    assert one[0].room("den") == two[0].room("den") == third[0].room("den")
    assert third[0].room("den").topic in ("one 4", "two 4")


def test_moderation_redis_cannot_read_ends_loading(redis: RedisServer) -> None:
    """A ban in Redis that tcpchat cannot read is a RedisError saying so, not a ban lost."""
    blocking_command(redis.address, "HSET", "tcpchat:moderation:bans", '["nick","x",null]',
                     "not json")
    with pytest.raises(RedisError, match="moderation tcpchat cannot read"):
        load_shared(redis.address, reactor)


def test_a_server_on_redis_loads_the_shared_moderation(
    redis: RedisServer, start_node: Callable[[], Node]
) -> None:
    """load_moderation with --redis gives the moderation in Redis and its store, not --db's."""
    one, store = start_node()
    one.set_topic("den", "plans", "alice")
    settle(store.stop())
    config = ServerConfig(db="", redis=f"unix:{redis.path}")
    moderation, kept_in = load_moderation(config, reactor)
    assert isinstance(kept_in, RedisModeration)
    assert moderation.room("den").topic == "plans"


def test_a_server_on_redis_it_cannot_read_does_not_start(
    redis: RedisServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """Moderation in Redis that tcpchat cannot read ends start-up with one line."""
    blocking_command(redis.address, "HSET", "tcpchat:moderation:rooms", "den", "[]")
    with pytest.raises(StartUpError):
        load_moderation(ServerConfig(db="", redis=f"unix:{redis.path}"), reactor)
    assert "cannot read the moderation" in capfd.readouterr().err


def test_stopping_while_redis_is_away_ends_within_the_timeout(tmp_path: Path) -> None:
    """A change that cannot reach Redis does not keep a stopping node waiting for ever."""
    address = RedisAddress(path=str(tmp_path / "no-redis.sock"), timeout=0.2)
    store = RedisModeration(address, reactor)
    moderation = SharedModeration(reactor, store)
    settle(store.start())
    moderation.set_topic("den", "never written", "alice")
    began = time.monotonic()
    settle(store.stop(), timeout=5.0)
    assert time.monotonic() - began < 2.0
