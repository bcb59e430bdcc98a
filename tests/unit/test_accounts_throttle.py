"""The throttle of password guesses, on a task.Clock: growing waits, caps, clearing, forgetting."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from chat.accounts.throttle import Throttle

ACCOUNT, OTHER_ACCOUNT = "alice", "bob"
ADDRESS, OTHER_ADDRESS = "192.0.2.1", "198.51.100.7"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def throttle(clock: Clock) -> Throttle:
    return Throttle(clock, base=1.0, per_account_max=30.0, per_address_max=300.0)


def fail(throttle: Throttle, times: int, account: str = ACCOUNT, address: str = ADDRESS) -> None:
    for _ in range(times):
        throttle.failed(account, address)


def test_nothing_waits_before_any_failure(throttle: Throttle) -> None:
    """With no failures, an attempt may be made at once."""
    assert throttle.wait(ACCOUNT, ADDRESS) == 0.0


def test_the_first_failure_makes_the_next_attempt_wait_base_seconds(throttle: Throttle) -> None:
    """After one failure the wait is base."""
    fail(throttle, 1)
    assert throttle.wait(ACCOUNT, ADDRESS) == 1.0


def test_each_failure_doubles_the_wait(throttle: Throttle, clock: Clock) -> None:
    """Failures in a row, each made once allowed, wait 1, 2, 4, 8 seconds."""
    waits = []
    for _ in range(4):
        clock.advance(throttle.wait(ACCOUNT, ADDRESS))
        throttle.failed(ACCOUNT, ADDRESS)
        waits.append(throttle.wait(ACCOUNT, ADDRESS))
    assert waits == [1.0, 2.0, 4.0, 8.0]


def test_failed_gives_the_new_wait(throttle: Throttle) -> None:
    """failed returns how long the next attempt must now wait (for logging)."""
    fail(throttle, 2)
    assert throttle.failed(ACCOUNT, ADDRESS) == 4.0


def test_the_wait_counts_down_with_the_clock(throttle: Throttle, clock: Clock) -> None:
    """A wait of 4 s is 1.5 s after 2.5 s, and nothing once over."""
    fail(throttle, 3)
    clock.advance(2.5)
    assert throttle.wait(ACCOUNT, ADDRESS) == 1.5
    clock.advance(1.5)
    assert throttle.wait(ACCOUNT, ADDRESS) == 0.0


def test_the_base_sets_the_first_wait(clock: Clock) -> None:
    """With base 0.5, waits are 0.5 s, then 1 s."""
    throttle = Throttle(clock, base=0.5)
    first = throttle.failed(ACCOUNT, ADDRESS)
    assert (first, throttle.failed(ACCOUNT, ADDRESS)) == (0.5, 1.0)


def test_an_accounts_failures_slow_it_from_every_address(throttle: Throttle) -> None:
    """Failures for an account make its next attempt wait from another address too."""
    fail(throttle, 3)
    assert throttle.wait(ACCOUNT, OTHER_ADDRESS) == 4.0


def test_an_addresss_failures_slow_it_for_every_account(throttle: Throttle) -> None:
    """Failures from an address make its next attempt at another account wait too."""
    fail(throttle, 3)
    assert throttle.wait(OTHER_ACCOUNT, ADDRESS) == 4.0


def test_an_accounts_wait_is_capped_low(throttle: Throttle) -> None:
    """Guesses at one account from many addresses make it wait at most per_account_max."""
    for number in range(12):
        throttle.failed(ACCOUNT, f"203.0.113.{number}")
    assert throttle.wait(ACCOUNT, OTHER_ADDRESS) == 30.0


def test_an_addresss_wait_is_capped_high(throttle: Throttle) -> None:
    """Guesses from one address at many accounts make it wait up to per_address_max."""
    for number in range(12):
        throttle.failed(f"user{number}", ADDRESS)
    assert throttle.wait(OTHER_ACCOUNT, ADDRESS) == 300.0


def test_the_longer_wait_of_the_two_applies(throttle: Throttle) -> None:
    """An attempt waits for the longer of its account's and its address's waits."""
    fail(throttle, 3, account=ACCOUNT, address=OTHER_ADDRESS)
    fail(throttle, 1, account=OTHER_ACCOUNT, address=ADDRESS)
    assert throttle.wait(ACCOUNT, ADDRESS) == 4.0


def test_a_success_clears_the_accounts_failures(throttle: Throttle) -> None:
    """After a right password, the account waits no more, from any address."""
    fail(throttle, 3)
    throttle.succeeded(ACCOUNT, ADDRESS)
    assert throttle.wait(ACCOUNT, OTHER_ADDRESS) == 0.0


def test_a_success_clears_the_addresss_failures(throttle: Throttle) -> None:
    """After a right password, the address waits no more, for any account."""
    fail(throttle, 3)
    throttle.succeeded(ACCOUNT, ADDRESS)
    assert throttle.wait(OTHER_ACCOUNT, ADDRESS) == 0.0


def test_a_success_leaves_other_addresses_failures(throttle: Throttle) -> None:
    """A right password from one address does not clear another address's failures."""
    fail(throttle, 3, account=OTHER_ACCOUNT, address=OTHER_ADDRESS)
    throttle.succeeded(ACCOUNT, ADDRESS)
    assert throttle.wait(ACCOUNT, OTHER_ADDRESS) == 4.0


def test_failures_are_remembered_until_the_cap_has_passed_after_the_wait(
    throttle: Throttle, clock: Clock
) -> None:
    """Just before an account's cap has gone by after its wait, a failure doubles the wait."""
    fail(throttle, 3)
    clock.advance(4.0 + 30.0 - 0.1)
    assert throttle.failed(ACCOUNT, OTHER_ADDRESS) == 8.0


def test_failures_are_forgotten_once_the_cap_has_passed_after_the_wait(
    throttle: Throttle, clock: Clock
) -> None:
    """Once an account's cap has gone by after its wait, its next failure starts again at base."""
    fail(throttle, 3)
    clock.advance(4.0 + 30.0)
    assert throttle.failed(ACCOUNT, OTHER_ADDRESS) == 1.0


def test_expired_entries_leave_memory(throttle: Throttle, clock: Clock) -> None:
    """Once every cap has gone by, nothing is remembered."""
    fail(throttle, 3)
    clock.advance(4.0 + 300.0)
    throttle.wait(ACCOUNT, ADDRESS)
    assert throttle.remembered() == (0, 0)


def test_at_most_max_entries_addresses_are_remembered(clock: Clock) -> None:
    """With more addresses failing than max_entries, only that many are kept."""
    throttle = Throttle(clock, max_entries=3)
    for number in range(5):
        throttle.failed(ACCOUNT, f"203.0.113.{number}")
    assert throttle.remembered() == (1, 3)


def test_the_oldest_address_is_dropped_first(clock: Clock) -> None:
    """Over max_entries, the address whose last failure is oldest is forgotten."""
    throttle = Throttle(clock, max_entries=2)
    for address in ["203.0.113.1", "203.0.113.2", "203.0.113.1", "203.0.113.3"]:
        throttle.failed(address, address)
    assert [throttle.wait(address, address) > 0 for address in
            ["203.0.113.1", "203.0.113.2", "203.0.113.3"]] == [True, False, True]


def test_at_most_max_entries_accounts_are_remembered(clock: Clock) -> None:
    """With more accounts failing than max_entries, only that many are kept."""
    throttle = Throttle(clock, max_entries=3)
    for number in range(5):
        throttle.failed(f"user{number}", ADDRESS)
    assert throttle.remembered() == (3, 1)


def test_very_many_failures_do_not_overflow(throttle: Throttle) -> None:
    """Two thousand failures in a row still give the capped wait."""
    fail(throttle, 2000)
    assert throttle.wait(ACCOUNT, ADDRESS) == 300.0
