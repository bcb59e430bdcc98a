"""Tab completion of the word before the cursor: commands, room names after /join, nicknames.

A nickname at the start of the line is completed with ``: `` after it
(``bo`` becomes ``bob: ``, as one addresses someone), elsewhere with a
blank; a command or a room with a blank. Candidates come in a stable
order (case ignored), and pressing Tab again takes the next one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# The server's commands (its /help) and the client's own /quit.
COMMANDS = (
    "away", "ban", "bans", "deop", "help", "history", "join", "kick", "me", "msg", "mute",
    "nick", "op", "password", "quit", "register", "rooms", "topic", "topicops", "unban",
    "unmute", "unregister", "who", "whois",
)
# Commands whose first argument is a room, or a nickname.
_ROOM_COMMANDS = frozenset({"join"})
_NICK_COMMANDS = frozenset({"msg", "whois", "kick", "ban", "mute", "unmute", "op", "deop"})


@dataclass(frozen=True)
class Completions:
    """The choices for the word that starts at ``start``: each a replacement of that word."""

    start: int
    choices: tuple[str, ...]


def _matching(prefix: str, names: Iterable[str]) -> list[str]:
    folded = prefix.lower()
    return sorted({name for name in names if name.lower().startswith(folded)}, key=str.lower)


def complete(
    line: str, cursor: int, *, nicks: Iterable[str], rooms: Iterable[str], own_nick: str | None
) -> Completions:
    """What the word before ``cursor`` in ``line`` may be completed to (no choices: nothing)."""
    start = line.rfind(" ", 0, cursor) + 1
    word = line[start:cursor]
    before = line[:start].split()
    if start == 0 and word.startswith("/"):
        choices = [f"/{name} " for name in _matching(word[1:], COMMANDS)]
        return Completions(0, tuple(choices))
    command = before[0][1:].lower() if before and before[0].startswith("/") else None
    if command in _ROOM_COMMANDS and len(before) == 1:
        return Completions(start, tuple(f"{room} " for room in _matching(word.lstrip("#"), rooms)))
    nick_argument = command in _NICK_COMMANDS and len(before) == 1
    if command is not None and command != "me" and not nick_argument:
        return Completions(start, ())
    others = [nick for nick in nicks if own_nick is None or nick.lower() != own_nick.lower()]
    ending = ": " if start == 0 else " "
    return Completions(start, tuple(f"{nick}{ending}" for nick in _matching(word, others)))
