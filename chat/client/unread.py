"""Where the unread marker goes: between what the user had seen of a room and what is new.

The server replays a room's messages between two notices (``history of
ROOM, last N messages:`` ... ``end of history``; see the protocol page,
"History and catching up"): on rejoining after a lost connection, every
message after the last one the client saw; on joining a room, its last
few. :class:`ReplayFollower` is told, before such a replay, the id of the
last message the user saw in that room, and says before which replayed
line the marker goes (the first one newer than that) and how many
messages are new from there on. It does no I/O and knows no wording.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat.client.lines import Kind, ServerLine, history_count

_END_OF_REPLAY = "end of history"


@dataclass(frozen=True)
class UnreadMarker:
    """The next ``count`` messages of ``room`` are new to the user.

    ``reconnected``: they were missed while the connection was down (else
    they came while the user was in another room). ``maybe_more``: the
    replay's first line was new already, so older new ones may not have
    been replayed (a room's replay on joining holds only its last few).
    """

    count: int
    room: str
    reconnected: bool
    maybe_more: bool


@dataclass
class _Replay:
    total: int
    room: str
    since: int
    reconnected: bool
    shown: int = 0  # replayed lines so far
    marked: bool = False


class ReplayFollower:
    """Follows replays to place the unread marker; told what the user saw before each."""

    def __init__(self) -> None:
        self._expected: tuple[str, int, bool] | None = None
        self._replay: _Replay | None = None

    def expect(self, room: str, since: int | None, *, reconnected: bool) -> None:
        """The next replay is of ``room``, whose messages up to id ``since`` the user has seen
        (None: nothing seen there this session, so no marker)."""
        self._expected = None if since is None else (room, since, reconnected)
        self._replay = None

    def forget(self) -> None:
        """The connection is gone: no replay is under way or expected."""
        self._expected = self._replay = None

    def take(self, said: ServerLine, message_id: int | None) -> UnreadMarker | None:
        """Note a line from the server; the marker to show before it, if it goes there."""
        count = history_count(said.text) if said.kind is Kind.NOTICE else None
        if count is not None:
            expected, self._expected = self._expected, None
            self._replay = None if expected is None else _Replay(count, *expected)
            return None
        if said.stamp is None:
            if said.kind in (Kind.MESSAGE, Kind.ACTION):
                self._expected = None  # live chat: the replay expected, if any, is not coming
            if said.kind is Kind.NOTICE and said.text == _END_OF_REPLAY:
                self._replay = None
            return None
        replay = self._replay
        if replay is None:
            return None
        replay.shown += 1
        if replay.marked or message_id is None or message_id <= replay.since:
            return None
        replay.marked = True
        return UnreadMarker(
            count=replay.total - replay.shown + 1, room=replay.room,
            reconnected=replay.reconnected, maybe_more=replay.shown == 1 and not replay.reconnected,
        )
