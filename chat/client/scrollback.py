"""The lines shown this session, kept to draw the screen again and to page back through.

Lines are kept styled (their time and colours as first shown) and cut
into rows only when drawn, at the terminal's width then, so a resize or
a page back shows them as they would be shown now. A rule across the
chat (the unread marker) is kept as its text and drawn across whatever
width the terminal has.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from chat.client.rows import fold

# How many lines PageUp can reach back, unless told otherwise (--scrollback).
SCROLLBACK_LINES = 5000


@dataclass(frozen=True)
class Rule:
    """A row of the client's own across the chat, drawn at the terminal's width."""

    text: str


class Scrollback:
    """The last ``limit`` lines shown, and rows of them for a screen.

    ``draw_rule`` makes the row of a :class:`Rule` for a width.
    """

    def __init__(
        self, limit: int = SCROLLBACK_LINES,
        draw_rule: Callable[[str, int], str] = lambda text, width: text[:width],
    ) -> None:
        self.lines: deque[str | Rule] = deque(maxlen=limit)
        self._draw_rule = draw_rule

    def add(self, styled: str | Rule) -> None:
        self.lines.append(styled)

    def rows_of(self, line: str | Rule, width: int, indent: int) -> list[str]:
        """The rows one line kept takes at ``width``."""
        if isinstance(line, Rule):
            return [self._draw_rule(line.text, width)]
        return fold(line, width, indent)

    def rows_before(self, end: int, count: int, width: int, indent: int) -> tuple[list[str], bool]:
        """Up to ``count`` rows at ``width`` that end ``end`` rows above the last one (0: with
        the last row); and whether there are rows above them."""
        wanted = end + count
        rows: list[str] = []
        index = len(self.lines)
        while index > 0 and len(rows) < wanted:
            index -= 1
            rows[:0] = self.rows_of(self.lines[index], width, indent)
        start = max(len(rows) - wanted, 0)
        return rows[start : max(len(rows) - end, 0)], index > 0 or start > 0
