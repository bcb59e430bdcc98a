"""Throttling password guesses: growing waits per account and per address, forgotten in time.

Each failed login counts against the account it tried and against the
address it came from; the ``n``-th failure in a row makes the next
attempt wait ``base * 2**(n-1)`` seconds after it, up to a cap. The
account's cap is low, so that someone guessing cannot keep its owner out
for long; the address's cap is high, so that the guesser is slowed. An
attempt waits for the longer of the two.

A count is forgotten once its cap has gone by after its wait ended, and
at most ``max_entries`` accounts and as many addresses are remembered
(the ones whose last failure is oldest are dropped first). Pure: the
time comes from an injected :class:`~twisted.internet.interfaces.IReactorTime`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

MAX_ENTRIES = 10_000
"""Accounts, and addresses, whose failures are remembered at most."""


@dataclass(slots=True)
class _Failures:
    count: int
    allowed_at: float
    """When the next attempt may be made."""


class _Counts:
    """Failures in a row per key, each with its wait, bounded in number and time."""

    def __init__(self, base: float, cap: float, max_entries: int) -> None:
        self._base = base
        self._cap = cap
        self._max_entries = max_entries
        self._entries: OrderedDict[str, _Failures] = OrderedDict()

    def wait(self, key: str, now: float) -> float:
        self._forget_expired(now)
        entry = self._entries.get(key)
        return 0.0 if entry is None else max(0.0, entry.allowed_at - now)

    def failed(self, key: str, now: float) -> float:
        self._forget_expired(now)
        entry = self._entries.pop(key, None)
        count = 1 if entry is None else entry.count + 1
        delay = min(self._base * 2.0 ** min(count - 1, 1023), self._cap)
        self._entries[key] = _Failures(count, now + delay)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return delay

    def clear(self, key: str) -> None:
        self._entries.pop(key, None)

    def _forget_expired(self, now: float) -> None:
        """Drop counts, oldest failure first, whose cap has passed since their wait ended."""
        while self._entries:
            key, oldest = next(iter(self._entries.items()))
            if now < oldest.allowed_at + self._cap:
                return
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


class Throttle:
    """How long a login for an account from an address must wait, given the failures so far."""

    def __init__(
        self, clock: IReactorTime, base: float = 1.0, per_account_max: float = 30.0,
        per_address_max: float = 300.0, max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._clock = clock
        self._accounts = _Counts(base, per_account_max, max_entries)
        self._addresses = _Counts(base, per_address_max, max_entries)

    def wait(self, account_key: str, address: str) -> float:
        """Seconds before the next attempt for ``account_key`` from ``address`` is allowed."""
        now = self._clock.seconds()
        return max(self._accounts.wait(account_key, now), self._addresses.wait(address, now))

    def failed(self, account_key: str, address: str) -> float:
        """Count a wrong password; the seconds the next attempt of either must now wait."""
        now = self._clock.seconds()
        return max(self._accounts.failed(account_key, now), self._addresses.failed(address, now))

    def succeeded(self, account_key: str, address: str) -> None:
        """A right password: the account's and the address's failures are forgotten."""
        self._accounts.clear(account_key)
        self._addresses.clear(address)

    def remembered(self) -> tuple[int, int]:
        """How many accounts and addresses have failures remembered now."""
        return len(self._accounts), len(self._addresses)
