"""Listening on one ``--listen`` endpoint, and saying where.

A :class:`Listener` is a service that listens (at the latest) when started
and stops listening when stopped. A failure to listen is a
:class:`ListenError` whose message is one line for a person. The twistd
plugin calls :meth:`Listener.listen` before twistd logs or daemonises, so
that such a failure ends ``twistd`` with that line alone.

TCP, TLS and unix endpoints listen with a large backlog unless their
description sets one: Twisted's default of 50 overflows when thousands of
clients reconnect at once, and the kernel then drops handshakes it had
already acknowledged, leaving those clients waiting for ever.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.endpoints import _parse, serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.config import ServerConfig

log = Logger()

DEFAULT_BACKLOG = ServerConfig().backlog

# The positional parameters of the endpoint types that take a backlog, in
# the order Twisted's parsers take them after the type.
_POSITIONAL: dict[str, tuple[str, ...]] = {
    "tcp": ("port", "interface", "backlog"),
    "tcp6": ("port", "backlog", "interface"),
    "ssl": ("port", "privateKey", "certKey", "sslmethod", "interface", "backlog"),
    "unix": ("address", "mode", "backlog", "lockfile"),
}


class ListenError(SystemExit, Exception):
    """Listening on an endpoint failed; the message is one line for a person.

    Both an ``Exception`` and a ``SystemExit(1)``. Raised in the
    ``startService`` of a twistd that has daemonised, it is caught as an
    Exception: twistd sends it to the parent that waits for the start-up
    (which then prints it and exits 1) and removes its pidfile; re-raised, it
    ends the daemon with status 1 and no traceback in the log.
    """

    def __init__(self, message: str) -> None:
        super().__init__(1)
        self.message = message

    def __str__(self) -> str:
        return self.message


def _parameters(description: str) -> tuple[str, dict[str, str]] | None:
    """The endpoint type (lower case) and its parameters by name, for the types above."""
    # serverFromString's own parser: the string is read exactly as Twisted reads it.
    args, named = _parse(description)
    kind = args[0].lower() if args else ""
    if kind not in _POSITIONAL:
        return None
    return kind, {**dict(zip(_POSITIONAL[kind], args[1:], strict=False)), **named}


def with_backlog(description: str, backlog: int) -> str:
    """The endpoint with ``backlog=`` added, unless it sets one or takes none."""
    parsed = _parameters(description)
    if parsed is None or "backlog" in parsed[1]:
        return description
    return f"{description}:backlog={backlog}"


def endpoint_problem(description: str) -> str | None:
    """What is wrong with a tcp:, tcp6:, ssl: or unix: endpoint, naming the part; None if
    nothing this knows of (other types and other mistakes are for serverFromString)."""
    try:
        parsed = _parameters(description)
    except RuntimeError:  # a lone trailing backslash
        return None
    if parsed is None:
        return None
    kind, parameters = parsed
    backlog = parameters.get("backlog")
    if backlog is not None and (_whole(backlog) or 0) < 1:
        return f"backlog {backlog!r} is not a whole number above 0"
    if kind == "unix":
        return _unix_problem(parameters)
    port = parameters.get("port")
    if port is None:
        return f"no port given ({kind}:PORT)"
    number = _whole(port)
    if number is None:
        return f"port {port!r} is not a number"
    if not 0 <= number <= 65535:
        return f"port {number} is not between 0 and 65535"
    return None


def _unix_problem(parameters: dict[str, str]) -> str | None:
    address, mode = parameters.get("address", ""), parameters.get("mode", "666")
    if not address:
        return "no socket path given (unix:PATH)"
    try:
        int(mode, 8)
    except ValueError:
        return f"mode {mode!r} is not an octal number"
    folder = Path(address).parent
    if not folder.is_dir():
        return f"folder {folder} does not exist"
    return None


def _whole(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


class Listener(Service):
    """Listens on one endpoint, with ``backlog`` unless the endpoint sets its own."""

    def __init__(
        self, reactor: Any, description: str, factory: ServerFactory,
        backlog: int = DEFAULT_BACKLOG,
    ) -> None:
        self.reactor = reactor
        self.description = description
        self.factory = factory
        self.backlog = backlog
        self.port: IListeningPort | None = None
        self._listening: defer.Deferred[None] | None = None

    @property
    def lock_names_process(self) -> bool:
        """Whether listening takes a lock naming this process (unix: with its lock file),
        so that it must happen in the process that will serve."""
        parsed = _parameters(self.description)
        if parsed is None or parsed[0] != "unix":
            return False
        return _whole(parsed[1].get("lockfile", "1")) != 0

    def listen(self) -> None:
        """Listen now, unless already asked to; raises :class:`ListenError`."""
        if self._listening is not None:
            return
        endpoint = serverFromString(self.reactor, with_backlog(self.description, self.backlog))
        failures: list[Failure] = []
        listening = endpoint.listen(self.factory).addCallbacks(self._listened, failures.append)
        if failures:
            # TCP, TLS, unix and systemd endpoints fail at once, so the
            # failure reaches whoever asked to listen.
            raise ListenError(
                f"tcpchat: cannot listen on {self.description}: {_reason(failures[0])}"
            )
        self._listening = listening

    def _listened(self, port: IListeningPort) -> None:
        self.port = port
        log.info("tcpchat listening on {address}", address=describe_address(port))

    def startService(self) -> None:
        try:
            self.listen()
        except ListenError as error:
            log.critical("{message}", message=str(error))
            raise
        super().startService()

    def stopService(self) -> defer.Deferred[None] | None:
        super().stopService()
        port, self.port, self._listening = self.port, None, None
        if port is None:
            return None
        stopped: defer.Deferred[None] | None = port.stopListening()
        return stopped


def _reason(failure: Failure) -> str:
    """Why listening failed, without Twisted repeating the address."""
    error = failure.value
    if isinstance(error, CannotListenError):
        cause = error.socketError
        return (cause.strerror if isinstance(cause, OSError) else None) or str(cause)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return failure.getErrorMessage()


def describe_address(port: IListeningPort) -> str:
    """Where a port listens, as a person would write it."""
    address = port.getHost()
    host, number = getattr(address, "host", None), getattr(address, "port", None)
    if host is None:
        name = getattr(address, "name", address)
        return os.fsdecode(name) if isinstance(name, bytes) else str(name)
    return f"[{host}]:{number}" if ":" in host else f"{host}:{number}"
