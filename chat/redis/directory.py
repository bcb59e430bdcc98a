"""Nickname claims kept in Redis: the :class:`~chat.ports.Directory` shared by a chat's processes.

Each claim is one key, ``<prefix>nick:<folded nickname>``, set only if it
does not exist (SET NX) to ``[nick as spelled, owner, node]`` (the node
serving the holder, when the directory is given one); a sorted set,
``<prefix>online``, ranks the folded nicknames by when they were first
claimed (a counter, ``<prefix>claims``), which is the order of
:meth:`RedisDirectory.online`. Claiming, releasing and listing are each one
Lua script, so two processes asking at once cannot both win, and a claim is
released only by its holder (the same spelling and owner). Owners are
strings (a session id that is unique across processes).

While the directory's ``health`` says Redis is down, :meth:`RedisDirectory.claim` and
:meth:`RedisDirectory.find` fail at once with
:class:`~chat.domain.errors.BackboneUnavailableError` rather than wait for Redis
(a nickname chosen then is refused with the reason, not left unanswered).

A directory given its ``node`` also notes each claim in the node's set
``<prefix>node:<node>:claims``, so that when the node's lease expires
(:mod:`chat.redis.presence`) its claims are freed, and
:class:`~chat.redis.courier.RedisCourier` finds where to deliver.

It also remembers the claims its node's members hold, so that when Redis is
back after an outage :meth:`RedisDirectory.put_back` makes Redis hold them
again in one call (:data:`PUT_BACK`): a claim Redis lost (restarted without
its data, or freed when the node's lease ran out) is taken again, one whose
release was not heard is freed. A nickname someone else claimed in the
meantime stays theirs: Redis is the one judge, and the first claim it
answered wins; the node logs it and tells :attr:`RedisDirectory.lost`.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from twisted.internet import defer
from twisted.logger import Logger

from chat.domain.errors import BackboneUnavailableError
from chat.ports.directory import AlreadyClaimedError, Claim
from chat.redis.bus import Health
from chat.redis.connection import RedisClient
from chat.text import fold

log = Logger()

CLAIM = """
local held = redis.call('GET', KEYS[1])
if held and cjson.decode(held)[2] ~= ARGV[2] then return held end
if held then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[3])
end
if KEYS[4] then redis.call('SADD', KEYS[4], ARGV[3]) end
return redis.call('ZCARD', KEYS[2])
"""
"""Claim for ARGV[2] (owner) unless another owner holds it; returns what is held then, or,
claimed, how many claims are held. The node's claims are the set KEYS[4], if given."""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  if KEYS[3] then redis.call('SREM', KEYS[3], ARGV[2]) end
end
return 0
"""
"""Free the nickname if the claim held is exactly ARGV[1]."""

ONLINE = """
local claims = {}
for _, key in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  claims[#claims + 1] = redis.call('GET', ARGV[1] .. key)
end
return claims
"""
"""Every claim held, in the order of the sorted set."""

PUT_BACK = """
local wanted, conflicts = {}, {}
for i = 3, #ARGV, 3 do
  local key, value, owner = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local held = redis.call('GET', ARGV[1] .. key)
  if not held then
    redis.call('SET', ARGV[1] .. key, value)
    redis.call('ZADD', KEYS[1], 'NX', redis.call('INCR', KEYS[2]), key)
  elseif cjson.decode(held)[2] ~= owner then
    conflicts[#conflicts + 1] = key
  end
  if not held or cjson.decode(held)[2] == owner then
    wanted[key] = true
    redis.call('SADD', KEYS[3], key)
  end
end
for _, key in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if not wanted[key] then
    local held = redis.call('GET', ARGV[1] .. key)
    if held and cjson.decode(held)[3] == ARGV[2] then
      redis.call('DEL', ARGV[1] .. key)
      redis.call('ZREM', KEYS[1], key)
    end
    redis.call('SREM', KEYS[3], key)
  end
end
return conflicts
"""
"""Make Redis hold node ARGV[2]'s claims again: (folded nick, claim, owner) triples from
ARGV[3] (claim keys begin with ARGV[1]); free the other claims of the node's set (KEYS[3])
that name the node. Returns the folded nicks another owner holds now."""


class RedisDirectory:
    """Who holds which nickname, for every process using the same Redis and prefix."""

    def __init__(
        self, client: RedisClient, prefix: str = "tcpchat:", node: str | None = None,
        health: Health | None = None,
    ) -> None:
        self.client = client
        self.health = health
        """While it says Redis is down, claims and finds fail at once (None: always tried)."""
        self.prefix = prefix
        self.node = node
        """The node whose members claim here (None: claims name no node)."""
        self._mine = [] if node is None else [f"{prefix}node:{node}:claims"]
        self._online = f"{prefix}online"
        self._claims = f"{prefix}claims"
        self._held: dict[str, Claim[str]] = {}
        """This node's members' claims, by folded nickname, the earliest first."""
        self.known_online = 0
        """How many nicknames were held, on every node, when this node last claimed one (its
        members' own counted), less those it released since: what a welcome says is online."""
        self.lost: Callable[[Claim[str]], None] = lambda claim: None
        """Told of each claim of this node that someone else holds once Redis is back."""

    def claim(self, nick: str, owner: str) -> defer.Deferred[Claim[str]]:
        """Hold ``nick`` for ``owner``, or fail with :class:`AlreadyClaimedError` (or
        :class:`~chat.domain.errors.BackboneUnavailableError` while Redis is down)."""
        if self._down():
            return defer.fail(BackboneUnavailableError(speech=False))
        claim = Claim(nick, owner)
        keys = [self._key(claim.key), self._online, self._claims, *self._mine]
        asked = self.client.eval(CLAIM, keys, [self._value(claim), owner, claim.key])

        def answered(held: str | int) -> Claim[str]:
            if not isinstance(held, int):
                raise AlreadyClaimedError(nick, _claim(held).nick)
            self._held[claim.key] = claim
            self.known_online = held
            return claim

        return asked.addCallback(answered)

    def release(self, claim: Claim[str]) -> defer.Deferred[None]:
        """Free ``claim``'s nickname if ``claim`` is still the one held."""
        if self._held.get(claim.key) == claim:
            del self._held[claim.key]
            self.known_online = max(0, self.known_online - 1)
        keys = [self._key(claim.key), self._online, *self._mine]
        released = self.client.eval(RELEASE, keys, [self._value(claim), claim.key])
        return released.addCallback(lambda _: None)

    def put_back(self) -> defer.Deferred[list[Claim[str]]]:
        """Make Redis hold this node's members' claims again (after an outage), freeing
        those it still holds for members gone; fires with the claims someone else holds
        now, which this node no longer holds (each told to :attr:`lost`)."""
        if not self._mine:
            return defer.succeed([])
        args: list[str | int | float] = [self._key(""), str(self.node)]
        for key, claim in self._held.items():
            args += (key, self._value(claim), claim.owner)
        asked = self.client.eval(PUT_BACK, [self._online, self._claims, *self._mine], args)

        def answered(conflicts: list[str]) -> list[Claim[str]]:
            lost = [self._held.pop(key) for key in conflicts]
            for claim in lost:
                log.error("directory: {nick} was claimed on another node while Redis was "
                          "unreachable; this node's {nick} no longer holds it", nick=claim.nick)
                self.lost(claim)
            return lost

        return asked.addCallback(answered)

    def find(self, nick: str) -> defer.Deferred[Claim[str] | None]:
        """The claim on ``nick``, ignoring case, or None (failing with
        :class:`~chat.domain.errors.BackboneUnavailableError` while Redis is down)."""
        if self._down():
            return defer.fail(BackboneUnavailableError(speech=False))
        found = self.client.execute_command("GET", self._key(fold(nick)))
        return found.addCallback(lambda held: None if held is None else _claim(held))

    def online(self) -> defer.Deferred[list[Claim[str]]]:
        """Every claim held, the earliest first."""
        listed = self.client.eval(ONLINE, [self._online], [f"{self.prefix}nick:"])
        return listed.addCallback(lambda held: [_claim(value) for value in held if value])

    def online_count(self) -> defer.Deferred[int]:
        """How many claims are held."""
        return self.client.execute_command("ZCARD", self._online).addCallback(int)

    def _down(self) -> bool:
        return self.health is not None and not self.health.up

    def _key(self, folded: str) -> str:
        return f"{self.prefix}nick:{folded}"

    def _value(self, claim: Claim[str]) -> str:
        held = [claim.nick, claim.owner] + ([] if self.node is None else [self.node])
        return json.dumps(held, ensure_ascii=False)


def _claim(value: str) -> Claim[str]:
    nick, owner, *_node = json.loads(value)
    return Claim(nick, owner)
