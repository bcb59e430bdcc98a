"""Reading ``/ban TARGET [DURATION]``: nicknames, accounts, addresses and networks, durations."""

from __future__ import annotations

import ipaddress

import pytest

from chat.moderation.targets import (
    DURATION_MAX,
    AccountTarget,
    AddressTarget,
    InvalidDurationError,
    InvalidTargetError,
    NickTarget,
    Target,
    parse_duration,
    parse_target,
    target_text,
)


def test_a_nickname_is_a_nick_target_folded() -> None:
    """"Bob" names the nickname keyed "bob"."""
    assert parse_target("Bob") == NickTarget("bob")


def test_account_prefix_names_an_account_folded() -> None:
    """"account:Alice" names the account keyed "alice"."""
    assert parse_target("account:Alice") == AccountTarget("alice")


def test_tilde_names_an_account() -> None:
    """"~alice" is the short way to write an account."""
    assert parse_target("~alice") == AccountTarget("alice")


@pytest.mark.parametrize("text", ["account:", "~", "account:bad name", "~a.b", "account:~x"])
def test_an_account_with_no_valid_name_is_refused(text: str) -> None:
    """An account prefix must be followed by a valid nickname."""
    with pytest.raises(InvalidTargetError):
        parse_target(text)


def test_a_single_ipv4_address_is_a_slash_32() -> None:
    """"203.0.113.7" bans that one address."""
    assert parse_target("203.0.113.7") == AddressTarget(ipaddress.ip_network("203.0.113.7/32"))


def test_a_single_ipv6_address_is_a_slash_128() -> None:
    """"2001:db8::1" bans that one address."""
    assert parse_target("2001:db8::1") == AddressTarget(ipaddress.ip_network("2001:db8::1/128"))


def test_an_ipv4_network_is_read_with_its_prefix() -> None:
    """"10.0.0.0/8" bans the whole network."""
    assert parse_target("10.0.0.0/8") == AddressTarget(ipaddress.ip_network("10.0.0.0/8"))


def test_an_ipv6_network_is_read_with_its_prefix() -> None:
    """"2001:db8::/64" bans the whole /64."""
    assert parse_target("2001:db8::/64") == AddressTarget(ipaddress.ip_network("2001:db8::/64"))


def test_host_bits_of_a_network_are_masked() -> None:
    """"2001:db8::5/64" is taken as 2001:db8::/64 rather than refused."""
    assert parse_target("2001:db8::5/64") == AddressTarget(ipaddress.ip_network("2001:db8::/64"))


def test_an_ipv4_mapped_target_is_kept_as_ipv4() -> None:
    """"::ffff:203.0.113.0/120" is the IPv4 network 203.0.113.0/24."""
    assert parse_target("::ffff:203.0.113.0/120") == AddressTarget(
        ipaddress.ip_network("203.0.113.0/24")
    )


@pytest.mark.parametrize(
    "text", ["", "bob smith", "1.2.3.4/33", "300.1.1.1", "fe80::1%eth0", "a:b", "1.2.3.4/x",
             "x" * 21, "bob\x1b", "\u0661\u0662.0.0.1"],
)
def test_text_that_names_no_target_is_refused(text: str) -> None:
    """Neither a nickname, an account nor an address: InvalidTargetError with the text."""
    with pytest.raises(InvalidTargetError) as refused:
        parse_target(text)
    assert refused.value.text == text


@pytest.mark.parametrize(
    "target",
    [NickTarget("bob"), AccountTarget("alice"),
     AddressTarget(ipaddress.ip_network("10.0.0.0/8")),
     AddressTarget(ipaddress.ip_network("2001:db8::/64")),
     AddressTarget(ipaddress.ip_network("203.0.113.7/32"))],
)
def test_target_text_reads_back_as_the_same_target(target: Target) -> None:
    """parse_target(target_text(t)) == t for every kind of target."""
    assert parse_target(target_text(target)) == target


def test_target_text_writes_a_single_address_without_prefix() -> None:
    """A /128 is written as the address alone."""
    assert target_text(AddressTarget(ipaddress.ip_network("2001:db8::1"))) == "2001:db8::1"


def test_target_text_writes_an_account_with_its_prefix() -> None:
    """An account target is written account:NAME."""
    assert target_text(AccountTarget("alice")) == "account:alice"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("10m", 600.0), ("2h", 7200.0), ("7d", 604800.0), ("1w", 604800.0)],
)
def test_each_unit_of_duration_is_read(text: str, seconds: float) -> None:
    """s, m, h, d and w are seconds, minutes, hours, days and weeks."""
    assert parse_duration(text) == seconds


def test_units_combine_largest_first() -> None:
    """"1h30m" is 5400 seconds, "1w2d3h4m5s" all five added."""
    assert (parse_duration("1h30m"), parse_duration("1w2d3h4m5s")) == (
        5400.0, 7 * 86400 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5,
    )


def test_units_ignore_case() -> None:
    """"2H" is two hours."""
    assert parse_duration("2H") == 7200.0


def test_no_duration_given_is_none() -> None:
    """An empty duration means for ever: None."""
    assert parse_duration("") is None


@pytest.mark.parametrize(
    "text",
    ["10", "m", "10x", "30m1h", "1h1h", "-5m", "1.5h", "\uff11\uff10m", "0s", "0h0m", " 10m"],
)
def test_text_that_is_no_duration_is_refused(text: str) -> None:
    """No unit, units out of order or twice, signs, fractions, other digits, zero: refused."""
    with pytest.raises(InvalidDurationError) as refused:
        parse_duration(text)
    assert refused.value.text == text


def test_ten_years_is_the_longest_duration() -> None:
    """3653 days (ten years with their leap days) is accepted, DURATION_MAX seconds."""
    assert parse_duration("3653d") == DURATION_MAX


def test_a_duration_longer_than_ten_years_is_refused() -> None:
    """One second more than DURATION_MAX is refused."""
    with pytest.raises(InvalidDurationError):
        parse_duration("3653d1s")


def test_a_huge_number_is_refused_not_overflowed() -> None:
    """5000 digits of weeks (more than int() reads) is refused as a duration, no other error."""
    with pytest.raises(InvalidDurationError):
        parse_duration("9" * 5000 + "w")
