"""The moderation state in memory: who is banned or muted where, until when, and room settings.

Time is a :class:`twisted.internet.task.Clock`: durations end when it is advanced.
"""

from __future__ import annotations

import ipaddress

import pytest
from twisted.internet.task import Clock

from chat.moderation.rules import Ban, Moderation, Mute, RoomSettings, guest_key
from chat.moderation.targets import AccountTarget, AddressTarget, NickTarget, parse_target

HOUR = 3600.0
ADDRESS = "198.51.100.20"


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.advance(1000.0)
    return clock


@pytest.fixture
def moderation(clock: Clock) -> Moderation:
    return Moderation(clock)


def network(text: str) -> AddressTarget:
    return AddressTarget(ipaddress.ip_network(text))


# Bans: what matches


def test_a_nickname_ban_keeps_that_nickname_out(moderation: Moderation) -> None:
    """A server-wide ban of bob is the ban found for bob."""
    ban = moderation.ban(NickTarget("bob"), None, "root")
    assert moderation.banned("bob", None, ADDRESS, None) == ban


def test_a_nickname_ban_does_not_keep_another_nickname_out(moderation: Moderation) -> None:
    """A ban of bob says nothing about carol."""
    moderation.ban(NickTarget("bob"), None, "root")
    assert moderation.banned("carol", None, ADDRESS, None) is None


def test_a_nickname_ban_does_not_match_before_a_nickname_is_chosen(
    moderation: Moderation,
) -> None:
    """At connect (nick_key None) only address bans can match."""
    moderation.ban(NickTarget("bob"), None, "root")
    assert moderation.banned(None, None, ADDRESS, None) is None


def test_an_account_ban_matches_the_account_under_any_nickname(moderation: Moderation) -> None:
    """A ban of account alice keeps alice out though she calls herself al."""
    ban = moderation.ban(AccountTarget("alice"), None, "root")
    assert moderation.banned("al", "alice", ADDRESS, None) == ban


def test_an_account_ban_does_not_match_a_guest_with_that_nickname(
    moderation: Moderation,
) -> None:
    """A guest called alice, logged in to no account, is not banned by account:alice."""
    moderation.ban(AccountTarget("alice"), None, "root")
    assert moderation.banned("alice", None, ADDRESS, None) is None


def test_an_address_ban_matches_that_address(moderation: Moderation) -> None:
    """A ban of 203.0.113.7 keeps out a connection from it."""
    ban = moderation.ban(parse_target("203.0.113.7"), None, "root")
    assert moderation.banned(None, None, "203.0.113.7", None) == ban


def test_an_address_ban_does_not_match_its_neighbour(moderation: Moderation) -> None:
    """A ban of 203.0.113.7 lets 203.0.113.8 in."""
    moderation.ban(parse_target("203.0.113.7"), None, "root")
    assert moderation.banned(None, None, "203.0.113.8", None) is None


def test_an_ipv6_slash_64_ban_matches_an_address_inside_it(moderation: Moderation) -> None:
    """A ban of 2001:db8:1:2::/64 keeps out 2001:db8:1:2:aaaa:bbbb:cccc:dddd."""
    ban = moderation.ban(network("2001:db8:1:2::/64"), None, "root")
    assert moderation.banned(None, None, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", None) == ban


def test_an_ipv6_slash_64_ban_does_not_match_the_next_slash_64(moderation: Moderation) -> None:
    """A ban of 2001:db8:1:2::/64 lets 2001:db8:1:3::1 in."""
    moderation.ban(network("2001:db8:1:2::/64"), None, "root")
    assert moderation.banned(None, None, "2001:db8:1:3::1", None) is None


def test_an_ipv4_network_ban_matches_an_address_inside_it(moderation: Moderation) -> None:
    """A ban of 10.0.0.0/8 keeps out 10.200.3.4."""
    ban = moderation.ban(network("10.0.0.0/8"), None, "root")
    assert moderation.banned(None, None, "10.200.3.4", None) == ban


def test_an_ipv4_ban_matches_the_ipv4_mapped_address(moderation: Moderation) -> None:
    """A dual-stack listener's ::ffff:203.0.113.7 is 203.0.113.7 for a ban."""
    ban = moderation.ban(parse_target("203.0.113.0/24"), None, "root")
    assert moderation.banned(None, None, "::ffff:203.0.113.7", None) == ban


def test_an_ipv4_ban_does_not_match_an_ipv6_address_with_the_same_bits(
    moderation: Moderation,
) -> None:
    """::cb00:7107 (not mapped) is not 203.0.113.7."""
    moderation.ban(parse_target("203.0.113.7"), None, "root")
    assert moderation.banned(None, None, "::cb00:7107", None) is None


def test_an_address_with_a_zone_matches_without_it(moderation: Moderation) -> None:
    """fe80::1%eth0, as a transport may give it, matches a ban of fe80::/10."""
    ban = moderation.ban(network("fe80::/10"), None, "root")
    assert moderation.banned(None, None, "fe80::1%eth0", None) == ban


def test_a_peer_that_is_no_address_matches_no_address_ban(moderation: Moderation) -> None:
    """A UNIX socket's peer ("") is not matched by a ban of every IPv4 address."""
    moderation.ban(network("0.0.0.0/0"), None, "root")
    assert moderation.banned(None, None, "", None) is None


# Bans: scope


def test_a_server_wide_ban_holds_in_every_room(moderation: Moderation) -> None:
    """A ban with scope None keeps bob out of any room."""
    ban = moderation.ban(NickTarget("bob"), None, "root")
    assert moderation.banned("bob", None, ADDRESS, "kitchen") == ban


def test_a_room_ban_holds_in_that_room(moderation: Moderation) -> None:
    """A ban from kitchen keeps bob out of kitchen."""
    ban = moderation.ban(NickTarget("bob"), "kitchen", "alice")
    assert moderation.banned("bob", None, ADDRESS, "kitchen") == ban


def test_a_room_ban_does_not_hold_in_another_room(moderation: Moderation) -> None:
    """A ban from kitchen lets bob into garden."""
    moderation.ban(NickTarget("bob"), "kitchen", "alice")
    assert moderation.banned("bob", None, ADDRESS, "garden") is None


def test_a_room_ban_does_not_keep_anyone_off_the_server(moderation: Moderation) -> None:
    """A ban from kitchen says nothing when asked about the server (room None)."""
    moderation.ban(NickTarget("bob"), "kitchen", "alice")
    assert moderation.banned("bob", None, ADDRESS, None) is None


def test_a_server_wide_ban_is_found_before_a_room_ban(
    moderation: Moderation, clock: Clock
) -> None:
    """Of a room ban and a later server-wide ban both matching, the server-wide one is given."""
    moderation.ban(NickTarget("bob"), "kitchen", "alice")
    clock.advance(1)
    server_wide = moderation.ban(AccountTarget("bob"), None, "root")
    assert moderation.banned("bob", "bob", ADDRESS, "kitchen") == server_wide


# Bans: time and changes


def test_a_ban_records_who_why_since_and_until(moderation: Moderation) -> None:
    """ban gives the Ban with its author, reason, start (the clock) and end."""
    ban = moderation.ban(NickTarget("bob"), "kitchen", "alice", "spam", duration=HOUR)
    assert ban == Ban(NickTarget("bob"), "kitchen", "alice", "spam", 1000.0, 1000.0 + HOUR)


def test_a_ban_with_a_duration_holds_until_just_before_it_ends(
    moderation: Moderation, clock: Clock
) -> None:
    """An hour's ban still holds a moment before the hour is over."""
    moderation.ban(NickTarget("bob"), None, "root", duration=HOUR)
    clock.advance(HOUR - 0.001)
    assert moderation.banned("bob", None, ADDRESS, None) is not None


def test_a_ban_with_a_duration_ends_by_itself(moderation: Moderation, clock: Clock) -> None:
    """Once the hour is over the ban no longer holds, with nothing done."""
    moderation.ban(NickTarget("bob"), None, "root", duration=HOUR)
    clock.advance(HOUR)
    assert moderation.banned("bob", None, ADDRESS, None) is None


def test_a_ban_without_a_duration_holds_for_ever(moderation: Moderation, clock: Clock) -> None:
    """A ban with no duration still holds twenty years later."""
    moderation.ban(NickTarget("bob"), None, "root")
    clock.advance(20 * 365 * 86400.0)
    assert moderation.banned("bob", None, ADDRESS, None) is not None


def test_banning_again_replaces_the_ban(moderation: Moderation, clock: Clock) -> None:
    """A second ban of bob in the same scope, for a minute, ends the first one's for ever."""
    moderation.ban(NickTarget("bob"), None, "root", "first")
    moderation.ban(NickTarget("bob"), None, "root", "second", duration=60.0)
    clock.advance(60.0)
    assert moderation.banned("bob", None, ADDRESS, None) is None


def test_unban_lifts_the_ban(moderation: Moderation) -> None:
    """After unban, bob is no longer banned, and unban says there was a ban."""
    moderation.ban(NickTarget("bob"), None, "root")
    assert moderation.unban(NickTarget("bob"), None)
    assert moderation.banned("bob", None, ADDRESS, None) is None


def test_unban_of_someone_not_banned_is_false(moderation: Moderation) -> None:
    """unban of a target never banned says there was nothing to lift."""
    assert not moderation.unban(NickTarget("bob"), None)


def test_unban_of_an_expired_ban_is_false(moderation: Moderation, clock: Clock) -> None:
    """A ban that has ended is no longer there to lift."""
    moderation.ban(NickTarget("bob"), None, "root", duration=60.0)
    clock.advance(61.0)
    assert not moderation.unban(NickTarget("bob"), None)


def test_unban_in_another_scope_leaves_the_ban(moderation: Moderation) -> None:
    """Lifting bob's kitchen ban leaves his server-wide ban."""
    moderation.ban(NickTarget("bob"), None, "root")
    assert not moderation.unban(NickTarget("bob"), "kitchen")
    assert moderation.banned("bob", None, ADDRESS, None) is not None


def test_bans_lists_the_active_bans_of_a_scope_oldest_first(
    moderation: Moderation, clock: Clock
) -> None:
    """bans("kitchen") gives kitchen's bans still holding, oldest first, and no other scope's."""
    moderation.ban(NickTarget("gone"), "kitchen", "alice", duration=1.0)
    first = moderation.ban(NickTarget("bob"), "kitchen", "alice")
    clock.advance(2.0)
    second = moderation.ban(network("10.0.0.0/8"), "kitchen", "alice")
    moderation.ban(NickTarget("carol"), None, "root")
    moderation.ban(NickTarget("dave"), "garden", "alice")
    assert moderation.bans("kitchen") == [first, second]


def test_bans_of_none_lists_the_server_wide_bans(moderation: Moderation) -> None:
    """bans(None) gives the server-wide bans only."""
    server_wide = moderation.ban(NickTarget("carol"), None, "root")
    moderation.ban(NickTarget("bob"), "kitchen", "alice")
    assert moderation.bans(None) == [server_wide]


# Mutes


def test_a_room_mute_silences_in_that_room(moderation: Moderation) -> None:
    """muted gives bob's kitchen mute in kitchen."""
    mute = moderation.mute("bob", "kitchen", "alice")
    assert moderation.muted("bob", "kitchen") == mute


def test_a_room_mute_does_not_silence_in_another_room(moderation: Moderation) -> None:
    """bob muted in kitchen may speak in garden."""
    moderation.mute("bob", "kitchen", "alice")
    assert moderation.muted("bob", "garden") is None


def test_a_room_mute_does_not_silence_outside_rooms(moderation: Moderation) -> None:
    """bob muted in kitchen may still send private messages (room None)."""
    moderation.mute("bob", "kitchen", "alice")
    assert moderation.muted("bob", None) is None


def test_a_server_wide_mute_silences_everywhere(moderation: Moderation) -> None:
    """A mute with scope None holds in every room and outside rooms."""
    mute = moderation.mute("bob", None, "root")
    assert (moderation.muted("bob", "kitchen"), moderation.muted("bob", None)) == (mute, mute)


def test_a_mute_does_not_silence_anyone_else(moderation: Moderation) -> None:
    """Muting bob leaves carol free to speak."""
    moderation.mute("bob", None, "root")
    assert moderation.muted("carol", "kitchen") is None


def test_a_mute_records_who_since_and_until(moderation: Moderation) -> None:
    """mute gives the Mute with its author, start (the clock) and end."""
    mute = moderation.mute("bob", "kitchen", "alice", duration=60.0)
    assert mute == Mute("bob", "kitchen", "alice", 1000.0, 1060.0)


def test_a_mute_with_a_duration_ends_by_itself(moderation: Moderation, clock: Clock) -> None:
    """A minute's mute no longer holds once the minute is over."""
    moderation.mute("bob", "kitchen", "alice", duration=60.0)
    clock.advance(60.0)
    assert moderation.muted("bob", "kitchen") is None


def test_unmute_lifts_the_mute(moderation: Moderation) -> None:
    """After unmute bob may speak, and unmute says there was a mute."""
    moderation.mute("bob", "kitchen", "alice")
    assert moderation.unmute("bob", "kitchen")
    assert moderation.muted("bob", "kitchen") is None


def test_unmute_of_someone_not_muted_is_false(moderation: Moderation) -> None:
    """unmute of a nickname never muted says there was nothing to lift."""
    assert not moderation.unmute("bob", "kitchen")


def test_unmute_of_an_expired_mute_is_false(moderation: Moderation, clock: Clock) -> None:
    """A mute that has ended is no longer there to lift."""
    moderation.mute("bob", "kitchen", "alice", duration=60.0)
    clock.advance(60.0)
    assert not moderation.unmute("bob", "kitchen")


# Rooms


def test_a_room_never_set_has_the_default_settings(moderation: Moderation) -> None:
    """room of an unknown key: no owner, no topic, anyone sets it, no operators."""
    assert moderation.room("kitchen") == RoomSettings("kitchen", None, "", None, None, False,
                                                      frozenset())


def test_set_topic_records_the_topic_who_and_when(moderation: Moderation) -> None:
    """The topic is kept with who set it and when (the clock)."""
    moderation.set_topic("kitchen", "Soup tonight", "alice")
    settings = moderation.room("kitchen")
    assert (settings.topic, settings.topic_by, settings.topic_at) == (
        "Soup tonight", "alice", 1000.0,
    )


def test_an_empty_topic_clears_it(moderation: Moderation) -> None:
    """Setting "" leaves the room with no topic, and so its default settings."""
    moderation.set_topic("kitchen", "Soup tonight", "alice")
    moderation.set_topic("kitchen", "", "alice")
    assert moderation.room("kitchen").default


def test_set_topic_ops_only_is_a_room_setting(moderation: Moderation) -> None:
    """set_topic_ops_only(True) is seen in that room's settings only."""
    moderation.set_topic_ops_only("kitchen", True)
    assert (moderation.room("kitchen").topic_ops_only,
            moderation.room("garden").topic_ops_only) == (True, False)


def test_set_owner_makes_an_account_the_owner(moderation: Moderation) -> None:
    """The owner is the account key given."""
    moderation.set_owner("kitchen", "alice")
    assert moderation.room("kitchen").owner == "alice"


def test_grant_op_adds_an_operator_once(moderation: Moderation) -> None:
    """grant_op says it made an operator the first time, not the second."""
    assert (moderation.grant_op("kitchen", "bob"), moderation.grant_op("kitchen", "bob")) == (
        True, False,
    )
    assert moderation.room("kitchen").operators == {"bob"}


def test_revoke_op_removes_an_operator_once(moderation: Moderation) -> None:
    """revoke_op says it took operator status the first time, not the second."""
    moderation.grant_op("kitchen", "bob")
    assert (moderation.revoke_op("kitchen", "bob"), moderation.revoke_op("kitchen", "bob")) == (
        True, False,
    )
    assert moderation.room("kitchen").operators == frozenset()


def test_an_operator_by_account_is_a_room_operator_under_any_nickname(
    moderation: Moderation,
) -> None:
    """Account alice opped in kitchen is an operator there while called al."""
    moderation.grant_op("kitchen", "alice")
    assert moderation.is_room_operator("kitchen", "al", "alice")


def test_an_operator_by_nickname_is_a_room_operator_as_a_guest(moderation: Moderation) -> None:
    """A guest opped by nickname is an operator with no account."""
    moderation.grant_op("kitchen", guest_key("bob"))
    assert moderation.is_room_operator("kitchen", "bob", None)


def test_a_guest_under_an_operators_account_name_is_no_operator(moderation: Moderation) -> None:
    """The account bob is an operator; a guest who takes the nickname bob (the account
    gone, or not logged in) is not."""
    moderation.grant_op("kitchen", "bob")
    assert not moderation.is_room_operator("kitchen", "bob", None)


def test_the_owner_is_a_room_operator(moderation: Moderation) -> None:
    """The owner's account counts as an operator of its room."""
    moderation.set_owner("kitchen", "alice")
    assert moderation.is_room_operator("kitchen", "alice", "alice")


def test_a_guest_with_the_owners_nickname_is_not_a_room_operator(
    moderation: Moderation,
) -> None:
    """Ownership goes with the account: a guest called alice is no operator."""
    moderation.set_owner("kitchen", "alice")
    assert not moderation.is_room_operator("kitchen", "alice", None)


def test_an_operator_of_one_room_is_not_one_of_another(moderation: Moderation) -> None:
    """bob opped in kitchen is no operator of garden."""
    moderation.grant_op("kitchen", "bob")
    assert not moderation.is_room_operator("garden", "bob", "bob")


def test_a_room_never_set_is_not_kept(moderation: Moderation) -> None:
    """An unknown room is dropped when empty."""
    assert not moderation.keeps("kitchen")


def test_a_room_with_an_owner_is_kept(moderation: Moderation) -> None:
    """An owned room stays when empty."""
    moderation.set_owner("kitchen", "alice")
    assert moderation.keeps("kitchen")


def test_a_room_with_a_topic_is_kept(moderation: Moderation) -> None:
    """A room with a topic stays when empty."""
    moderation.set_topic("kitchen", "Soup", "bob")
    assert moderation.keeps("kitchen")


def test_a_room_with_a_ban_is_kept(moderation: Moderation) -> None:
    """A room with a ban stays when empty."""
    moderation.ban(NickTarget("bob"), "kitchen", "alice")
    assert moderation.keeps("kitchen")


def test_a_room_whose_ban_has_ended_is_not_kept(moderation: Moderation, clock: Clock) -> None:
    """A room's ended ban no longer keeps it."""
    moderation.ban(NickTarget("bob"), "kitchen", "alice", duration=60.0)
    clock.advance(60.0)
    assert not moderation.keeps("kitchen")


def test_a_room_with_only_operators_is_not_kept(moderation: Moderation) -> None:
    """Operators alone do not keep a room (its settings are kept all the same)."""
    moderation.grant_op("kitchen", "bob")
    assert not moderation.keeps("kitchen")


def test_a_server_wide_ban_does_not_keep_a_room(moderation: Moderation) -> None:
    """Bans of the server are no room's."""
    moderation.ban(NickTarget("bob"), None, "root")
    assert not moderation.keeps("kitchen")


# Voice


def test_grant_voice_gives_voice_once(moderation: Moderation) -> None:
    """The first grant changes something, the second nothing."""
    assert moderation.grant_voice("kitchen", "bob")
    assert not moderation.grant_voice("kitchen", "bob")
    assert moderation.is_voiced("kitchen", "bob", "bob")


def test_revoke_voice_takes_it_once(moderation: Moderation) -> None:
    """Taking voice works once; voice in kitchen is not voice in garden."""
    moderation.grant_voice("kitchen", "bob")
    assert not moderation.is_voiced("garden", "bob", "bob")
    assert moderation.revoke_voice("kitchen", "bob")
    assert not moderation.revoke_voice("kitchen", "bob")
    assert not moderation.is_voiced("kitchen", "bob", "bob")


def test_a_guests_voice_follows_its_new_nickname_and_ends_when_it_leaves(
    moderation: Moderation,
) -> None:
    """A guest's voice, like its operator status, moves with /nick and goes when it leaves."""
    moderation.grant_voice("kitchen", guest_key("gus"))
    moderation.grant_op("garden", guest_key("gus"))
    moderation.move_guest_operator("gus", "gustav")
    assert not moderation.is_voiced("kitchen", "gus", None)
    assert moderation.is_voiced("kitchen", "gustav", None)
    assert moderation.is_room_operator("garden", "gustav", None)
    moderation.forget_guest_operator("gustav")
    assert moderation.room("kitchen") == RoomSettings("kitchen")


def test_a_deleted_account_loses_its_voice(moderation: Moderation) -> None:
    """forget_account takes the account's voice too."""
    moderation.grant_voice("kitchen", "bob")
    moderation.forget_account("bob")
    assert not moderation.is_voiced("kitchen", "bob", "bob")


def test_a_moderated_room_is_a_room_setting(moderation: Moderation) -> None:
    """set_moderated turns +m on and off; off, the room is back to the defaults."""
    assert moderation.set_moderated("kitchen", True).moderated
    assert moderation.set_moderated("kitchen", False) == RoomSettings("kitchen")
