"""The server's answer to ``/whois``, read as fields to show as a small block.

The server answers in one notice (the moderation page's ``/whois``):
``bob: account bob; connected since 2026-12-02 15:36Z; idle 4s; server
operator; in dev (operator); away: lunch``, its middle parts optional and
the away message, which may hold anything, last. :func:`whois_fields`
reads it; the terminal shows the fields on rows of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chat.client.colours import local_time
from chat.text import NICK_MAX

_NICK = rf"[A-Za-z0-9_-]{{1,{NICK_MAX}}}"
_ANSWER = re.compile(
    rf"(?P<nick>{_NICK}): (?:account (?P<account>[^;]+)|a guest \(no account\)); "
    r"connected since (?P<since>[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}Z); "
    r"idle (?P<idle>[0-9dhms ]+)"
    r"(?P<server_operator>; server operator)?"
    r"(?:; in (?P<rooms>[^;]+?)(?P<room_operator> \(operator\))?)?"
    r"(?:; away: (?P<away>.*))?",
    re.DOTALL,
)


@dataclass(frozen=True)
class WhoisAnswer:
    """Who someone is, as the server said it."""

    nick: str
    account: str | None
    since: str  # UTC, YYYY-MM-DD HH:MMZ
    idle: str
    server_operator: bool
    rooms: str | None
    room_operator: bool
    away: str | None


def read_whois(text: str) -> WhoisAnswer | None:
    """The answer a notice's text gives to ``/whois``, or None if it is no such answer."""
    match = _ANSWER.fullmatch(text)
    if match is None:
        return None
    return WhoisAnswer(
        nick=match["nick"], account=match["account"], since=match["since"], idle=match["idle"],
        server_operator=match["server_operator"] is not None, rooms=match["rooms"],
        room_operator=match["room_operator"] is not None, away=match["away"],
    )


def whois_fields(answer: WhoisAnswer, now: float) -> list[tuple[str, str]]:
    """The rows of the block: a name and a value each, times in local time."""
    fields = [
        ("account", answer.account or "none (a guest)"),
        ("online", f"since {local_time(answer.since, now)}, idle {answer.idle}"),
    ]
    if answer.rooms is not None:
        fields.append(("in", answer.rooms + (" (operator)" if answer.room_operator else "")))
    if answer.server_operator:
        fields.append(("role", "server operator"))
    if answer.away is not None:
        fields.append(("away", answer.away))
    return fields
