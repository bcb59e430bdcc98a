"""What a ban is aimed at, and for how long: ``/ban TARGET [DURATION]`` read into typed values.

:func:`parse_target` reads a TARGET as typed: a nickname
(:class:`NickTarget`), an account (:class:`AccountTarget`, written
``account:NAME`` or ``~NAME``), or an address or network
(:class:`AddressTarget`: ``203.0.113.7``, ``2001:db8::1``, ``10.0.0.0/8``,
``2001:db8::/64``). :func:`target_text` writes a target back in the one
form that :func:`parse_target` reads as the same target. Nicknames never
contain ``.`` or ``:``, so a target is never both a nickname and an address.

:func:`parse_duration` reads a DURATION (``30s``, ``10m``, ``2h``, ``7d``,
``1w``, or several units largest first, ``1h30m``) as seconds, at most
:data:`DURATION_MAX`.

What cannot be read is a typed error carrying the text as typed; the
wording is the front end's.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from chat.domain.errors import ChatError
from chat.text import fold, nickname_fault

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ACCOUNT_PREFIXES = ("account:", "~")
"""How an account target is written: ``account:alice`` or ``~alice``."""

DURATION_MAX = 3653 * 86400.0
"""The longest duration: ten years, leap days included, in seconds."""

_UNITS = (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DURATION = re.compile("".join(rf"(?:([0-9]{{1,12}}){unit})?" for unit, _ in _UNITS))
_MAPPED_IPV4 = ipaddress.IPv6Network("::ffff:0:0/96")


class InvalidTargetError(ChatError):
    """``text``, as typed, is neither a nickname, an account nor an address or network."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class InvalidDurationError(ChatError):
    """``text``, as typed, is no duration, or one longer than :data:`DURATION_MAX`."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True, slots=True)
class NickTarget:
    """Whoever uses the nickname whose folded form is ``key``."""

    key: str


@dataclass(frozen=True, slots=True)
class AccountTarget:
    """Whoever logs in to the account whose folded name is ``key``."""

    key: str


@dataclass(frozen=True, slots=True)
class AddressTarget:
    """Whoever connects from an address in ``network`` (a single address is a /32 or /128).

    An IPv4-mapped IPv6 network (``::ffff:203.0.113.0/120``) is kept as the
    IPv4 network it maps (``203.0.113.0/24``).
    """

    network: Network


Target = NickTarget | AccountTarget | AddressTarget
"""What a ban is aimed at."""


def parse_target(text: str) -> Target:
    """The target ``text`` names; :class:`InvalidTargetError` if it names none."""
    for prefix in ACCOUNT_PREFIXES:
        if text.startswith(prefix):
            name = text[len(prefix):]
            if nickname_fault(name) is not None:
                raise InvalidTargetError(text)
            return AccountTarget(fold(name))
    if nickname_fault(text) is None:
        return NickTarget(fold(text))
    if "%" in text or not text.isascii():
        raise InvalidTargetError(text)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidTargetError(text) from None
    return AddressTarget(_unmapped(network))


def target_text(target: Target) -> str:
    """``target`` written as :func:`parse_target` reads it (a single address without its prefix)."""
    if isinstance(target, NickTarget):
        return target.key
    if isinstance(target, AccountTarget):
        return ACCOUNT_PREFIXES[0] + target.key
    network = target.network
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return network.with_prefixlen


def parse_duration(text: str) -> float | None:
    """The seconds ``text`` stands for, or None for "" (no duration given: for ever).

    :class:`InvalidDurationError` for anything else that is not a positive
    duration of at most :data:`DURATION_MAX`.
    """
    if text == "":
        return None
    match = _DURATION.fullmatch(text.lower())
    if match is None:
        raise InvalidDurationError(text)
    seconds = sum(
        int(count) * size for count, (_, size) in zip(match.groups(), _UNITS, strict=True)
        if count is not None
    )
    if not 0 < seconds <= DURATION_MAX:
        raise InvalidDurationError(text)
    return float(seconds)


def _unmapped(network: Network) -> Network:
    """``network``, as the IPv4 network it maps if it is an IPv4-mapped IPv6 one."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED_IPV4):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network
