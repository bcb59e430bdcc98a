"""Contract of the Directory port (:mod:`chat.ports.directory`), run on every implementation.

An implementation passes :class:`DirectoryContract` by a subclass that says
how to make one and, for a remote directory, how to wait for an answer
(``settle``). Owners here are strings, which every directory can keep.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pytest
from twisted.internet import defer

from chat.local import LocalDirectory
from chat.ports import AlreadyClaimedError, Claim, Directory
from chat.redis.directory import RedisDirectory
from tests.support.contract import fired
from tests.support.redis_server import RedisServer, redis, redis_server, settle

__all__ = ["redis", "redis_server"]  # the fixtures, for pytest to find

T = TypeVar("T")


class DirectoryContract:
    """What every directory does."""

    def make(self) -> Directory[str]:
        """An empty directory."""
        raise NotImplementedError

    def settle(self, deferred: defer.Deferred[T]) -> T:
        """What an answer's Deferred fires with (raising what it fails with)."""
        return fired(deferred)

    def claim(self, directory: Directory[str], nick: str, owner: str) -> Claim[str]:
        return self.settle(directory.claim(nick, owner))

    def test_every_answer_is_a_deferred(self) -> None:
        """Claiming, releasing, finding and counting all answer with Deferreds."""
        directory = self.make()
        claimed = directory.claim("alice", "one")
        assert isinstance(claimed, defer.Deferred)
        answers: list[defer.Deferred[Any]] = [
            directory.find("alice"), directory.online(), directory.online_count(),
            directory.release(self.settle(claimed)),
        ]
        for answer in answers:
            assert isinstance(answer, defer.Deferred)
            self.settle(answer)

    def test_a_claim_holds_the_nick_as_spelled(self) -> None:
        """The claim says the nickname as asked, its folded key and its owner."""
        claim = self.claim(self.make(), "Alice", "one")
        assert (claim.nick, claim.key, claim.owner) == ("Alice", "alice", "one")

    def test_a_claim_is_exclusive_ignoring_case(self) -> None:
        """Another owner asking for the nickname in any case is refused, with both spellings."""
        directory = self.make()
        self.claim(directory, "Alice", "one")
        for asked in ("Alice", "alice", "ALICE"):
            with pytest.raises(AlreadyClaimedError) as refused:
                self.claim(directory, asked, "two")
            assert (refused.value.nick, refused.value.held_as) == (asked, "Alice")
        assert self.settle(directory.find("alice")) == Claim("Alice", "one")

    def test_the_holder_may_change_the_case_of_its_nick(self) -> None:
        """The owner claiming its nickname in another case gets it; the old claim is replaced."""
        directory = self.make()
        old = self.claim(directory, "alice", "one")
        new = self.claim(directory, "Alice", "one")
        assert new == Claim("Alice", "one")
        self.settle(directory.release(old))
        assert self.settle(directory.find("ALICE")) == new
        assert self.settle(directory.online()) == [new]

    def test_release_frees_the_nick(self) -> None:
        """Once released, the nickname is no one's and anyone may claim it."""
        directory = self.make()
        claim = self.claim(directory, "alice", "one")
        self.settle(directory.release(claim))
        assert self.settle(directory.find("alice")) is None
        assert self.claim(directory, "ALICE", "two") == Claim("ALICE", "two")

    def test_releasing_a_claim_no_longer_held_frees_nothing(self) -> None:
        """A claim released twice does not free the nickname of whoever holds it since."""
        directory = self.make()
        first = self.claim(directory, "alice", "one")
        self.settle(directory.release(first))
        second = self.claim(directory, "alice", "two")
        self.settle(directory.release(first))
        assert self.settle(directory.find("alice")) == second
        with pytest.raises(AlreadyClaimedError):
            self.claim(directory, "alice", "one")

    def test_find_ignores_case(self) -> None:
        """Any spelling finds the claim; an unknown nickname finds None."""
        directory = self.make()
        claim = self.claim(directory, "Alice", "one")
        assert self.settle(directory.find("aLiCe")) == claim
        assert self.settle(directory.find("bob")) is None

    def test_online_lists_the_claims_held_earliest_first(self) -> None:
        """Presence is the claims held, in the order claimed, and their count."""
        directory = self.make()
        assert self.settle(directory.online()) == []
        assert self.settle(directory.online_count()) == 0
        alice, bob, carol = (self.claim(directory, nick, "owner") for nick in ("a", "b", "c"))
        self.settle(directory.release(bob))
        assert self.settle(directory.online()) == [alice, carol]
        assert self.settle(directory.online_count()) == 2

    def test_one_owner_may_hold_several_nicks(self) -> None:
        """Claims are by nickname: an owner is not limited to one (a rename holds both a moment)."""
        directory = self.make()
        self.claim(directory, "alice", "one")
        self.claim(directory, "alicia", "one")
        assert self.settle(directory.online_count()) == 2


class TestLocalDirectory(DirectoryContract):
    """The in-process directory of one server."""

    def make(self) -> Directory[str]:
        return LocalDirectory()


class TestLocalDirectoryClaimedAtOnce(TestLocalDirectory):
    """The in-process directory with its claims asked of ``claim_now``, as a login asks
    them: the same answers, given with no Deferred."""

    def claim(self, directory: Directory[str], nick: str, owner: str) -> Claim[str]:
        assert isinstance(directory, LocalDirectory)
        return directory.claim_now(nick, owner)


class TestRedisDirectory(DirectoryContract):
    """The directory of several processes: claims kept in a real redis-server."""

    @pytest.fixture(autouse=True)
    def _redis(self, redis: RedisServer) -> None:
        self.redis = redis

    def make(self) -> Directory[str]:
        return RedisDirectory(self.redis.connect())

    def settle(self, deferred: defer.Deferred[T]) -> T:
        return settle(deferred)
