"""What members of a chat receive: typed events, grouped into batches.

The chat domain speaks in these events; each front end renders them in
its own way (the line protocol renders them as the lines of the wire
contract).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Message:
    """Something a member said to their room.

    ``id`` orders every message and action of the server (0: not numbered);
    ``time`` is when it was said, in seconds since the epoch.
    """

    sender: str
    text: str
    id: int = 0
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class Action:
    """Something a member did (``/me``) in their room."""

    sender: str
    text: str
    id: int = 0
    time: float = 0.0


Said = Message | Action
"""What a room's history keeps."""


@dataclass(frozen=True, slots=True)
class Past:
    """A message or action from a room's history, replayed, not live."""

    said: Said


@dataclass(frozen=True, slots=True)
class Sent:
    """The id a member's own message or action was given, told to that member."""

    id: int


@dataclass(frozen=True, slots=True)
class Private:
    """A private message, as its addressee receives it."""

    sender: str
    text: str


@dataclass(frozen=True, slots=True)
class PrivateSent:
    """The confirmation of a private message, as its sender receives it."""

    recipient: str
    text: str


@dataclass(frozen=True, slots=True)
class Notice:
    """News from the server: joins, leaves, nickname changes, replies."""

    text: str


@dataclass(frozen=True, slots=True)
class Error:
    """A request that could not be carried out, and why."""

    text: str


Event = Message | Action | Past | Sent | Private | PrivateSent | Notice | Error


class Batch:
    """Events delivered together, in order, to one or more members.

    A batch is shared by all its recipients, so a front end renders it
    once and keeps the result in :attr:`rendered` (or, for recipients that
    asked for message ids, :attr:`rendered_with_ids`). A batch made of
    :attr:`parts` is rendered by joining what its parts rendered, so that
    parts shared with other batches are rendered only once.
    """

    __slots__ = ("events", "parts", "rendered", "rendered_with_ids")

    def __init__(self, events: tuple[Event, ...], parts: tuple[Batch, ...] = ()) -> None:
        self.events = events
        self.parts = parts
        self.rendered: bytes | None = None
        self.rendered_with_ids: bytes | None = None

    @classmethod
    def joined(cls, parts: tuple[Batch, ...]) -> Batch:
        """One batch holding the events of ``parts``, in order."""
        return cls(tuple(event for part in parts for event in part.events), parts)
