"""Service wiring: listening where asked and stopping politely.

:func:`make_service` builds what ``twistd tcpchat`` runs: one
:class:`Listener` per ``--listen`` endpoint around one shared
:class:`~chat.protocol.ChatFactory`, and a :class:`Farewell` that, when
the server stops, tells everyone, lets output drain for a bounded time,
then closes what is left.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.config import ServerConfig
from chat.history import History
from chat.protocol import ChatFactory
from chat.rooms import Registry
from chat.storage import SQLiteHistoryStore

log = Logger()


class Listener(Service):
    """Listens on one endpoint; a failure to listen ends the program."""

    def __init__(self, reactor: Any, description: str, factory: ChatFactory) -> None:
        self.reactor = reactor
        self.description = description
        self.factory = factory
        self.port: IListeningPort | None = None

    def startService(self) -> None:
        super().startService()
        endpoint = serverFromString(self.reactor, self.description)
        failures: list[Failure] = []
        endpoint.listen(self.factory).addCallbacks(self._listening, failures.append)
        if failures:
            # TCP, unix and ssl endpoints fail at once, before the reactor
            # runs: end twistd with one line instead of a traceback.
            message = self._failed(failures[0])
            (sys.__stderr__ or sys.stderr).write(message + "\n")
            raise SystemExit(1)

    def _listening(self, port: IListeningPort) -> None:
        self.port = port
        log.info("tcpchat listening on {address}", address=describe_address(port))

    def _failed(self, failure: Failure) -> str:
        message = f"tcpchat: cannot listen on {self.description}: {failure.getErrorMessage()}"
        log.critical("{message}", message=message)
        return message

    def stopService(self) -> defer.Deferred[None] | None:
        super().stopService()
        port, self.port = self.port, None
        if port is None:
            return None
        stopped: defer.Deferred[None] | None = port.stopListening()
        return stopped


def describe_address(port: IListeningPort) -> str:
    """Where a port listens, as a person would write it."""
    address = port.getHost()
    host, number = getattr(address, "host", None), getattr(address, "port", None)
    if host is None:
        return str(getattr(address, "name", address))
    return f"[{host}]:{number}" if ":" in host else f"{host}:{number}"


class Farewell(Service):
    """Says goodbye to every connection when the server stops, then closes history."""

    def __init__(self, factory: ChatFactory, clock: IReactorTime) -> None:
        self.factory = factory
        self.clock = clock

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        connections = list(self.factory.connections)
        log.info(
            "shutting down: saying goodbye to {count} connections", count=len(connections)
        )
        self.factory.registry.clear()
        drained = [protocol.on_lost for protocol in connections]
        for protocol in connections:
            protocol.shut_down()
        grace = self.factory.config.shutdown_grace
        all_closed = defer.DeferredList(drained).addCallback(lambda _: None)
        timer = self.clock.callLater(grace, self._abort_the_rest, grace)
        all_closed.addBoth(lambda result: timer.cancel() if timer.active() else None)
        all_closed.addCallback(lambda _: self.factory.registry.history.close())
        return all_closed

    def _abort_the_rest(self, grace: float) -> None:
        stuck = list(self.factory.connections)
        log.info(
            "{count} connections still open after {grace}s; closing them",
            count=len(stuck), grace=grace,
        )
        for protocol in stuck:
            protocol.cut("server shut down")


def make_service(
    reactor: Any, listen: list[str], config: ServerConfig
) -> MultiService:
    """Everything a tcpchat server runs, ready to start."""
    top = MultiService()
    store = SQLiteHistoryStore(config.db, reactor) if config.db else None
    history = History(config.history_keep, store)
    registry = Registry(
        history, reactor, replay=config.history, crowd=config.crowd, crowd_delay=config.crowd_delay
    )
    factory = ChatFactory(registry, config, reactor)
    Farewell(factory, reactor).setServiceParent(top)
    for description in listen:
        Listener(reactor, description, factory).setServiceParent(top)
    # Everything loaded at start-up lives as long as the process: keeping it
    # out of the collector's sight spares the chat tens-of-milliseconds pauses
    # of full collections over Twisted's and the standard library's objects.
    reactor.callWhenRunning(gc.freeze)
    return top
