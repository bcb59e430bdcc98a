"""Text hygiene: decoding what users send and making it safe to relay.

Nothing a user types may reach another user's terminal as a control
sequence, and no byte sequence may crash the server. Everything that is
relayed passes through :func:`relayable`; what is echoed back in an error
passes through :func:`visible`; nicknames are checked, as typed, by
:func:`nickname_fault` (what is wrong, typed) and :func:`nickname_problem`
(the same in words); numbers are read by :func:`number`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable

NICK_MAX = 20
_NICK = re.compile(rf"[A-Za-z0-9_-]{{1,{NICK_MAX}}}")

# ESC sequences: CSI (ESC [ ... final), OSC/DCS/APC/PM/SOS strings (ended by
# BEL or ST, or by the end of the text), and two-byte ESC sequences.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -/]*[0-~]?"
)

_BIDI_AND_SEPARATORS = (
    "\u061c\u200e\u200f"  # ALM, LRM, RLM
    "\u202a\u202b\u202c\u202d\u202e"  # LRE, RLE, PDF, LRO, RLO
    "\u2066\u2067\u2068\u2069"  # LRI, RLI, FSI, PDI
    "\u2028\u2029"  # line and paragraph separators
)

_REMOVED: dict[int, str | None] = {code: None for code in range(0x20)}
_REMOVED.update({code: None for code in range(0x7F, 0xA0)})
_REMOVED.update({ord(char): None for char in _BIDI_AND_SEPARATORS})
_REMOVED[ord("\t")] = " "

# Characters that show as blank space: padding made of them could push the
# tail of a message onto a terminal row of its own, looking like a line.
_BLANK_RUN = re.compile(r"[\s\u115f\u1160\u2800\u3164\uffa0]{2,}")


def decode(raw: bytes) -> str:
    """Decode UTF-8, replacing every invalid byte with U+FFFD."""
    return raw.decode("utf-8", "replace")


def clean(text: str) -> str:
    """Remove control characters, terminal escape sequences and bidi overrides.

    TAB becomes a space; printable text, including any script and emoji,
    is kept as it is.
    """
    if text.isascii() and text.isprintable():
        return text
    if "\x1b" in text:
        text = _ESCAPE_SEQUENCE.sub("", text)
    return text.translate(_REMOVED)


def relayable(text: str) -> str:
    """``text`` as it may reach other users: :func:`clean`, and every run of two or more
    blank characters (spaces, tabs, Unicode spaces and fillers) made one space."""
    text = clean(text)
    if text.isascii() and "  " not in text:
        return text
    return _BLANK_RUN.sub(" ", text)


def visible(text: str) -> str:
    """``text`` safe to echo in an error, with what :func:`clean` would remove shown
    as escapes (``\\x1b``, ``\\u202e``) rather than dropped."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
        if ord(char) in _REMOVED else char
        for char in text
    )


def number(text: str) -> int | None:
    """The value of ``text`` if it is a whole number in ASCII digits, else None.

    ``str.isdigit`` also accepts ``²`` or ``٣``, which ``int`` refuses or reads
    as another number: user input is read through this instead.
    """
    if text.isascii() and text.isdigit():
        return int(text)
    return None


class NicknameFault(enum.Enum):
    """What is wrong with a nickname."""

    TOO_LONG = "too long"
    CONTROL_CHARACTERS = "control characters"
    SPACES = "spaces"
    OTHER_CHARACTERS = "other characters"


def nickname_fault(nick: str) -> NicknameFault | None:
    """What is wrong with a nickname, exactly as typed, or None when it is valid."""
    if _NICK.fullmatch(nick):
        return None
    if len(nick) > NICK_MAX:
        return NicknameFault.TOO_LONG
    if visible(nick) != nick:
        return NicknameFault.CONTROL_CHARACTERS
    if any(char.isspace() for char in nick):
        return NicknameFault.SPACES
    return NicknameFault.OTHER_CHARACTERS


def nickname_problem(nick: str) -> str | None:
    """Say what is wrong with a nickname, exactly as typed, or return None when it is valid."""
    fault = nickname_fault(nick)
    return None if fault is None else describe_nickname_fault(nick, fault)


def describe_nickname_fault(nick: str, fault: NicknameFault) -> str:
    """What is wrong with ``nick``, in words, given its fault."""
    if fault is NicknameFault.TOO_LONG:
        return f"nickname is {len(nick)} characters long; at most {NICK_MAX} are allowed"
    rule = f"use 1 to {NICK_MAX} letters, digits, _ or -"
    if fault is NicknameFault.CONTROL_CHARACTERS:
        rule = "nicknames cannot contain control characters; " + rule
    elif fault is NicknameFault.SPACES:
        rule = "nicknames cannot contain spaces; " + rule
    return f'nickname "{visible(nick)}" is invalid: {rule}'


fold: Callable[[str], str] = str.lower
"""The form under which nicknames are compared: case is ignored. (``str.lower`` itself:
a nickname is folded several times in every login and every private message, and a
Python function around it would cost a call each time.)"""
