"""Channel modes +l, +k and +i, and INVITE, as IRC clients and line users meet them."""

from __future__ import annotations

import pytest

from chat.testing import Chat
from tests.support.irc_harness import Clients


@pytest.fixture
def chat() -> Chat:
    return Chat()


@pytest.fixture
def clients(chat: Chat) -> Clients:
    return Clients(chat)


def test_a_full_room_is_471_on_irc_and_a_line_for_line_users(
    chat: Chat, clients: Clients
) -> None:
    """+l 1 lets nobody in beside the one member; -l lets them in again."""
    alice = clients.irc("alice", join="#dev")
    alice.send("MODE #dev +l 1")
    assert alice.received() == [":alice!~alice@tcpchat MODE #dev +l 1"]
    bob = clients.irc("bob", join="")
    bob.send("JOIN #dev")
    [full] = bob.received()
    assert full.startswith(":tcpchat.local 471 bob #dev :")
    carol = chat.connect("carol")
    carol.type("/join dev")
    assert carol.received() == ["!!! dev is full: it lets in no more members"]
    alice.send("MODE #dev -l")
    assert alice.received() == [":alice!~alice@tcpchat MODE #dev -l"]
    bob.send("JOIN #dev")
    assert bob.commands()[0] == "JOIN"


def test_a_key_is_asked_of_irc_and_line_users(chat: Chat, clients: Clients) -> None:
    """+k beer: JOIN without it or with another is 475; /join ROOM KEY with it enters."""
    alice = clients.irc("alice", join="#dev")
    alice.send("MODE #dev +k beer")
    assert alice.received() == [":alice!~alice@tcpchat MODE #dev +k beer"]
    bob = clients.irc("bob", join="")
    bob.send("JOIN #dev", "JOIN #dev bees")
    assert bob.commands() == ["475", "475"]
    bob.send("JOIN #dev beer")
    assert bob.commands()[0] == "JOIN"
    carol = chat.connect("carol")
    carol.type("/join dev")
    assert carol.received() == ["!!! dev has a key: /join dev KEY"]
    carol.type("/join dev beer")
    assert carol.received()[0].startswith("*** ")
    assert "carol" in chat.server.registry.rooms["dev"].nicks()


def test_invite_only_lets_in_the_invited_once(chat: Chat, clients: Clients) -> None:
    """+i: 473 until an operator invites; the invitation is used up by joining."""
    alice = clients.irc("alice", join="#dev")
    alice.send("MODE #dev +i")
    assert alice.received() == [":alice!~alice@tcpchat MODE #dev +i"]
    bob = clients.irc("bob", join="")
    bob.send("JOIN #dev")
    assert bob.commands() == ["473"]
    alice.send("INVITE bob #dev")
    assert alice.received() == [":tcpchat.local 341 alice bob :#dev"]
    assert bob.received() == [":alice!~alice@tcpchat INVITE bob #dev"]
    bob.send("JOIN #dev")
    assert bob.commands()[0] == "JOIN"
    bob.send("PART #dev", "JOIN #dev")
    assert bob.commands() == ["PART", "473"]


def test_a_line_user_is_told_of_an_invitation(chat: Chat, clients: Clients) -> None:
    """The invited line user gets a *** line naming the room and how to join it."""
    alice = clients.irc("alice", join="#dev")
    alice.send("MODE #dev +i")
    alice.received()
    carol = chat.connect("carol")
    carol.received()
    alice.send("INVITE carol #dev")
    assert carol.received() == ["*** alice invites you to dev: /join dev"]
    carol.type("/join dev")
    assert "carol" in chat.server.registry.rooms["dev"].nicks()


def test_invite_refusals(chat: Chat, clients: Clients) -> None:
    """443 if already in, 442 if the inviter is not in it, 482 from a non-operator in +i."""
    alice = clients.irc("alice", join="#dev")
    alice.send("MODE #dev +i")
    bob = clients.irc("bob", join="#lobby")
    alice.send("INVITE bob #dev")
    alice.received()
    bob.send("JOIN #dev")
    bob.received()
    alice.received()
    alice.send("INVITE bob #dev")
    assert alice.commands() == ["443"]
    clients.irc("carol", join="")
    eve = clients.irc("eve", join="")
    eve.send("INVITE carol #dev")
    assert eve.commands() == ["442"]
    bob.send("INVITE carol #dev")
    assert bob.commands() == ["482"]


def test_mode_lists_the_settings_and_the_creation_time(chat: Chat, clients: Clients) -> None:
    """324 shows +l's number and +k's key to members only, * to others; 329 follows."""
    alice = clients.irc("alice", join="#dev")
    alice.send("MODE #dev +ilk 5 beer", "MODE #dev")
    lines = alice.received()
    assert lines[-2] == ":tcpchat.local 324 alice #dev +nilk 5 :beer"
    assert lines[-1].startswith(":tcpchat.local 329 alice #dev ")
    bob = clients.irc("bob", join="")
    bob.send("MODE #dev")
    assert bob.received()[0] == ":tcpchat.local 324 bob #dev +nilk 5 :*"


def test_a_non_operator_cannot_set_these_modes(chat: Chat, clients: Clients) -> None:
    """MODE +l by a member who is no operator is 482, and nothing changes."""
    alice = clients.irc("alice", join="#dev")
    bob = clients.irc("bob", join="#dev")
    alice.received()
    bob.send("MODE #dev +l 1")
    assert bob.commands() == ["482"]
    assert chat.server.moderation.room("dev").member_limit is None


def test_isupport_names_the_channel_modes(clients: Clients) -> None:
    client = clients.irc()
    client.send("NICK dana", "USER dana 0 * :dana")
    assert any("CHANMODES=b,k,l,imnst" in line for line in client.received())


# Voice (+v), moderated rooms (+m), and +o of someone absent


def test_voice_is_told_to_the_channel_and_shown_in_names_who_and_whois(
    clients: Clients,
) -> None:
    """+v bob: every IRC member sees the MODE; NAMES, WHO and WHOIS show bob with +."""
    alice = clients.irc("alice", join="#dev")
    bob = clients.irc("bob", join="#dev")
    alice.received()
    alice.send("MODE #dev +v bob")
    assert alice.received() == [":alice!~alice@tcpchat MODE #dev +v bob"]
    assert bob.received() == [":alice!~alice@tcpchat MODE #dev +v bob"]
    bob.send("NAMES #dev", "WHO #dev", "WHOIS bob")
    lines = bob.received()
    assert ":tcpchat.local 353 bob = #dev :@alice +bob" in lines
    [who_bob] = [line for line in lines if line.split(" ")[1] == "352" and " bob H" in line]
    assert who_bob.split(" ")[8] == "H+"
    assert ":tcpchat.local 319 bob bob :+#dev" in lines
    alice.send("MODE #dev -v bob")
    assert bob.received() == [":alice!~alice@tcpchat MODE #dev -v bob"]
    bob.send("NAMES #dev")
    assert ":tcpchat.local 353 bob = #dev :@alice bob" in bob.received()


def test_a_voiced_operator_is_at_plus_with_multi_prefix_and_at_without(
    clients: Clients,
) -> None:
    """multi-prefix shows every prefix, highest first; without it only the highest."""
    alice = clients.irc("alice", "multi-prefix", join="#dev")
    plain = clients.irc("bob", join="#dev")
    alice.send("MODE #dev +v alice")
    alice.received()
    alice.send("NAMES #dev", "WHO #dev")
    lines = alice.received()
    assert ":tcpchat.local 353 alice = #dev :@+alice bob" in lines
    assert any(line.split(" ")[1] == "352" and " alice H@+ " in line for line in lines)
    plain.received()
    plain.send("NAMES #dev", "WHO #dev")
    lines = plain.received()
    assert ":tcpchat.local 353 bob = #dev :@alice bob" in lines
    assert any(line.split(" ")[1] == "352" and " alice H@ " in line for line in lines)


def test_voice_is_refused_to_members_and_aimed_only_at_members(clients: Clients) -> None:
    """+v by a member who is no operator is 482; of someone elsewhere 441; of nobody 401."""
    alice = clients.irc("alice", join="#dev")
    bob = clients.irc("bob", join="#dev")
    clients.irc("carol", join="#ops")
    alice.received()
    bob.send("MODE #dev +v bob")
    assert bob.commands() == ["482"]
    alice.send("MODE #dev +v carol", "MODE #dev +v nobody", "MODE #dev +o carol")
    assert alice.commands() == ["441", "401", "441"]


def test_a_moderated_room_lets_only_operators_and_voiced_members_speak(
    chat: Chat, clients: Clients
) -> None:
    """+m: bob's PRIVMSG is 404 and reaches nobody, and a line user in the room is told
    why in a !!! line; once voiced bob speaks; private messages are not moderated."""
    alice = clients.irc("alice", join="#dev")
    bob = clients.irc("bob", join="#dev")
    carol = chat.connect("carol")
    carol.type("/join dev")
    alice.send("MODE #dev +m")
    assert alice.received()[-1] == ":alice!~alice@tcpchat MODE #dev +m"
    bob.received()
    carol.received()
    bob.send("PRIVMSG #dev :hi")
    [refused] = bob.received()
    assert refused.startswith(":tcpchat.local 404 bob #dev :dev is moderated")
    carol.type("hello")
    assert carol.received() == [
        "!!! dev is moderated: only its operators and those they give voice may speak"
    ]
    assert alice.received() == []
    bob.send("PRIVMSG carol :psst")
    assert carol.received() == ["*bob* psst"]
    alice.send("MODE #dev +v bob")
    alice.received()
    bob.send("PRIVMSG #dev :hi again")
    assert alice.received() == [":bob!~bob@tcpchat PRIVMSG #dev :hi again"]
    assert carol.received() == ["<bob> hi again"]
    alice.send("MODE #dev")
    assert alice.received()[0] == ":tcpchat.local 324 alice #dev :+nm"
    alice.send("MODE #dev -m")
    alice.received()
    carol.type("hello")
    assert alice.received() == [":carol!carol@tcpchat PRIVMSG #dev :hello"]


def test_a_secret_room_is_hidden_from_irc_users_outside_it(clients: Clients) -> None:
    """+s: LIST, NAMES, WHO and WHOIS show #dev only to its members; NAMES marks it @."""
    alice = clients.irc("alice", join="#dev")
    alice.send("MODE #dev +s")
    assert alice.received() == [":alice!~alice@tcpchat MODE #dev +s"]
    bob = clients.irc("bob", join="")
    bob.send("LIST", "NAMES #dev", "WHO #dev", "WHOIS alice")
    lines = [line for line in bob.received() if "#dev" in line]
    assert lines == [":tcpchat.local 366 bob #dev :End of /NAMES list",
                     ":tcpchat.local 315 bob #dev :End of /WHO list"]
    bob.send("JOIN #dev")
    assert ":tcpchat.local 353 bob @ #dev :@alice bob" in bob.received()
    bob.send("LIST")
    assert any(line.split(" ")[1:4] == ["322", "bob", "#dev"] for line in bob.received())
    alice.received()
    alice.send("MODE #dev")
    assert alice.received()[0] == ":tcpchat.local 324 alice #dev :+ns"


def test_the_changes_of_one_mode_command_are_told_in_one_line(clients: Clients) -> None:
    """MODE #dev +tmlk-s 5 beer is one MODE line to the channel, signs written once."""
    alice = clients.irc("alice", join="#dev")
    bob = clients.irc("bob", join="#dev")
    alice.received()
    alice.send("MODE #dev +s", "MODE #dev +tmlk-s 5 beer")
    assert alice.received() == [":alice!~alice@tcpchat MODE #dev +s",
                                ":alice!~alice@tcpchat MODE #dev +tmlk-s 5 beer"]
    bob.received()
    bob.send("MODE #dev -t+i")
    assert bob.commands() == ["482"]
    alice.send("MODE #dev -tmilk beer")
    assert alice.received() == [":alice!~alice@tcpchat MODE #dev -tmilk"]


def test_a_secret_room_is_not_listed_by_rooms_to_a_line_user_outside_it(
    chat: Chat, clients: Clients
) -> None:
    """/rooms of a line user in the lobby leaves out #dev, which is +s."""
    alice = clients.irc("alice", join="#dev")
    alice.send("MODE #dev +s")
    carol = chat.connect("carol")
    carol.type("/rooms")
    assert not any("dev" in line for line in carol.received())


def test_minus_n_lets_those_outside_the_channel_send_to_it(clients: Clients) -> None:
    """+n (every room at first): a message from outside is 404 and reaches nobody; after
    MODE -n it reaches the channel, and MODE no longer lists n."""
    alice = clients.irc("alice", join="#dev")
    bob = clients.irc("bob", join="")
    bob.send("PRIVMSG #dev :hi from outside")
    assert bob.received()[0].split(" ")[1] == "404"
    assert alice.received() == []
    alice.send("MODE #dev -n")
    assert alice.received() == [":alice!~alice@tcpchat MODE #dev -n"]
    bob.send("PRIVMSG #dev :hi again")
    assert alice.received() == [":bob!~bob@tcpchat PRIVMSG #dev :hi again"]
    alice.send("MODE #dev")
    assert alice.received()[0] == ":tcpchat.local 324 alice #dev :+"
    alice.send("MODE #dev +n")
    alice.received()
    bob.send("PRIVMSG #dev :and again")
    assert bob.received()[0].split(" ")[1] == "404"
