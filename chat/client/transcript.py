"""The local log of the conversation (``--log-dir DIR``): what was shown, a file per room.

:class:`LoggedView` stands between a session and its view (terminal or
pipe): each line shown is also appended, without colours, after the local
date and time it was shown, to ``DIR/SERVER/ROOM.log``, where SERVER is
the server's address with anything but letters, digits, ``.``, ``_`` and
``-`` as ``_``, and ROOM the room the user was in then. Replayed lines
keep the time they were said, in brackets, after it. Nothing the user
typed as a command is ever shown, so no password reaches the log.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TextIO

from twisted.internet.interfaces import IReactorTime

from chat.client.lines import LOBBY
from chat.client.session import SessionView
from chat.client.status import Status
from chat.client.unread import UnreadMarker
from chat.text import clean

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def log_folder(directory: str, address: str) -> Path:
    """The folder of a server's logs under ``directory``, made if it is missing; OSError if it
    cannot be."""
    folder = Path(directory) / (_UNSAFE.sub("_", address) or "_")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class ConversationLog:
    """Appends lines to the log file of the room they were shown in."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.room = LOBBY
        self.problem: str | None = None  # why logging stopped
        self._files: dict[str, TextIO] = {}

    def write(self, line: str, when: float) -> str | None:
        """Log ``line`` as shown at ``when``; the problem, the first time writing fails."""
        if self.problem is not None:
            return None
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))
        try:
            self._file(self.room).write(f"{stamp} {clean(line)}\n")
        except OSError as error:
            self.problem = f"cannot write the log in {self.folder}: {error.strerror}"
            self.close()
            return self.problem
        return None

    def _file(self, room: str) -> TextIO:
        name = room.lower()
        if name not in self._files:
            self._files[name] = (self.folder / f"{name}.log").open(
                "a", encoding="utf-8", buffering=1
            )
        return self._files[name]

    def close(self) -> None:
        """Close the log files."""
        for file in self._files.values():
            file.close()
        self._files.clear()


class LoggedView:
    """A :class:`~chat.client.session.SessionView` that logs what ``view`` is asked to show."""

    def __init__(self, view: SessionView, log: ConversationLog, clock: IReactorTime) -> None:
        self.view = view
        self.log = log
        self.clock = clock

    def _logged(self, line: str) -> None:
        problem = self.log.write(line, self.clock.seconds())
        if problem is not None:
            self.view.show_error(f"{problem}; the conversation is no longer logged")

    def show_line(self, line: str) -> None:
        self._logged(line)
        self.view.show_line(line)

    def show_own_line(self, line: str) -> None:
        self._logged(line)
        self.view.show_own_line(line)

    def show_refused(self, own_line: str, error_line: str) -> None:
        self._logged(f"!!! not sent: {own_line}")
        self._logged(error_line)
        self.view.show_refused(own_line, error_line)

    def show_status(self, text: str) -> None:
        self._logged(f"*** {text}")
        self.view.show_status(text)

    def show_error(self, text: str) -> None:
        self._logged(f"!!! {text}")
        self.view.show_error(text)

    def nickname_wanted(self) -> None:
        self.view.nickname_wanted()

    def nickname_changed(self, nick: str) -> None:
        self.view.nickname_changed(nick)

    def password_wanted(self) -> None:
        self.view.password_wanted()

    def status_changed(self, status: Status) -> None:
        self.log.room = status.room
        self.view.status_changed(status)

    def show_unread(self, marker: UnreadMarker) -> None:
        self.view.show_unread(marker)
