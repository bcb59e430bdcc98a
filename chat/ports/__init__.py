"""Ports: the small interfaces behind which sits what a cluster of servers will share.

Four things are shared once several server processes carry one chat, so the
domain reaches them only through these interfaces, one module each:

- :mod:`chat.ports.sequencer`: :class:`Sequencer`, message ids, never reused;
- :mod:`chat.ports.history`: :class:`HistoryStore`, what was said in each room;
- :mod:`chat.ports.directory`: :class:`Directory`, nickname claims and presence;
- :mod:`chat.ports.bus`: :class:`Bus`, fan-out of a room's events to its subscribers,
  :class:`Courier`, delivery to one member by nickname, and :class:`Census`, every
  room's members counted over every process.

Each is a :class:`typing.Protocol`: an implementation conforms by its shape,
checked by mypy where it is handed to the domain, and imports nothing from
here (as the domain's :class:`~chat.domain.registry.Client` port already works). zope
interfaces, which the project uses for Twisted's own (``IPushProducer``),
would add run-time declarations and adaptation that nothing here needs.

Where a remote implementation would have to wait (claiming a nickname,
reading history or presence), a method returns a
:class:`~twisted.internet.defer.Deferred`; the in-process defaults answer
with one already fired. What is on the path of every message (a new id,
recording it, publishing it) is synchronous: a remote implementation works
ahead (reserving blocks of ids) or behind (writing later) to keep it so.

Room keys and nickname keys are the case-folded forms the domain uses
(:func:`chat.text.fold`); a port treats a room key as an opaque string.

The defaults: :class:`chat.local.LocalSequencer` and
:class:`chat.storage.SQLiteSequencer`; :class:`chat.history.History` (in
memory, over SQLite with ``--db``); :class:`chat.local.LocalDirectory`;
:class:`chat.local.LocalBus`. Every implementation must pass the contract
suites in ``tests/contract``.
"""

from chat.ports.bus import Bus, BusUnavailableError, Census, Courier, Subscriber
from chat.ports.directory import AlreadyClaimedError, Claim, Directory
from chat.ports.history import CatchUp, HistoryStore
from chat.ports.sequencer import Sequencer

__all__ = [
    "AlreadyClaimedError",
    "Bus",
    "BusUnavailableError",
    "CatchUp",
    "Census",
    "Claim",
    "Courier",
    "Directory",
    "HistoryStore",
    "Sequencer",
    "Subscriber",
]
