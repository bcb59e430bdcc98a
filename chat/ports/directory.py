"""The directory port: who holds which nickname, and who is online.

A nickname is held by one owner at a time, ignoring case
(:func:`chat.text.fold`: "Alice" and "alice" are one nickname). A
:class:`Directory` grants a :class:`Claim` to the first owner who asks and
refuses everyone else with :class:`AlreadyClaimedError` until the claim is
released; the claims held are the people online.

The owner is whatever the caller uses to reach the holder (a member, a
session id), compared with ``==``; a directory shared between processes
needs owners that it can store (strings). Whether a nickname is well formed
is the domain's rule (:func:`chat.text.nickname_problem`), checked before
it is claimed, not the directory's.

Every method returns a Deferred, since a shared directory must ask another
process; :class:`chat.local.LocalDirectory` answers at once, and also offers
``claim_now`` (the claim, or :class:`AlreadyClaimedError` raised, with no
Deferred), which the login uses when a directory has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from twisted.internet import defer

from chat.text import fold

Owner = TypeVar("Owner")


@dataclass(frozen=True, slots=True)
class Claim(Generic[Owner]):
    """A nickname, as its holder spelled it, held by ``owner``."""

    nick: str
    owner: Owner

    @property
    def key(self) -> str:
        """The nickname as compared: case folded."""
        return fold(self.nick)


class AlreadyClaimedError(Exception):
    """The nickname asked for is held by another owner."""

    def __init__(self, nick: str, held_as: str) -> None:
        super().__init__(f"nickname {nick!r} is held (as {held_as!r})")
        self.nick = nick
        """The nickname asked for."""
        self.held_as = held_as
        """The same nickname as its holder spelled it."""


class Directory(Protocol[Owner]):
    """Nickname claims and presence, shared by everyone the directory serves."""

    def claim(self, nick: str, owner: Owner) -> defer.Deferred[Claim[Owner]]:
        """Hold ``nick`` for ``owner``; fails with :class:`AlreadyClaimedError` when
        another owner holds it in any case.

        An owner claiming a nickname it holds gets a new claim with the new
        spelling (a change of case), which replaces the old one in place.
        """

    def release(self, claim: Claim[Owner]) -> defer.Deferred[None]:
        """Free the nickname of ``claim``; nothing happens if that claim is no
        longer held (released already, or replaced by the owner's newer one)."""

    def find(self, nick: str) -> defer.Deferred[Claim[Owner] | None]:
        """The claim on ``nick`` in any case, or None."""

    def online(self) -> defer.Deferred[list[Claim[Owner]]]:
        """Every claim held, the earliest first."""

    def online_count(self) -> defer.Deferred[int]:
        """How many claims are held."""
