"""IRCv3 ``draft/chathistory``: a client's scrollback from the store the line users' catch-up reads.

``CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN #channel ...`` reads the
room's kept history (:meth:`~chat.ports.HistoryStore.read_recent`, the
last ``--history-keep`` entries) and picks the entries asked for by
message id (``msgid=N``: the ids of ``@id=`` on the line protocol and of
the ``msgid`` tag) or by time (``timestamp=...``). They are sent in a
``chathistory`` BATCH, in their place among what the member is shown
(a reservation in its outbox, as the history on joining). At most
:data:`CHATHISTORY_MAX` entries are sent (ISUPPORT ``CHATHISTORY``).
Private conversations are not kept: their history is an empty batch.
``TARGETS`` lists nothing for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chat.domain.events import Batch, Said
from chat.domain.registry import Member, Registry
from chat.irc.render import Viewer, batch_reference
from chat.irc.wire import Wire, channel, parse_server_time
from chat.text import fold

CHATHISTORY_MAX = 100
"""Entries one CHATHISTORY answer holds at most."""

Point = tuple[str, float]
"""A point in a room's history: ``("msgid", id)`` or ``("timestamp", seconds)``."""


def _point(text: str) -> Point | None:
    kind, _, value = text.partition("=")
    if kind == "msgid" and value.isdigit():
        return "msgid", float(value)
    if kind == "timestamp":
        seconds = parse_server_time(value)
        return None if seconds is None else ("timestamp", seconds)
    return None


def _at(said: Said, point: Point) -> float:
    return float(said.id) if point[0] == "msgid" else said.time


def select(
    entries: list[Said], subcommand: str, points: list[Point | None], limit: int
) -> list[Said]:
    """The entries (oldest first) that ``subcommand`` with ``points`` asks for, at most
    ``limit``."""
    match subcommand, points:
        case "LATEST", [None]:
            return entries[-limit:]
        case "LATEST", [(kind, value)]:
            return [said for said in entries if _at(said, (kind, value)) > value][-limit:]
        case "BEFORE", [(kind, value)]:
            return [said for said in entries if _at(said, (kind, value)) < value][-limit:]
        case "AFTER", [(kind, value)]:
            return [said for said in entries if _at(said, (kind, value)) > value][:limit]
        case "AROUND", [(kind, value)]:
            before = [said for said in entries if _at(said, (kind, value)) < value]
            rest = [said for said in entries if _at(said, (kind, value)) >= value]
            half = max(1, limit // 2)
            return (before[-half:] + rest)[:limit]
        case "BETWEEN", [(kind, start), (other, end)]:
            if kind != other or start <= end:
                return [said for said in entries if _at(said, (kind, start)) > start
                        and _at(said, (other, end)) < end][:limit]
            return [said for said in entries if _at(said, (kind, start)) < start
                    and _at(said, (other, end)) > end][-limit:]
    return []


class ChatHistoryCommand:
    """``irc_CHATHISTORY``, for the IRC protocol to mix in."""

    registry: Registry
    viewer: Viewer
    send: Callable[[list[str]], None]
    charge_history: Callable[[int], None]
    history_keep: int
    def session_member(self) -> Member:
        raise NotImplementedError

    def irc_CHATHISTORY(self, params: list[str]) -> None:
        fail = self.viewer.fail
        if len(params) < 3:
            self.send([fail("CHATHISTORY", "NEED_MORE_PARAMS", *params[:1],
                            "Missing parameters")])
            return
        subcommand, target = params[0].upper(), params[1]
        if subcommand == "TARGETS":
            self.send(self._batch(target, []))
            return
        wanted = 2 if subcommand == "BETWEEN" else 1
        raw = params[2 : 2 + wanted]
        points = [None if text == "*" and subcommand == "LATEST" else _point(text)
                  for text in raw]
        count = params[2 + wanted] if len(params) > 2 + wanted else ""
        if subcommand not in ("LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN"):
            self.send([fail("CHATHISTORY", "INVALID_PARAMS", params[0], "Unknown subcommand")])
            return
        if len(raw) < wanted or not count.isdigit() or (
            any(point is None for point in points) and subcommand != "LATEST"
        ) or (subcommand == "LATEST" and raw[0] != "*" and points[0] is None):
            self.send([fail("CHATHISTORY", "INVALID_PARAMS", params[0], "Invalid parameters")])
            return
        limit = min(int(count), CHATHISTORY_MAX) or CHATHISTORY_MAX
        member = self.session_member()
        if not target.startswith("#"):
            self.send(self._batch(target, []))  # private messages are not kept
            return
        room = member.rooms.get(fold(target[1:]))
        if room is None:
            self.send([fail("CHATHISTORY", "INVALID_TARGET", params[0], target,
                            "You are not in that channel")])
            return
        place = member.outbox.reserve()

        def show(entries: list[Said]) -> None:
            picked = select(entries, subcommand, points, limit)
            self.charge_history(len(picked))
            member.outbox.fill(place, Batch((Wire("\r\n".join(
                self._batch(channel(room.name), picked)
            )),)))

        def failed(failure: Any) -> None:
            member.outbox.fill(place, Batch((Wire(fail(
                "CHATHISTORY", "MESSAGE_ERROR", params[0], target, "History could not be read"
            )),)))

        self.registry.history.read_recent(room.key, self.history_keep).addCallbacks(show, failed)

    def _batch(self, target: str, entries: list[Said]) -> list[str]:
        reference = batch_reference()
        lines = [self.viewer.reply("BATCH", "+" + reference, "chathistory", target)]
        with_batch = "batch" in self.viewer.caps
        for said in entries:
            lines.extend(self.viewer.said(said, target, reference if with_batch else None))
        lines.append(self.viewer.reply("BATCH", "-" + reference))
        return lines if with_batch else lines[1:-1]
