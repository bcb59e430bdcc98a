"""tcpchat-client: join a tcpchat room from a terminal, or from a script through a pipe.

The modules: :mod:`~chat.client.options` (command line),
:mod:`~chat.client.session` (the session state machine),
:mod:`~chat.client.connection` (endpoints and reconnection),
:mod:`~chat.client.terminal` (the terminal UI) with
:mod:`~chat.client.inputline` and :mod:`~chat.client.colours`,
:mod:`~chat.client.pipe` (pipe mode), :mod:`~chat.client.lines` (kinds of
server line) and :mod:`~chat.client.main` (running it all).
"""

from chat.client.main import main

__all__ = ["main"]
