"""The twistd plugin: ``twistd -n tcpchat`` runs the chat server."""

from __future__ import annotations

import sys

from twisted.application.service import IServiceMaker, MultiService
from twisted.plugin import IPlugin
from twisted.python import usage
from zope.interface import implementer

from chat import service
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

        return service.make_service(reactor, config["listen"], config["config"])


serviceMaker = _ServiceMaker()
