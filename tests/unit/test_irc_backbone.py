"""What IRC users are told when this server loses or regains the chat's backbone (Redis).

The events are server NOTICEs with the line front end's wording; a message the backbone
cannot carry is refused with 404 ERR_CANNOTSENDTOCHAN (to a channel).
"""

from __future__ import annotations

from typing import Any

import pytest

from chat.domain.events import BackboneBack, BackboneLost, Batch
from chat.local.bus import LocalBus
from chat.ports.bus import BusUnavailableError
from chat.testing import Chat
from tests.support.irc_harness import Clients


class UnreachableBus(LocalBus[Any]):
    """A bus whose server is unreachable: every publish is refused, as Redis's bus does."""

    def publish(self, room: str, event: Any) -> None:
        raise BusUnavailableError(room)


@pytest.fixture
def chat() -> Chat:
    return Chat()


@pytest.fixture
def clients(chat: Chat) -> Clients:
    return Clients(chat)


def test_losing_and_regaining_the_backbone_are_server_notices(
    chat: Chat, clients: Clients
) -> None:
    """BackboneLost and BackboneBack reach an IRC user as NOTICEs from the server."""
    alice = clients.irc("alice", join="#dev")
    member = chat.registry.find("alice")
    assert member is not None
    member.outbox.put(Batch((BackboneLost(),)))
    member.outbox.put(Batch((BackboneBack(12.0),)))
    lost, back = alice.received()
    assert lost.startswith(":tcpchat.local NOTICE alice :this server has lost touch with the "
                           "chat's other servers")
    assert back.startswith(":tcpchat.local NOTICE alice :this server is back in touch with "
                           "the chat's other servers after ")
    assert back.endswith(": you may talk again")


def test_a_message_the_backbone_cannot_carry_is_404(chat: Chat, clients: Clients) -> None:
    """With the bus unreachable, PRIVMSG #dev is refused with 404, saying why."""
    alice = clients.irc("alice", join="#dev")
    chat.registry.bus = UnreachableBus()
    alice.send("PRIVMSG #dev :hello")
    [refused] = alice.received()
    assert refused.startswith(":tcpchat.local 404 alice #dev :not sent: this server cannot "
                              "reach the chat's other servers")
