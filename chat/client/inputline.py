"""Fitting the line being typed into one terminal row: character widths and the visible window.

The input line never wraps: when it is wider than the row, the part
around the cursor is shown, so redrawing it is always a matter of one row.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass


def char_width(char: str) -> int:
    """Columns a character takes: 2 for wide East Asian ones, 0 for combining marks."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Columns a text takes on a terminal."""
    return sum(map(char_width, text))


@dataclass(frozen=True)
class VisibleInput:
    """The part of the input to draw, and where the cursor goes."""

    text: str
    cursor_back: int  # columns from the end of ``text`` back to the cursor


def visible_input(chars: Sequence[str], cursor: int, room: int) -> VisibleInput:
    """The slice of ``chars`` that fits in ``room`` columns with the cursor (before
    ``chars[cursor]``) in view, and a free column for the cursor at the end."""
    room = max(room, 1)
    widths = [char_width(char) for char in chars]
    start = 0
    before_cursor = sum(widths[:cursor])
    while before_cursor > room - 1:
        before_cursor -= widths[start]
        start += 1
    end, used = start, 0
    while end < len(chars) and used + widths[end] <= room:
        used += widths[end]
        end += 1
    end = max(end, cursor)
    return VisibleInput("".join(chars[start:end]), sum(widths[cursor:end]))
