"""Flood pacing: how many lines a connection may send, at once and over time.

A token bucket: a connection holds up to ``burst`` tokens, gets ``rate``
more each second, and each line it sends costs one. A front end asks
:meth:`FloodPacing.take` before it handles a line; when that says no, it
stops reading for :meth:`FloodPacing.wait` seconds, so the rest waits in
the connection's buffer, not in the server's memory. What a line makes the
server send (history shown) may cost tokens too (:meth:`FloodPacing.charge`).
A ``rate`` of 0 turns pacing off.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime


class FloodPacing:
    """The token bucket of one connection."""

    __slots__ = ("_at", "_clock", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, clock: IReactorTime) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock.seconds()

    def take(self) -> bool:
        """Spend a token for one line, if one is there (always, with pacing off)."""
        if self.rate <= 0:
            return True
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def charge(self, tokens: float) -> None:
        """Spend ``tokens`` now, even into debt, which later lines wait out."""
        if self.rate > 0 and tokens:
            self._refill()
            self._tokens -= tokens

    def wait(self) -> float:
        """Seconds until the next token, at least a millisecond (a float shortfall of
        1e-17 tokens must not schedule a wake-up at the very same instant, over and
        over); 0 with pacing off."""
        if self.rate <= 0:
            return 0.0
        return max((1 - self._tokens) / self.rate, 0.001)

    def _refill(self) -> None:
        now = self._clock.seconds()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
