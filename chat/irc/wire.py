"""IRC lines on the wire: reading a client's line, writing the server's.

A line is ``[@tags] [:prefix] COMMAND params... [:trailing]``;
:func:`parse` takes one apart (the prefix and parameters with
:func:`twisted.words.protocols.irc.parsemsg`, the IRCv3 tags here, since
Twisted does not read them) and :func:`line` puts one together, quoting
the last parameter when it needs it. :func:`mask` is how a member,
whatever its front end, is named as a source (``nick!user@tcpchat``), and
:func:`split_text` cuts a message that would make a line longer than IRC's
512 bytes into several.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass

from twisted.words.protocols.irc import parsemsg

from chat.domain.events import Notice

HOST = "tcpchat"
"""The host part of every member's mask: addresses are not shown to other users."""
LINE_MAX = 512
"""Bytes in an IRC line, its CRLF included, tags not counted (RFC 1459, IRCv3 message-tags)."""

_TAG_ESCAPES = {";": r"\:", " ": r"\s", "\\": "\\\\", "\r": r"\r", "\n": r"\n"}
_TAG_UNESCAPES = {"\\:": ";", "\\s": " ", "\\\\": "\\", "\\r": "\r", "\\n": "\n"}


@dataclass(frozen=True, slots=True)
class Wire(Notice):
    """Lines a command's reply has already put into IRC form (CRLF between them),
    told through the member's outbox so that they keep their place among its events.
    It goes to the IRC connection that made it, never to another front end."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """One line from a client."""

    tags: dict[str, str]
    command: str
    params: list[str]


def parse(text: str) -> Parsed | None:
    """The parts of ``text`` (a line without its ending), or None when it holds no command."""
    tags: dict[str, str] = {}
    if text.startswith("@"):
        raw, _, text = text[1:].partition(" ")
        for item in raw.split(";"):
            key, _, value = item.partition("=")
            if key:
                tags[key] = _unescape(value)
    text = text.lstrip(" ")
    if text.startswith(":"):
        text = text.partition(" ")[2].lstrip(" ")
    if not text.strip(" "):
        return None
    _, command, params = parsemsg(text)
    return Parsed(tags, command.upper(), params)


def _unescape(value: str) -> str:
    out, index = [], 0
    while index < len(value):
        pair = value[index : index + 2]
        if pair in _TAG_UNESCAPES:
            out.append(_TAG_UNESCAPES[pair])
            index += 2
        elif value[index] == "\\":
            index += 1
        else:
            out.append(value[index])
            index += 1
    return "".join(out)


def line(
    command: str, *params: str, source: str | None = None, tags: dict[str, str] | None = None,
    trailing: bool = False,
) -> str:
    """An IRC line, without its ending; the last parameter is quoted when it must be, or
    always when it is ``trailing`` (a message, a reason: what clients read as the trailing one)."""
    words = list(params)
    if words and (trailing or not words[-1] or " " in words[-1] or words[-1].startswith(":")):
        words[-1] = ":" + words[-1]
    text = " ".join([command, *words])
    if source is not None:
        text = f":{source} {text}"
    if tags:
        escaped = ";".join(
            f"{key}={''.join(_TAG_ESCAPES.get(char, char) for char in value)}" if value else key
            for key, value in tags.items()
        )
        text = f"@{escaped} {text}"
    return text


def mask(nick: str, user: str | None = None) -> str:
    """How a member is named as the source of what it does (``user``: its USER name, or,
    for a member of another front end, its nickname)."""
    return f"{nick}!{user or nick}@{HOST}"


def channel(room: str) -> str:
    """The channel of a room."""
    return "#" + room


def split_text(text: str, room_for_text: int) -> list[str]:
    """``text`` in pieces of at most ``room_for_text`` bytes of UTF-8, cut at a space where
    one is near the end, never inside a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= room_for_text:
        return [text]
    pieces: list[str] = []
    limit = max(room_for_text, 16)
    while len(encoded) > limit:
        cut = limit
        while cut > 0 and (encoded[cut] & 0xC0) == 0x80:
            cut -= 1  # not inside a multi-byte character
        space = encoded.rfind(b" ", 0, cut + 1)
        if space > limit // 2:
            cut = space
        pieces.append(encoded[:cut].decode("utf-8"))
        encoded = encoded[cut:].lstrip(b" ")
    if encoded:
        pieces.append(encoded.decode("utf-8"))
    return pieces


def server_time(seconds: float) -> str:
    """A ``time`` tag's value (IRCv3 server-time): UTC, to the millisecond."""
    whole = int(seconds)
    millis = round((seconds - whole) * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def parse_server_time(text: str) -> float | None:
    """The seconds since the epoch of a ``time`` tag's value, or None if it is not one."""
    stamp, _, fraction = text.removesuffix("Z").partition(".")
    try:
        whole = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
        return whole + (float("0." + fraction) if fraction.isdigit() else 0.0)
    except ValueError:
        return None


def encode(lines: list[str]) -> bytes:
    """Lines as bytes on the wire, each ended by CRLF."""
    return "".join(text + "\r\n" for text in lines).encode("utf-8")
