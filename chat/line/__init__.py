"""The line front end: the chat as lines of text, for telnet, nc and the client.

:mod:`chat.line.render` turns the domain's events and errors into the lines
of the wire contract (``../shared/PROTOCOL.md``); :mod:`chat.line.commands`
reads the slash commands; :mod:`chat.protocol` frames lines on a
connection and drives the :class:`~chat.domain.registry.Registry`.
"""
