"""The status line above the input: what it knows and how it reads.

A :class:`Status` is what the session knows at a moment (room, users,
connection, away, account, lines still being sent); :func:`status_text`
says it in one row, such as
``[lobby] 3 users | connected (TLS) | away: lunch | account alice``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum, auto


class Link(Enum):
    """Where the connection stands, as the status line tells it."""

    CONNECTING = auto()  # the first attempt, or an attempt under way
    WAITING = auto()  # offline, the next attempt at ``retry_at``
    LOGGING_IN = auto()  # connected, the nickname not yet accepted
    CONNECTED = auto()
    LEAVING = auto()


@dataclass(frozen=True)
class Status:
    """What the status line shows."""

    room: str
    users: int | None
    link: Link
    retry_at: float | None = None  # clock time of the next attempt, while WAITING
    rejoining: bool = False  # WAITING after having been in the room: "reconnecting"
    away: str | None = None
    account: str | None = None
    topic: str = ""
    unsent: int = 0  # lines sent or to be sent that the server has not yet acknowledged


def _link_text(status: Status, now: float, tls: bool) -> str:
    secure = " (TLS)" if tls else ""
    match status.link:
        case Link.CONNECTED:
            return f"connected{secure}"
        case Link.LOGGING_IN:
            return f"logging in{secure}"
        case Link.LEAVING:
            return "leaving"
        case Link.CONNECTING:
            return "connecting"
        case Link.WAITING:
            seconds = max(math.ceil((status.retry_at or now) - now), 0)
            return f"{'reconnecting' if status.rejoining else 'retrying'} in {seconds}s"


def status_text(status: Status, now: float, *, tls: bool) -> str:
    """The status line's text, its parts joined by `` | ``; the topic last."""
    parts = [f"[{status.room}]"]
    if status.users is not None:
        parts.append(f"{status.users} user{'' if status.users == 1 else 's'}")
    parts.append(_link_text(status, now, tls))
    if status.away is not None:
        parts.append(f"away: {status.away}")
    if status.account is not None:
        parts.append(f"account {status.account}")
    if status.unsent:
        parts.append(f"sending {status.unsent}")
    if status.topic:
        parts.append(f"topic: {status.topic}")
    return " | ".join(parts)
