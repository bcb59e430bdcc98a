"""In-process implementations of the ports of :mod:`chat.ports`, the defaults of one server.

One module per port: :class:`LocalSequencer` (:mod:`chat.local.sequencer`),
:class:`LocalDirectory` (:mod:`chat.local.directory`) and :class:`LocalBus` with
:class:`LocalCourier` (:mod:`chat.local.bus`). Each keeps its state in this process only, so it
serves one server; the history store's default is :class:`chat.history.History`,
and the durable sequencer is :class:`chat.storage.SQLiteSequencer`.
"""

from chat.local.bus import LocalBus, LocalCourier
from chat.local.directory import LocalDirectory
from chat.local.sequencer import LocalSequencer

__all__ = ["LocalBus", "LocalCourier", "LocalDirectory", "LocalSequencer"]
