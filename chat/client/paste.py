"""What to do with a paste of several lines: send it as it is, or ask first.

Terminals that support bracketed paste mark a paste (``ESC [ 200 ~`` ...
``ESC [ 201 ~``), so the client can tell it from typing. A paste of one
line goes into the input line; several lines are sent as lines, in order;
more than :data:`ASK_ABOVE` lines (or as many as ``--paste-ask-above``
says), or any that would run a command, are sent only once the user says
yes.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat.client.lines import command_name

# A paste of more lines than this is sent only when the user says so (unless told otherwise).
ASK_ABOVE = 3


@dataclass(frozen=True)
class Paste:
    """The lines of a paste, without blank ones, and how many may be sent without asking."""

    lines: tuple[str, ...]
    ask_above: int = ASK_ABOVE

    @property
    def commands(self) -> tuple[str, ...]:
        return tuple(f"/{command_name(line)}" for line in self.lines if command_name(line))

    @property
    def needs_asking(self) -> bool:
        return len(self.lines) > self.ask_above or bool(self.commands)

    def question(self) -> str:
        """What the user is asked: how many lines, and the commands they would run."""
        commands = self.commands
        names = ", ".join(dict.fromkeys(commands))
        runs = f" ({len(commands)} running {names})" if commands else ""
        return f"paste of {len(self.lines)} lines{runs}: send them? y sends, another key drops"


def read_paste(text: str, ask_above: int = ASK_ABOVE) -> Paste:
    """The lines of pasted text, whatever its line endings (CR, as terminals send, LF, CRLF);
    more than ``ask_above`` of them are sent only once the user says so."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Paste(tuple(line for line in lines if line.strip()), ask_above)
