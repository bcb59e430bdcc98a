"""The twistd plugin: ``twistd -n tcpchat`` runs the chat server.

The service it makes has already listened: twistd calls ``makeService``
before it logs its start-up lines and before it daemonises, so a port in
use ends twistd there with one line and exit status 1, and a daemon's
parent does not wait for a child that cannot serve.

Importing this module (twistd imports every plugin to list them) and
parsing the options import no reactor: twistd installs the one its
``--reactor`` names, and only ``makeService`` takes it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from twisted.application.service import IService, IServiceCollection, IServiceMaker, MultiService
from twisted.plugin import IPlugin
from twisted.python import usage
from zope.interface import implementer

from chat import service
from chat.listener import Listener, ListenError
from chat.options import Options


class _Options(Options):
    """Options that end twistd with one line, not the whole usage, when wrong."""

    def parseOptions(self, options: list[str] | None = None) -> None:
        try:
            super().parseOptions(options)
        except usage.UsageError as error:
            sys.stderr.write(f"twistd tcpchat: {error} (see twistd tcpchat --help)\n")
            raise SystemExit(2) from None


@implementer(IServiceMaker, IPlugin)
class _ServiceMaker:
    tapname = "tcpchat"
    description = "A chat room server for terminals: join with tcpchat-client, telnet or nc."
    options = _Options

    def makeService(self, config: Options) -> MultiService:
        from twisted.internet import reactor

        top = service.make_service(
            reactor, config["listen"], config["config"], config["auth"], irc=config["irc"]
        )
        daemonising = config.parent is not None and not config.parent.get("nodaemon", True)
        for listener in _listeners(top):
            # A unix socket's lock file names the process that listens: a
            # daemon's must be taken after the fork, and a failure then is
            # reported by twistd itself.
            if daemonising and listener.lock_names_process:
                continue
            try:
                listener.listen()
            except ListenError as error:
                sys.stderr.write(f"{error}\n")
                raise SystemExit(1) from None
        return top


def _listeners(parent: IService) -> Iterator[Listener]:
    """Every Listener among ``parent`` and the services under it."""
    if isinstance(parent, Listener):
        yield parent
    if IServiceCollection.providedBy(parent):
        for child in parent:
            yield from _listeners(child)


serviceMaker = _ServiceMaker()
