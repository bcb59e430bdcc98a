"""The connection every front end shares: what the server waits for when it stops."""

from __future__ import annotations

from chat.testing import Chat


def test_on_lost_fires_once_the_connection_is_gone_when_asked_before_or_after() -> None:
    """on_lost asked for while the connection is open fires when it goes; asked for
    afterwards it has fired already."""
    chat = Chat()
    early, late = chat.connect("alice"), chat.connect("bob")
    waiting = early.protocol.connection.on_lost
    assert not waiting.called
    early.lose()
    late.lose()
    assert waiting.called
    assert late.protocol.connection.on_lost.called


def test_each_server_greets_every_connection_with_its_own_message_of_the_day() -> None:
    """The greeting, the --motd lines, then the nickname prompt, for every connection of
    a server; another server with another motd greets with that one (the greeting is made
    once per motd, not once for the process)."""
    kind, plain = Chat(motd=("be kind", "no spam")), Chat()
    for _ in range(2):
        assert kind.open().received() == [
            "*** Welcome to tcpchat.", "*** be kind", "*** no spam",
            "*** Please choose a nickname (1-20 letters, digits, _ or -):",
        ]
        assert plain.open().received() == [
            "*** Welcome to tcpchat.",
            "*** Please choose a nickname (1-20 letters, digits, _ or -):",
        ]
