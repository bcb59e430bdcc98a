"""The IRC front end: irssi, WeeChat and HexChat users in the same rooms as everyone else.

Room ``NAME`` is channel ``#NAME``. :mod:`chat.irc.wire` reads and writes
IRC lines (tags, prefix, parameters), :mod:`chat.irc.render` turns domain
events into the lines and numerics one IRC user is shown,
:mod:`chat.irc.commands` carries out IRC commands, one ``irc_NAME`` method
each, and :mod:`chat.irc.protocol` is the connection: registration, CAP
and SASL, pings, limits (:class:`~chat.irc.protocol.IRCFactory`,
:class:`~chat.irc.protocol.IRCProtocol`).
"""

from chat.irc.protocol import IRCFactory, IRCProtocol

__all__ = ["IRCFactory", "IRCProtocol"]
