"""One worker thread for a store whose calls block on the disk, as the reactor sees it.

The accounts, the offline messages and the moderation each keep an SQLite
connection that only their own thread uses (so ``:memory:`` works too).
A :class:`StoreThread` runs every call given to it on that thread, in
order, and answers with a Deferred; with no reactor (the in-memory harness
of :mod:`chat.testing`, which has no reactor to come back to) each call
runs at once on the caller's thread.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

_P = ParamSpec("_P")
_R = TypeVar("_R")


def daemon_pool(name: str) -> ThreadPool:
    """A pool of one thread that does not keep the process alive: a server stops it
    when it stops (its stopService); one that is never stopped (a test, a start-up
    that failed) must not make the interpreter wait for ever on its exit."""
    pool = ThreadPool(1, 1, name=name)
    pool.threadFactory = functools.partial(threading.Thread, daemon=True)  # type: ignore[assignment]
    return pool


class StoreThread:
    """The thread named ``name`` on which a store's calls run, one after another."""

    def __init__(self, name: str, reactor: IReactorFromThreads | None) -> None:
        self._reactor = reactor
        self._pool = daemon_pool(name)

    def start(self, opening: Callable[[], None]) -> defer.Deferred[None]:
        """Start the thread and run ``opening`` (which opens the store) on it."""
        if self._reactor is not None:
            self._pool.start()
        return self.call(opening)

    def stop(self, closing: Callable[[], None]) -> defer.Deferred[None]:
        """Run ``closing`` once the calls before it are done, then end the thread."""
        if self._reactor is not None and not self._pool.started:
            return defer.succeed(None)
        return self.call(closing).addBoth(self._stop_pool)

    def call(
        self, work: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs
    ) -> defer.Deferred[_R]:
        """Run ``work`` on the thread, after what was asked before."""
        if self._reactor is None:
            return defer.execute(work, *args, **kwargs)
        return deferToThreadPool(self._reactor, self._pool, work, *args, **kwargs)

    def _stop_pool(self, result: _R) -> _R:
        if self._reactor is not None:
            self._pool.stop()
        return result
