"""Support for the contract suites of the ports: reading what a Deferred fired with.

The in-process and SQLite implementations answer with Deferreds that have
already fired, so a suite reads them at once; an implementation that
answers later (a remote one) overrides ``settle`` in its suite's subclass
to wait, as :class:`tests.support.history_support.ThreadedClock` waits for
a thread.
"""

from __future__ import annotations

from typing import Any, TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure

T = TypeVar("T")


def fired(deferred: defer.Deferred[T]) -> T:
    """What ``deferred`` has fired with (raising what it failed with); it must have fired."""
    assert isinstance(deferred, defer.Deferred), f"{deferred!r} is not a Deferred"
    outcome: list[Any] = []
    deferred.addBoth(outcome.append)
    assert outcome, "the Deferred has not fired"
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result  # type: ignore[no-any-return]
