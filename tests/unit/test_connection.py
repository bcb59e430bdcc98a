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
