"""Opening the history database when the server starts, and closing it when it stops.

twistd forks (daemon mode) after it builds the service and before it starts
it, so the database, its lock and its writer thread belong to
:meth:`HistoryService.startService`, in the process that runs. A database
that cannot be used ends start-up with one line, as a port that cannot be
listened on does; :func:`check_before_start` looks once before the fork
too, so that in daemon mode the line reaches the terminal that started
twistd.
"""

from __future__ import annotations

import sys

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from chat.history import History
from chat.storage import SQLiteHistoryStore, StoreError

log = Logger()


class StartUpError(SystemExit, Exception):
    """The history database cannot be used; the message is one line for a person.

    Both a ``SystemExit(1)`` and an ``Exception``, as
    :class:`~chat.listener.ListenError` is: raised before the fork it ends
    twistd with status 1 and no traceback; raised in the ``startService`` of
    a daemon, twistd catches it as an Exception and sends it to the parent
    waiting for the start-up, which prints it and exits 1.
    """

    def __init__(self, message: str) -> None:
        super().__init__(1)
        self.message = message

    def __str__(self) -> str:
        return self.message


def refuse_start(error: StoreError) -> StartUpError:
    """Say why on stderr (a daemon's is /dev/null: twistd passes the error on)."""
    (sys.__stderr__ or sys.stderr).write(f"{error}\n")
    return StartUpError(str(error))


def check_before_start(store: SQLiteHistoryStore) -> None:
    """End start-up with one line if ``store`` cannot be opened (it is left closed)."""
    try:
        store.check()
    except StoreError as error:
        raise refuse_start(error) from None


class HistoryService(Service):
    """Gives ``history`` its store while the server runs."""

    def __init__(self, history: History, store: SQLiteHistoryStore) -> None:
        self.history = history
        self.store = store

    def startService(self) -> None:
        try:
            self.store.open()
        except StoreError as error:
            log.critical("{message}", message=str(error))
            raise refuse_start(error) from None
        self.history.use(self.store)
        super().startService()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return self.history.close()
