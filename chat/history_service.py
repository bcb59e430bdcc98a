"""Opening the history database when the server starts, and closing it when it stops.

twistd forks (daemon mode) after it builds the service and before it starts
it, so the database, its lock and its writer thread belong to
:meth:`HistoryService.startService`, in the process that runs. A database
that cannot be used ends start-up with one line, like a port that cannot be
listened on; :func:`check_before_start` looks once before the fork too, so
that in daemon mode the line reaches the terminal that started twistd.
"""

from __future__ import annotations

import os
import sys

from twisted.application.service import Service
from twisted.internet import defer

from chat.history import History
from chat.storage import SQLiteHistoryStore, StoreError


class StartUpError(Exception):
    """Start-up cannot go on; in daemon mode twistd hands this message to its first process."""


def end_start_up(message: str, forked: bool) -> None:
    """End twistd with ``message``: one line on stderr, or to the waiting parent once forked."""
    if forked:
        raise StartUpError(message)
    (sys.__stderr__ or sys.stderr).write(message + "\n")
    raise SystemExit(1)


def check_before_start(store: SQLiteHistoryStore) -> None:
    """End start-up with one line if ``store`` cannot be opened (it is left closed)."""
    try:
        store.check()
    except StoreError as error:
        end_start_up(str(error), forked=False)


class HistoryService(Service):
    """Gives ``history`` its store while the server runs."""

    def __init__(self, history: History, store: SQLiteHistoryStore) -> None:
        self.history = history
        self.store = store
        self._built_by = os.getpid()

    def startService(self) -> None:
        try:
            self.store.open()
        except StoreError as error:
            end_start_up(str(error), forked=os.getpid() != self._built_by)
        self.history.use(self.store)
        super().startService()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return self.history.close()
