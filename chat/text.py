"""Text hygiene: decoding what users send and making it safe to relay.

Nothing a user types may reach another user's terminal as a control
sequence, and no byte sequence may crash the server. Everything that is
relayed passes through :func:`clean`; nicknames are checked by
:func:`nickname_problem`.
"""

from __future__ import annotations

import re

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


def nickname_problem(nick: str) -> str | None:
    """Say what is wrong with a nickname, or return None when it is valid."""
    if _NICK.fullmatch(nick):
        return None
    if len(nick) > NICK_MAX:
        return f"nickname is {len(nick)} characters long; at most {NICK_MAX} are allowed"
    return (
        f'nickname "{clean(nick)}" is invalid: use 1 to {NICK_MAX} letters, digits, _ or -'
    )


def fold(nick: str) -> str:
    """The form under which nicknames are compared: case is ignored."""
    return nick.lower()
