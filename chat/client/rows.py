"""Cutting a line of the chat into terminal rows, continuation rows indented.

The client wraps long lines itself rather than leaving it to the terminal,
so that every row after a line's first starts with blanks: whatever a
message holds, no part of it can start a row as a line of its own does
(``HH:MM ...``), however it is padded. A line the client lays out on
several rows itself (a ``/whois`` answer) holds newlines: each starts a
continuation row too, so such a line still has one time, on its first row.
"""

from __future__ import annotations

import re

from chat.client.inputline import char_width

# Blanks before each continuation row: the width of the ``HH:MM `` column.
CONTINUATION_INDENT = 6

# The escape codes the client's own styling puts in a line (SGR only: the
# server's text is cleaned of every escape sequence before it is styled).
_STYLE_CODE = re.compile(r"\x1b\[[0-9;]*m")


def fold(shown: str, width: int, indent: int = CONTINUATION_INDENT) -> list[str]:
    """The rows of at most ``width`` columns a styled line takes, each after the first
    starting with ``indent`` blanks (fewer on a very narrow terminal).

    A row ends at a newline; or at its last space when that leaves at most a
    third of it for the next row; otherwise where the width does, within a word.
    """
    width = max(width, 2)
    indent = min(indent, width // 2)
    rows: list[str] = []
    for number, part in enumerate(shown.split("\n")):
        rows.extend(_fold_row(part, width, indent, indent if number else 0))
    return rows


def _fold_row(shown: str, width: int, indent: int, first_indent: int) -> list[str]:
    """The rows of a part of a line without newlines, its first row after ``first_indent``
    blanks."""
    rows: list[str] = []
    row: list[str] = [" " * first_indent] if first_indent else []  # characters, style codes
    used = first_indent
    space: tuple[int, int] | None = None  # the last space in the row: its index, columns after it
    position = 0
    while position < len(shown):
        code = _STYLE_CODE.match(shown, position)
        if code is not None:
            row.append(code.group())
            position = code.end()
            continue
        char = shown[position]
        position += 1
        columns = char_width(char)
        if used + columns > width:
            if space is not None and used - space[1] <= width // 3:
                cut, after = space
                rows.append("".join(row[:cut]))
                row, used = [" " * indent, *row[cut + 1 :]], indent + used - after
            else:
                rows.append("".join(row))
                row, used = [" " * indent], indent
            space = None
        if char == " " and used > indent:
            space = (len(row), used + columns)
        row.append(char)
        used += columns
    rows.append("".join(row))
    return rows
