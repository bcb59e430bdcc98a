"""How the terminal UI dresses a line: local time, a colour per kind of line and per nickname."""

from __future__ import annotations

import calendar
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from chat.client.inputline import char_width, text_width
from chat.client.lines import Kind, ServerLine, parse, split_stamp
from chat.text import clean

_RESET = "\x1b[0m"
_DIM = "2"
_BOLD = "1"
_ACTION = "35"
_NOTICE = "36"
_ERROR = "1;31"
_STATUS = "7"  # reverse video
_MARKER = "1;33;7"  # the client's own markers: bold, yellow, reversed
_HIGHLIGHT = "1;33"  # a message that mentions you: bold yellow
_RULE = "1;33"  # the unread marker: bold yellow dashes across the chat
_LABEL = "36"  # the names of the fields of a block (/whois), as notices

# Foreground colours a nickname may get on any colour terminal: no black,
# white or grey, which vanish on some backgrounds, and nothing like the
# notices' cyan or the errors' red.
BASIC_PALETTE = ("32", "33", "34", "35", "92", "93", "94", "95")


def _cube_colour_is_distinct(red: int, green: int, blue: int) -> bool:
    """Whether a colour of the 256-colour cube (levels 0-5) is fit for nicknames."""
    if red == green == blue or max(red, green, blue) < 3 or min(red, green, blue) >= 3:
        return False  # grey, too dark or too pale
    if red <= 1 and green >= 2 and blue >= 2 and abs(green - blue) <= 1:
        return False  # cyan, as notices
    return not (green <= 1 and blue <= 1 and red >= 3)  # red, as errors


# On a 256-colour terminal: 132 colours of its 6x6x6 cube.
PALETTE_256 = tuple(
    f"38;5;{16 + 36 * red + 6 * green + blue}"
    for red in range(6)
    for green in range(6)
    for blue in range(6)
    if _cube_colour_is_distinct(red, green, blue)
)


def palette_for(colours_256: bool) -> tuple[str, ...]:
    """The nickname colours for a terminal with 256 colours, or with the basic 16."""
    return PALETTE_256 if colours_256 else BASIC_PALETTE


def nick_colour(nick: str, palette: tuple[str, ...] = BASIC_PALETTE) -> str:
    """The SGR colour of a nickname: the same in every session, whatever its case."""
    return palette[zlib.crc32(nick.lower().encode("utf-8")) % len(palette)]


def local_time(stamp: str, now: float) -> str:
    """A time the server gives (``YYYY-MM-DD HH:MMZ``, UTC) in local time: ``HH:MM`` on the
    day of ``now``, ``MM-DD HH:MM`` before; as it came if it is no such time."""
    try:
        said = calendar.timegm(time.strptime(stamp, "%Y-%m-%d %H:%MZ"))
    except ValueError:
        return stamp
    local = time.localtime(said)
    if local[:3] == time.localtime(now)[:3]:
        return time.strftime("%H:%M", local)
    return time.strftime("%m-%d %H:%M", local)


def past_time(stamp: str, now: float) -> str:
    """When a replayed line was said (its ``YYYY-MM-DD HH:MMZ``), in local time, in brackets.

    ``[HH:MM]`` on the day of ``now``, ``[MM-DD HH:MM]`` before.
    """
    return f"[{local_time(stamp, now)}]"


def _paint(codes: str, text: str) -> str:
    return f"\x1b[{codes}m{text}{_RESET}"


def _coloured_by_kind(line: ServerLine, palette: tuple[str, ...], highlight: bool) -> str:
    nick = line.nick or ""
    colour = nick_colour(nick, palette)
    match line.kind:
        case Kind.MESSAGE:
            text = _paint(_HIGHLIGHT, line.text) if highlight else line.text
            return f"{_paint(colour, f'<{nick}>')} {text}"
        case Kind.ACTION:
            text = _paint(_HIGHLIGHT if highlight else _ACTION, line.text)
            return f"{_paint(_ACTION, '*')} {_paint(colour, nick)} {text}"
        case Kind.PRIVATE:
            return f"{_paint(f'{_BOLD};{colour}', f'*{nick}*')} {_paint(_BOLD, line.text)}"
        case Kind.PRIVATE_SENT:
            return f"{_paint(_DIM, '->')} {_paint(colour, f'*{nick}*')} {line.text}"
        case Kind.NOTICE:
            return _paint(_NOTICE, f"*** {line.text}")
        case Kind.ERROR:
            return _paint(_ERROR, f"!!! {line.text}")
        case Kind.OTHER:
            return line.text


def _cut(text: str, room: int) -> str:
    """``text`` if it fits in ``room`` columns, else as much as fits with "…" after it."""
    if text_width(text) <= room:
        return text
    kept: list[str] = []
    for char in text:
        if text_width("".join(kept)) + char_width(char) > room - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"


@dataclass(frozen=True)
class LineStyle:
    """Formats lines for the terminal, with colours (from ``palette`` for nicknames) or without."""

    colour: bool
    palette: tuple[str, ...] = BASIC_PALETTE
    time_format: str = "%H:%M"

    @property
    def indent(self) -> int:
        """Blanks before a continuation row: the width of the time column and its space."""
        return len(time.strftime(self.time_format, time.localtime(0))) + 1

    def line(self, line: str, when: float, highlight: bool = False) -> str:
        """A line of the chat as shown: local time (``HH:MM``), then the line, made safe.

        A replayed line shows instead the time it was said, in brackets, as
        past. Control characters and escape sequences are removed,
        so a server cannot drive the terminal.
        """
        text = clean(line)
        said_at, rest = split_stamp(text)
        if said_at is None:
            stamp = time.strftime(self.time_format, time.localtime(when))
        else:
            stamp, text = past_time(said_at, when), rest
        if not self.colour:
            return f"{stamp} {text}"
        return f"{_paint(_DIM, stamp)} {_coloured_by_kind(parse(text), self.palette, highlight)}"

    def block(self, heading: str, fields: Sequence[tuple[str, str]], when: float) -> str:
        """A notice laid out on rows: its time and ``*** heading`` first, then a row per
        field, its name in a column; one line, with newlines between its rows (see
        :func:`chat.client.rows.fold`)."""
        first = self.line(f"*** {heading}", when)
        width = max((len(name) for name, _ in fields), default=0)
        rows = [first]
        for name, value in fields:
            label = f"{name:<{width}}"
            shown = _paint(_LABEL, label) if self.colour else label
            rows.append(f"{shown}  {clean(value)}")
        return "\n".join(rows)

    def rule(self, text: str, width: int) -> str:
        """A rule of the client's own across the chat (the unread marker): ``-- text --...``,
        dashes up to a column short of ``width``."""
        room = max(width - 1, 1)
        ruled = f"-- {clean(text)} "
        ruled = _cut(ruled + "-" * max(room - text_width(ruled), 2), room)
        return _paint(_RULE, ruled) if self.colour else ruled

    def status(self, text: str, width: int) -> str:
        """The status line as shown: cut to fit a row short of ``width`` (the last column is left
        free, so the terminal never wraps it), in reverse video across the row with colours."""
        return self._bar(_STATUS, text, width)

    def marker(self, text: str, width: int) -> str:
        """A line of the client's own across the chat (scrolled back, unread), cut to fit."""
        return self._bar(_MARKER, text, width)

    def _bar(self, codes: str, text: str, width: int) -> str:
        room = max(width - 1, 1)
        text = _cut(clean(text), room)
        if not self.colour:
            return text
        return _paint(codes, text + " " * (room - text_width(text)))

    def password_prompt(self) -> tuple[str, str]:
        """The prompt before the hidden input of a password, as plain text and as shown."""
        plain = "password: "
        return plain, _paint(_BOLD, plain) if self.colour else plain

    def prompt(self, nick: str | None) -> tuple[str, str]:
        """The prompt before the input line, as plain text and as shown."""
        if nick is None:
            plain = "nickname: "
            return plain, _paint(_BOLD, plain) if self.colour else plain
        plain = f"{nick}> "
        return plain, f"{_paint(nick_colour(nick, self.palette), nick)}> " if self.colour else plain
