"""Support for tests of the history store: a clock that threads can call back, and waiting on it.

:class:`ThreadedClock` is a :class:`~twisted.internet.testing.MemoryReactorClock`
that also takes ``callFromThread``, as the real reactor does: the store's writer
thread reports back through it. :meth:`ThreadedClock.wait` runs those
calls on the test's thread until a condition holds, as a reactor would.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

WAIT_TIMEOUT = 10.0


class ThreadedClock(MemoryReactorClock):
    """A clock for tests whose ``callFromThread`` calls run when the test waits."""

    def __init__(self) -> None:
        super().__init__()
        self._from_threads: queue.SimpleQueue[Callable[[], Any]] = (
            queue.SimpleQueue()
        )

    def callFromThread(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._from_threads.put(lambda: call(*args, **kwargs))

    def wait(self, condition: Callable[[], bool], timeout: float = WAIT_TIMEOUT) -> None:
        """Run calls from threads until ``condition()`` holds; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"not done within {timeout}s"
            try:
                call = self._from_threads.get(timeout=min(remaining, 0.05))
            except queue.Empty:
                continue
            call()

    def run_pending(self) -> None:
        """Run the calls from threads that have arrived so far."""
        while True:
            try:
                call = self._from_threads.get_nowait()
            except queue.Empty:
                return
            call()

    def result(self, deferred: defer.Deferred[Any], timeout: float = WAIT_TIMEOUT) -> Any:
        """What ``deferred`` fires with, running calls from threads until it does."""
        outcome: list[Any] = []
        deferred.addBoth(outcome.append)
        self.wait(lambda: bool(outcome), timeout)
        if isinstance(outcome[0], Failure):
            outcome[0].raiseException()
        return outcome[0]
