"""Nickname claims held in a dict: the :class:`~chat.ports.Directory` of one server.

Claims are kept by folded nickname in the order they were made (a change of
case keeps its place), and every answer is a Deferred already fired; a login
asks :meth:`LocalDirectory.claim_now`, which answers with no Deferred at all.
"""

from __future__ import annotations

from typing import Generic

from twisted.internet import defer

from chat.ports.directory import AlreadyClaimedError, Claim, Owner
from chat.text import fold


class LocalDirectory(Generic[Owner]):
    """Who holds which nickname, in this process only."""

    def __init__(self) -> None:
        self._claims: dict[str, Claim[Owner]] = {}

    def claim(self, nick: str, owner: Owner) -> defer.Deferred[Claim[Owner]]:
        """Hold ``nick`` for ``owner``, or fail with :class:`AlreadyClaimedError`."""
        try:
            return defer.succeed(self.claim_now(nick, owner))
        except AlreadyClaimedError:
            return defer.fail()

    def claim_now(self, nick: str, owner: Owner) -> Claim[Owner]:
        """:meth:`claim` answered at once: the claim, or :class:`AlreadyClaimedError` raised."""
        key = fold(nick)
        held = self._claims.get(key)
        if held is not None and held.owner != owner:
            raise AlreadyClaimedError(nick, held.nick)
        claim = self._claims[key] = Claim(nick, owner)
        return claim

    def release(self, claim: Claim[Owner]) -> defer.Deferred[None]:
        """Free ``claim``'s nickname if ``claim`` is still the one held."""
        if self._claims.get(claim.key) == claim:
            del self._claims[claim.key]
        return defer.succeed(None)

    def find(self, nick: str) -> defer.Deferred[Claim[Owner] | None]:
        """The claim on ``nick``, ignoring case, or None."""
        return defer.succeed(self._claims.get(fold(nick)))

    def online(self) -> defer.Deferred[list[Claim[Owner]]]:
        """Every claim held, the earliest first."""
        return defer.succeed(list(self._claims.values()))

    def online_count(self) -> defer.Deferred[int]:
        """How many claims are held."""
        return defer.succeed(len(self._claims))
