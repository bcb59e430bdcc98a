"""What a line from the server is: its kind and who it is from, as the protocol defines them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from chat.text import NICK_MAX

_NICK = rf"[A-Za-z0-9_-]{{1,{NICK_MAX}}}"


class Kind(Enum):
    """The kinds of line in the protocol's table of what the server sends."""

    MESSAGE = "message"
    ACTION = "action"
    PRIVATE = "private"
    PRIVATE_SENT = "private sent"
    NOTICE = "notice"
    ERROR = "error"
    OTHER = "other"


@dataclass(frozen=True)
class ServerLine:
    """A line split into its kind, the nickname it names (if any) and the rest."""

    kind: Kind
    nick: str | None
    text: str


# Order matters: "*** notice" must be tried before "* nick action".
_FORMS = [
    (Kind.NOTICE, re.compile(r"\*\*\* ?(?P<text>.*)", re.DOTALL)),
    (Kind.ERROR, re.compile(r"!!! ?(?P<text>.*)", re.DOTALL)),
    (Kind.MESSAGE, re.compile(rf"<(?P<nick>{_NICK})> (?P<text>.*)", re.DOTALL)),
    (Kind.PRIVATE_SENT, re.compile(rf"-> \*(?P<nick>{_NICK})\* (?P<text>.*)", re.DOTALL)),
    (Kind.PRIVATE, re.compile(rf"\*(?P<nick>{_NICK})\* (?P<text>.*)", re.DOTALL)),
    (Kind.ACTION, re.compile(rf"\* (?P<nick>{_NICK})(?: (?P<text>.*))?", re.DOTALL)),
]

_WELCOME = re.compile(rf"\*\*\* Welcome, (?P<nick>{_NICK})!")


def parse(line: str) -> ServerLine:
    """Split a line (without its line ending) into kind, nickname and text."""
    for kind, form in _FORMS:
        match = form.fullmatch(line)
        if match is not None:
            found = match.groupdict()
            return ServerLine(kind, found.get("nick"), found["text"] or "")
    return ServerLine(Kind.OTHER, None, line)


def welcomed_nick(line: str) -> str | None:
    """The nickname a welcome line confirms, or None if the line is no welcome."""
    match = _WELCOME.match(line)
    return None if match is None else match["nick"]


def command_name(text: str) -> str | None:
    """The lower-case name of the command a typed line runs, or None for a message.

    ``//text`` is a message that starts with ``/``, as the server reads it.
    """
    if not text.startswith("/") or text.startswith("//"):
        return None
    return text[1:].split(" ", 1)[0].lower()


def message_text(text: str) -> str:
    """The text of a message as the others receive it (``//`` stands for ``/``)."""
    return text[1:] if text.startswith("//") else text
