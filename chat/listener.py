"""Listening on one ``--listen`` endpoint, and saying where.

A :class:`Listener` is a service that listens when started and stops
listening when stopped; a failure to listen ends the program with one line.
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger()


class Listener(Service):
    """Listens on one endpoint; a failure to listen ends the program."""

    def __init__(self, reactor: Any, description: str, factory: ServerFactory) -> None:
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
