"""How the terminal UI dresses a line: local time, a colour per kind of line and per nickname."""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

from chat.client.lines import Kind, ServerLine, parse
from chat.text import clean

_RESET = "\x1b[0m"
_DIM = "2"
_BOLD = "1"
# Foreground colours a nickname may get: no black, white or grey, which
# vanish on some backgrounds.
_NICK_COLOURS = ("31", "32", "33", "34", "35", "36", "91", "92", "93", "94", "95", "96")
_ACTION = "35"
_NOTICE = "36"
_ERROR = "1;31"


def nick_colour(nick: str) -> str:
    """The SGR colour of a nickname: the same in every session, whatever its case."""
    return _NICK_COLOURS[zlib.crc32(nick.lower().encode("utf-8")) % len(_NICK_COLOURS)]


def _paint(codes: str, text: str) -> str:
    return f"\x1b[{codes}m{text}{_RESET}"


def _coloured(line: ServerLine) -> str:
    if line.stamp is not None:
        return f"{_paint(_DIM, f'[{line.stamp}]')} {_coloured_by_kind(line)}"
    return _coloured_by_kind(line)


def _coloured_by_kind(line: ServerLine) -> str:
    nick = line.nick or ""
    colour = nick_colour(nick)
    match line.kind:
        case Kind.MESSAGE:
            return f"{_paint(colour, f'<{nick}>')} {line.text}"
        case Kind.ACTION:
            return f"{_paint(_ACTION, '*')} {_paint(colour, nick)} {_paint(_ACTION, line.text)}"
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


@dataclass(frozen=True)
class LineStyle:
    """Formats lines for the terminal, with colours or without."""

    colour: bool

    def line(self, line: str, when: float) -> str:
        """A line of the chat as shown: ``HH:MM`` local time, then the line, made safe.

        Control characters and escape sequences are removed, so a server
        cannot drive the terminal.
        """
        stamp = time.strftime("%H:%M", time.localtime(when))
        text = clean(line)
        if not self.colour:
            return f"{stamp} {text}"
        return f"{_paint(_DIM, stamp)} {_coloured(parse(text))}"

    def prompt(self, nick: str | None) -> tuple[str, str]:
        """The prompt before the input line, as plain text and as shown."""
        if nick is None:
            plain = "nickname: "
            return plain, _paint(_BOLD, plain) if self.colour else plain
        plain = f"{nick}> "
        return plain, f"{_paint(nick_colour(nick), nick)}> " if self.colour else plain
