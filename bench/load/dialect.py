"""The IRC dialect of the load generator: what its clients send and how they read a channel.

The line dialect is tcpchat's own protocol (``NICK\\n``, ``<nick> text``).
The IRC dialect registers with ``NICK``/``USER``, joins ``CHANNEL`` and
writes ``PRIVMSG #bench :text``; every ``:nick!user@host PRIVMSG #bench :text``
it reads is turned into the line dialect's ``<nick> text``, so the verifier
and the markers work on one form for both. Every other IRC line (numerics,
``JOIN``, ``PING``) is a notice.
"""

from __future__ import annotations

CHANNEL = b"#bench"
DELIVERY = b" PRIVMSG " + CHANNEL + b" :"
"""Counted in a receiver's reads during a timed phase: one per message delivered."""

REFUSALS = frozenset(
    b"ERROR 403 405 431 432 433 436 437 451 461 462 465 471 473 474 475 477".split()
)
"""Replies that mean the registration or the join failed (422, no MOTD, is not one)."""


def registration(nick: bytes) -> bytes:
    """What an IRC client sends as soon as it is connected."""
    return b"NICK " + nick + b"\r\nUSER " + nick + b" 0 * :" + nick + b"\r\n"


def join() -> bytes:
    return b"JOIN " + CHANNEL + b"\r\n"


def privmsg(text: bytes) -> bytes:
    """A message to the channel, with its line end."""
    return b"PRIVMSG " + CHANNEL + b" :" + text + b"\r\n"


def command_of(line: bytes) -> tuple[bytes, list[bytes]]:
    """The command (or numeric) of an IRC line and its middle parameters, prefix dropped."""
    words = line.split(b" :", 1)[0].split()
    if words and words[0][:1] == b":":
        words = words[1:]
    if not words:
        return b"", []
    return words[0].upper(), words[1:]


def handshake_error(line: bytes) -> bool:
    """``ERROR`` or a numeric refusing the nickname, the registration or the join."""
    command, _ = command_of(line)
    return command in REFUSALS


def pong(line: bytes) -> bytes | None:
    """The answer to a ``PING`` line, or None for any other line."""
    command, _ = command_of(line)
    if command != b"PING":
        return None
    return b"PONG " + line.split(b"PING ", 1)[1] + b"\r\n"


def as_message(line: bytes) -> bytes | None:
    """``:nick!user@host PRIVMSG #bench :text`` as ``<nick> text``; None for any other line."""
    if line[:1] != b":":
        return None
    space = line.find(b" ")
    if space < 0 or line[space : space + len(DELIVERY)] != DELIVERY:
        return None
    source = line[1:space]
    nick = source.split(b"!", 1)[0]
    return b"<" + nick + b"> " + line[space + len(DELIVERY) :]


def count_deliveries(data: bytes, tail: bytes) -> tuple[int, bytes]:
    """Deliveries whose ``DELIVERY`` ends in ``data``, given the ``tail`` of the reads before.

    A read may end in the middle of the pattern; ``tail`` (the last
    ``len(DELIVERY) - 1`` bytes read before) lets such a one be counted once,
    when the read that completes it arrives. Returns the count and the new tail.
    """
    keep = len(DELIVERY) - 1
    found = data.count(DELIVERY)
    if tail:
        found += (tail + data[:keep]).count(DELIVERY)
    new_tail = data[-keep:] if len(data) >= keep else (tail + data)[-keep:]
    return found, new_tail
