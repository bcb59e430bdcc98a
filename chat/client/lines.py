"""What a line from the server is: its kind and who it is from, as the protocol defines them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from chat.text import NICK_MAX

_NICK = rf"[A-Za-z0-9_-]{{1,{NICK_MAX}}}"

# The room everyone is in after joining.
LOBBY = "lobby"


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
    """A line split into its kind, the nickname it names (if any) and the rest.

    ``stamp`` is the UTC time of a replayed (history) line, None for a live one.
    """

    kind: Kind
    nick: str | None
    text: str
    stamp: str | None = None


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
_MESSAGE_ID = re.compile(r"@id=(?P<id>[0-9]+)(?: (?P<line>.*))?", re.DOTALL)
_RESUME_TOKEN = re.compile(r"resume token (?P<token>\S+)")
_HISTORY_STAMP = re.compile(r"\[(?P<stamp>[0-9: -]+Z)\] (?P<line>.*)", re.DOTALL)
_HISTORY_HEADER = re.compile(r"history of \S+, last (?:(?P<count>[0-9]+) messages|message):")
_IDS_ON = "message ids on"
_ASKS_FOR_PASSWORD = re.compile(r"\bpassword\b", re.IGNORECASE)
_ASKS_FOR_NICKNAME = re.compile(r"\bnickname\b", re.IGNORECASE)

# Commands whose arguments are passwords: never kept in the input history
# nor shown with their arguments.
PASSWORD_COMMANDS = frozenset({"register", "password", "unregister"})
MASK = "********"


def split_stamp(line: str) -> tuple[str | None, str]:
    """The UTC time of a replayed line (``[YYYY-MM-DD HH:MMZ] ...``), or None, and the rest."""
    replayed = _HISTORY_STAMP.fullmatch(line)
    if replayed is None:
        return None, line
    return replayed["stamp"], replayed["line"]


def parse(line: str) -> ServerLine:
    """Split a line (without its line ending or id tag) into kind, nickname and text."""
    stamp, line = split_stamp(line)
    for kind, form in _FORMS:
        match = form.fullmatch(line)
        if match is not None:
            found = match.groupdict()
            return ServerLine(kind, found.get("nick"), found["text"] or "", stamp)
    return ServerLine(Kind.OTHER, None, line, stamp)


def split_message_id(line: str) -> tuple[int | None, str]:
    """The id of a numbered line (``@id=N ...``, after ``/ids``) and the line without it.

    A line that is only a tag (``@id=N``) acknowledges one's own message:
    its id, and an empty line.
    """
    match = _MESSAGE_ID.fullmatch(line)
    if match is None:
        return None, line
    return int(match["id"]), match["line"] or ""


def history_count(text: str) -> int | None:
    """How many messages a notice opening a replay announces, or None if it opens none."""
    match = _HISTORY_HEADER.fullmatch(text)
    if match is None:
        return None
    return int(match["count"] or 1)


def is_ids_answer(text: str) -> bool:
    """Whether a notice's text is the answer to ``/ids``."""
    return text.startswith(_IDS_ON)


def resume_token(text: str) -> str | None:
    """The resume token the answer to ``/ids`` gives, or None if it gives none."""
    match = _RESUME_TOKEN.search(text)
    return None if match is None else match["token"]


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


def mentions(text: str, name: str) -> bool:
    """Whether ``text`` names ``name`` (a nickname or room) as a whole word, in any case."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE) is not None


def message_text(text: str) -> str:
    """The text of a message as the others receive it (``//`` stands for ``/``)."""
    return text[1:] if text.startswith("//") else text


def asks_for_nickname(text: str) -> bool:
    """Whether a notice's text asks for a nickname (the greeting's last line, or a prompt again)."""
    return _ASKS_FOR_NICKNAME.search(text) is not None


def asks_for_password(text: str) -> bool:
    """Whether a notice's text, after the nickname was sent, asks for the nickname's password."""
    return _ASKS_FOR_PASSWORD.search(text) is not None


def keeps_out(text: str) -> bool:
    """Whether an error's text says the server put the user off and wants it to stay off:
    a server-wide ban, or a disconnection by an operator. Reconnecting would not help."""
    return text.startswith(("you are banned from the server", "you were disconnected by"))


def holds_password(text: str) -> bool:
    """Whether a typed line is a command whose arguments are passwords (``/register PASSWORD``)."""
    return command_name(text) in PASSWORD_COMMANDS


def masked(text: str) -> str:
    """A typed line as it may be shown or logged: a password command's arguments as ``********``."""
    if not holds_password(text):
        return text
    name, _, arguments = text.partition(" ")
    return f"{name} {MASK}" if arguments.strip() else name
