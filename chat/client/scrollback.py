"""The lines shown this session, kept to draw the screen again and to page back through.

Lines are kept styled (their time and colours as first shown) and cut
into rows only when drawn, at the terminal's width then, so a resize or
a page back shows them as they would be shown now.
"""

from __future__ import annotations

from collections import deque

from chat.client.rows import fold

# How many lines PageUp can reach back.
SCROLLBACK_LINES = 5000


class Scrollback:
    """The last :data:`SCROLLBACK_LINES` lines shown, and rows of them for a screen."""

    def __init__(self, limit: int = SCROLLBACK_LINES) -> None:
        self.lines: deque[str] = deque(maxlen=limit)

    def add(self, styled: str) -> None:
        self.lines.append(styled)

    def rows_before(self, end: int, count: int, width: int, indent: int) -> tuple[list[str], bool]:
        """Up to ``count`` rows at ``width`` that end ``end`` rows above the last one (0: with
        the last row); and whether there are rows above them."""
        wanted = end + count
        rows: list[str] = []
        index = len(self.lines)
        while index > 0 and len(rows) < wanted:
            index -= 1
            rows[:0] = fold(self.lines[index], width, indent)
        start = max(len(rows) - wanted, 0)
        return rows[start : max(len(rows) - end, 0)], index > 0 or start > 0
