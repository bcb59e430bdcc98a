"""Who may moderate: server operators everywhere, room operators and owners in their room.

The actors: ``ROOT`` a server operator; in kitchen, ``OWNER`` (account alice) its
owner, ``OP`` (account bob) an operator by account, ``GUEST_OP`` (guest gus) an
operator by nickname; ``USER`` (account carol) no one special; ``OTHER_OP`` (account
dave) an operator of garden only.
"""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from chat.moderation.rules import Actor, Moderation, NotPermittedError, Power, guest_key

ROOT = Actor("root", "root", server_operator=True)
OWNER = Actor("alice", "alice")
OP = Actor("bob", "bob")
GUEST_OP = Actor("gus", None)
USER = Actor("carol", "carol")
OTHER_OP = Actor("dave", "dave")
ROOM_STAFF = [ROOT, OWNER, OP, GUEST_OP]
NOT_STAFF = [USER, OTHER_OP, Actor("alice", None)]


@pytest.fixture
def moderation() -> Moderation:
    moderation = Moderation(Clock())
    moderation.set_owner("kitchen", "alice")
    moderation.grant_op("kitchen", "bob")
    moderation.grant_op("kitchen", guest_key("gus"))
    moderation.grant_op("garden", "dave")
    return moderation


@pytest.mark.parametrize("actor", ROOM_STAFF)
def test_room_staff_may_kick_from_the_room(moderation: Moderation, actor: Actor) -> None:
    """Server operators, the owner and the room's operators may kick from kitchen."""
    assert moderation.may_kick(actor, "kitchen") is None


@pytest.mark.parametrize("actor", NOT_STAFF)
def test_others_may_not_kick_from_the_room(moderation: Moderation, actor: Actor) -> None:
    """Anyone else (an operator of another room, a guest with the owner's name) is refused."""
    assert moderation.may_kick(actor, "kitchen") == NotPermittedError(Power.KICK, "kitchen")


def test_a_server_operator_may_kick_from_any_room(moderation: Moderation) -> None:
    """A server operator needs no room status: a room nobody set up is the same."""
    assert moderation.may_kick(ROOT, "attic") is None


def test_a_server_operator_may_disconnect(moderation: Moderation) -> None:
    """Disconnecting from the server is a server operator's."""
    assert moderation.may_disconnect(ROOT) is None


@pytest.mark.parametrize("actor", [OWNER, OP, USER])
def test_no_one_else_may_disconnect(moderation: Moderation, actor: Actor) -> None:
    """Owners and room operators may not disconnect anyone."""
    assert moderation.may_disconnect(actor) == NotPermittedError(Power.DISCONNECT, None)


@pytest.mark.parametrize("actor", ROOM_STAFF)
def test_room_staff_may_ban_from_the_room(moderation: Moderation, actor: Actor) -> None:
    """Server operators, the owner and the room's operators may ban from kitchen."""
    assert moderation.may_ban(actor, "kitchen") is None


@pytest.mark.parametrize("actor", NOT_STAFF)
def test_others_may_not_ban_from_the_room(moderation: Moderation, actor: Actor) -> None:
    """Anyone else is refused a kitchen ban."""
    assert moderation.may_ban(actor, "kitchen") == NotPermittedError(Power.BAN, "kitchen")


def test_a_server_operator_may_ban_server_wide(moderation: Moderation) -> None:
    """A ban with scope None is a server operator's."""
    assert moderation.may_ban(ROOT, None) is None


@pytest.mark.parametrize("actor", [OWNER, OP, USER])
def test_no_one_else_may_ban_server_wide(moderation: Moderation, actor: Actor) -> None:
    """Owners and room operators may not ban from the whole server."""
    assert moderation.may_ban(actor, None) == NotPermittedError(Power.BAN, None)


@pytest.mark.parametrize("actor", ROOM_STAFF)
def test_room_staff_may_mute_in_the_room(moderation: Moderation, actor: Actor) -> None:
    """Server operators, the owner and the room's operators may mute in kitchen."""
    assert moderation.may_mute(actor, "kitchen") is None


@pytest.mark.parametrize("actor", NOT_STAFF)
def test_others_may_not_mute_in_the_room(moderation: Moderation, actor: Actor) -> None:
    """Anyone else is refused a kitchen mute."""
    assert moderation.may_mute(actor, "kitchen") == NotPermittedError(Power.MUTE, "kitchen")


def test_a_server_operator_may_mute_server_wide(moderation: Moderation) -> None:
    """A mute with scope None is a server operator's."""
    assert moderation.may_mute(ROOT, None) is None


@pytest.mark.parametrize("actor", [OWNER, OP, USER])
def test_no_one_else_may_mute_server_wide(moderation: Moderation, actor: Actor) -> None:
    """Owners and room operators may not mute on the whole server."""
    assert moderation.may_mute(actor, None) == NotPermittedError(Power.MUTE, None)


@pytest.mark.parametrize("actor", [*ROOM_STAFF, *NOT_STAFF])
def test_anyone_may_set_an_open_topic(moderation: Moderation, actor: Actor) -> None:
    """By default everyone may set the topic."""
    assert moderation.may_set_topic(actor, "kitchen") is None


@pytest.mark.parametrize("actor", ROOM_STAFF)
def test_room_staff_may_set_a_topic_kept_to_operators(
    moderation: Moderation, actor: Actor
) -> None:
    """With topic_ops_only, server operators, the owner and the operators still may."""
    moderation.set_topic_ops_only("kitchen", True)
    assert moderation.may_set_topic(actor, "kitchen") is None


@pytest.mark.parametrize("actor", NOT_STAFF)
def test_others_may_not_set_a_topic_kept_to_operators(
    moderation: Moderation, actor: Actor
) -> None:
    """With topic_ops_only, anyone else is refused."""
    moderation.set_topic_ops_only("kitchen", True)
    assert moderation.may_set_topic(actor, "kitchen") == NotPermittedError(
        Power.SET_TOPIC, "kitchen"
    )


@pytest.mark.parametrize("actor", ROOM_STAFF)
def test_room_staff_may_configure_the_room(moderation: Moderation, actor: Actor) -> None:
    """Server operators, the owner and the operators may change kitchen's settings."""
    assert moderation.may_configure(actor, "kitchen") is None


@pytest.mark.parametrize("actor", NOT_STAFF)
def test_others_may_not_configure_the_room(moderation: Moderation, actor: Actor) -> None:
    """Anyone else is refused."""
    assert moderation.may_configure(actor, "kitchen") == NotPermittedError(
        Power.CONFIGURE, "kitchen"
    )


@pytest.mark.parametrize("actor", [ROOT, OWNER])
def test_the_owner_and_server_operators_may_op(moderation: Moderation, actor: Actor) -> None:
    """Granting and taking operator status in kitchen is its owner's, or a server operator's."""
    assert moderation.may_op(actor, "kitchen") is None


@pytest.mark.parametrize("actor", [OP, GUEST_OP, *NOT_STAFF])
def test_operators_and_others_may_not_op(moderation: Moderation, actor: Actor) -> None:
    """A room operator may not make more operators; nor may anyone else."""
    assert moderation.may_op(actor, "kitchen") == NotPermittedError(Power.OP, "kitchen")


def test_in_a_room_with_no_owner_its_operators_may_op(moderation: Moderation) -> None:
    """garden has no owner: dave, its operator, may make more (as on IRC); others may not."""
    assert moderation.may_op(OTHER_OP, "garden") is None
    for actor in (OP, GUEST_OP, USER):
        assert moderation.may_op(actor, "garden") == NotPermittedError(Power.OP, "garden")


def test_the_owner_of_one_room_may_not_op_in_another(moderation: Moderation) -> None:
    """alice owns kitchen, not garden."""
    assert moderation.may_op(OWNER, "garden") == NotPermittedError(Power.OP, "garden")


def test_the_owner_of_no_room_may_not_op_as_a_guest(moderation: Moderation) -> None:
    """In a room with no owner, an actor with no account is not taken for its owner."""
    assert moderation.may_op(Actor("x", None), "attic") == NotPermittedError(Power.OP, "attic")


def test_a_deopped_operator_may_no_longer_kick(moderation: Moderation) -> None:
    """Once revoke_op has taken bob's status, bob is refused."""
    moderation.revoke_op("kitchen", "bob")
    assert moderation.may_kick(OP, "kitchen") == NotPermittedError(Power.KICK, "kitchen")


# Voice and moderated rooms


@pytest.mark.parametrize("actor", ROOM_STAFF)
def test_room_staff_may_give_voice(moderation: Moderation, actor: Actor) -> None:
    """Server operators, the owner and the operators may give and take voice in kitchen."""
    assert moderation.may_voice(actor, "kitchen") is None


@pytest.mark.parametrize("actor", NOT_STAFF)
def test_others_may_not_give_voice(moderation: Moderation, actor: Actor) -> None:
    """Anyone else is refused voice powers."""
    assert moderation.may_voice(actor, "kitchen") == NotPermittedError(Power.VOICE, "kitchen")


@pytest.mark.parametrize("actor", [*ROOM_STAFF, *NOT_STAFF])
def test_anyone_may_speak_in_a_room_that_is_not_moderated(
    moderation: Moderation, actor: Actor
) -> None:
    """Without +m everyone speaks."""
    assert moderation.may_speak(actor, "kitchen")


@pytest.mark.parametrize("actor", ROOM_STAFF)
def test_room_staff_may_speak_in_a_moderated_room(moderation: Moderation, actor: Actor) -> None:
    """With +m server operators, the owner and the operators still speak."""
    moderation.set_moderated("kitchen", True)
    assert moderation.may_speak(actor, "kitchen")


@pytest.mark.parametrize("actor", NOT_STAFF)
def test_others_may_not_speak_in_a_moderated_room(moderation: Moderation, actor: Actor) -> None:
    """With +m anyone else without voice is silent."""
    moderation.set_moderated("kitchen", True)
    assert not moderation.may_speak(actor, "kitchen")


def test_voiced_members_speak_in_a_moderated_room(moderation: Moderation) -> None:
    """carol by account and the guest hal by nickname speak once given voice; voice in
    garden does not count in kitchen."""
    moderation.set_moderated("kitchen", True)
    moderation.grant_voice("kitchen", "carol")
    moderation.grant_voice("kitchen", guest_key("hal"))
    moderation.grant_voice("garden", "erin")
    assert moderation.may_speak(USER, "kitchen")
    assert moderation.may_speak(Actor("hal", None), "kitchen")
    assert not moderation.may_speak(Actor("erin", "erin"), "kitchen")
    assert not moderation.may_speak(Actor("carol", None), "kitchen")
