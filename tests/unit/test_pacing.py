"""Flood pacing: the token bucket of one connection, on a clock that moves only when told."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from chat.session.pacing import FloodPacing


def lines_let_through(pacing: FloodPacing, tried: int) -> int:
    """How many of ``tried`` lines sent at once the pacing lets through."""
    return sum(pacing.take() for _ in range(tried))


def test_a_burst_of_lines_goes_through_at_once() -> None:
    """A connection may send ``burst`` lines at once, and the next one waits."""
    pacing = FloodPacing(rate=2, burst=3, clock=Clock())
    assert [pacing.take() for _ in range(4)] == [True, True, True, False]


def test_after_the_burst_lines_go_through_at_the_rate() -> None:
    """Once the burst is spent, one more line goes through per 1/rate seconds."""
    clock = Clock()
    pacing = FloodPacing(rate=2, burst=3, clock=clock)
    lines_let_through(pacing, 3)
    clock.advance(0.49)
    assert not pacing.take()
    clock.advance(0.01)
    assert lines_let_through(pacing, 5) == 1


def test_an_idle_connection_saves_up_no_more_than_the_burst() -> None:
    """However long a connection was quiet, it may send only ``burst`` lines at once."""
    clock = Clock()
    pacing = FloodPacing(rate=2, burst=3, clock=clock)
    lines_let_through(pacing, 3)
    clock.advance(3600)
    assert lines_let_through(pacing, 10) == 3


def test_a_charge_puts_the_connection_into_debt() -> None:
    """Lines charged beyond the tokens held make the next line wait, even with a full bucket."""
    pacing = FloodPacing(rate=2, burst=3, clock=Clock())
    pacing.charge(5)
    assert not pacing.take()


def test_the_debt_is_waited_out_at_the_rate() -> None:
    """A debt of two tokens costs 1.5 s at two tokens a second before the next line."""
    clock = Clock()
    pacing = FloodPacing(rate=2, burst=3, clock=clock)
    pacing.charge(5)
    assert pacing.wait() == pytest.approx(1.5)
    clock.advance(1.49)
    assert not pacing.take()
    clock.advance(0.01)
    assert pacing.take()


def test_rate_zero_never_refuses_a_line() -> None:
    """With pacing off, any number of lines, and any charge, go through at once."""
    pacing = FloodPacing(rate=0, burst=1, clock=Clock())
    pacing.charge(1000)
    assert lines_let_through(pacing, 10_000) == 10_000


def test_the_wait_is_the_time_to_the_next_token() -> None:
    """With the bucket empty, the next token comes in 1/rate seconds."""
    pacing = FloodPacing(rate=4, burst=1, clock=Clock())
    pacing.take()
    assert pacing.wait() == pytest.approx(0.25)


def test_the_wait_is_at_least_a_millisecond() -> None:
    """Tokens a hair under one make the wait a millisecond, never an instant."""
    clock = Clock()
    pacing = FloodPacing(rate=3, burst=1, clock=clock)
    pacing.take()
    clock.advance(1 / 3 - 1e-12)
    assert not pacing.take()
    assert pacing.wait() == 0.001
