"""The IRC front end as an IRC client meets it, beside line users of the same server.

Each test runs a whole server in memory (:class:`chat.testing.Chat`) with an
:class:`chat.irc.IRCFactory` on the same :class:`~chat.session.server.ChatServer`,
and reads the lines each user is shown: an IRC client through
:class:`~tests.support.irc_harness.IRCConnection`, a line user through
:meth:`Chat.connect`.
"""

from __future__ import annotations

import base64

import pytest

from chat.config import ServerConfig
from chat.testing import Chat
from tests.support.irc_harness import (
    PASSWORD,
    Clients,
    hash_cheaply,
    logged_in,
    with_accounts,
    without_source,
)

PING_AFTER = ServerConfig().irc_ping
PING_TIMEOUT = ServerConfig().irc_ping_timeout


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    hash_cheaply(monkeypatch)


@pytest.fixture
def chat() -> Chat:
    return Chat(flood_rate=0)


@pytest.fixture
def clients(chat: Chat) -> Clients:
    return Clients(chat)


def test_registration_welcomes_with_an_honest_isupport_and_joins_no_room(
    chat: Chat, clients: Clients,
) -> None:
    """NICK and USER: 001 to 005, no MOTD (422), and no channel: the user joins them."""
    bob = chat.connect("bob")
    alice = clients.irc()
    alice.send("NICK alice", "USER alice 0 * :Alice")
    lines = alice.received()
    assert [without_source(line).split(" ")[0] for line in lines] == [
        "001", "002", "003", "004", "005", "005", "422",
    ]
    assert lines[0].startswith(":tcpchat.local 001 alice ")
    isupport = " ".join(lines[4:6]).split(" ")
    assert "CASEMAPPING=rfc1459" in isupport and "CHANTYPES=#" in isupport
    assert "NICKLEN=20" in isupport and "CHANNELLEN=33" in isupport
    assert "PREFIX=(ov)@+" in isupport and "TOPICLEN=390" in isupport
    # at most 15 parameters: the nick, 13 tokens, the trailing text
    assert all(len(line.partition(" :")[0].split(" ")) <= 2 + 14 for line in lines[4:6])
    assert bob.received() == []
    alice.send("JOIN #lobby")
    assert alice.received()[0] == ":alice!~alice@tcpchat JOIN #lobby"
    assert bob.received() == ["*** alice has joined"]


def test_irc_name_is_the_source_of_what_the_server_says() -> None:
    alice = Clients(Chat(flood_rate=0, irc_name="irc.example.org")).irc()
    alice.send("NICK alice", "USER alice 0 * :Alice", "PING :x")
    lines = alice.received()
    assert lines[0].startswith(":irc.example.org 001 alice ")
    assert lines[-1] == ":irc.example.org PONG irc.example.org :x"


def test_the_motd_is_sent_in_the_welcome() -> None:
    """--motd lines as 375, 372 and 376."""
    alice = Clients(Chat(flood_rate=0, motd=("be kind",))).irc()
    alice.send("NICK alice", "USER alice 0 * :Alice")
    lines = alice.received()
    assert ":tcpchat.local 372 alice :- be kind" in lines
    alice.send("MOTD")
    assert ":tcpchat.local 372 alice :- be kind" in alice.received()
    assert any(" 376 alice " in line for line in lines)


def test_cap_negotiation_holds_registration_until_cap_end(clients: Clients) -> None:
    """CAP LS 302 lists the capabilities (sasl with its mechanism); no welcome before END."""
    alice = clients.irc()
    alice.send("CAP LS 302", "NICK alice", "USER alice 0 * :Alice")
    [listed] = alice.received()
    assert listed.startswith(":tcpchat.local CAP * LS :")
    assert {"sasl=PLAIN", "server-time", "echo-message"} <= set(listed.split(":")[2].split())
    alice.send("CAP REQ :server-time nonsense")
    assert alice.received() == [":tcpchat.local CAP * NAK :server-time nonsense"]
    alice.send("CAP REQ :server-time")
    assert alice.received() == [":tcpchat.local CAP * ACK :server-time"]
    alice.send("CAP END")
    assert alice.commands()[0] == "001"
    alice.send("CAP LIST")
    assert alice.received() == [":tcpchat.local CAP alice LIST :server-time"]


def test_an_irc_message_reaches_a_line_user_and_back(chat: Chat, clients: Clients) -> None:
    """PRIVMSG #lobby is ``<alice> text`` for a line user; its line is a PRIVMSG for IRC."""
    alice = clients.irc("alice")
    bob = chat.connect("bob")
    assert alice.received() == [":bob!bob@tcpchat JOIN #lobby"]
    alice.send("PRIVMSG #lobby :hi bob")
    assert bob.received() == ["<alice> hi bob"]
    bob.type("hi alice")
    assert alice.received() == [":bob!bob@tcpchat PRIVMSG #lobby :hi alice"]


def test_ctcp_action_is_me(chat: Chat, clients: Clients) -> None:
    """CTCP ACTION is /me both ways."""
    alice = clients.irc("alice")
    bob = chat.connect("bob")
    alice.received()
    alice.send("PRIVMSG #lobby :\x01ACTION waves\x01")
    assert bob.received() == ["* alice waves"]
    bob.type("/me nods")
    assert alice.received() == [":bob!bob@tcpchat PRIVMSG #lobby :\x01ACTION nods\x01"]


def test_private_messages_cross_front_ends(chat: Chat, clients: Clients) -> None:
    """PRIVMSG to a nickname is /msg, both ways."""
    alice = clients.irc("alice")
    bob = chat.connect("bob")
    alice.received()
    alice.send("PRIVMSG bob :psst")
    assert bob.received() == ["*alice* psst"]
    bob.type("/msg alice hello")
    assert alice.received() == [":bob!bob@tcpchat PRIVMSG alice :hello"]


def test_several_channels_at_once(chat: Chat, clients: Clients) -> None:
    """JOIN #a,#b: the IRC user is in both and hears each; a line user joins one of them."""
    alice = clients.irc("alice")
    alice.send("JOIN #dev,#ops")
    assert alice.received() == [
        ":alice!~alice@tcpchat JOIN #dev", ":tcpchat.local 353 alice = #dev :alice",
        ":tcpchat.local 366 alice #dev :End of /NAMES list",
        ":alice!~alice@tcpchat JOIN #ops", ":tcpchat.local 353 alice = #ops :alice",
        ":tcpchat.local 366 alice #ops :End of /NAMES list",
    ]
    bob = chat.connect("bob")
    bob.type("/join ops")
    bob.received()
    alice.received()
    bob.type("ping")
    assert alice.received() == [":bob!bob@tcpchat PRIVMSG #ops :ping"]
    alice.send("PRIVMSG #ops :pong", "PRIVMSG #dev :nobody here")
    assert bob.received() == ["<alice> pong"]


def test_joining_shows_the_topic_and_the_names_with_operators() -> None:
    """332/333 before 353: the owner of a room shows with @."""
    chat = with_accounts()
    logged_in(chat, "carol", "JOIN #dev", "TOPIC #dev :release day")
    alice = Clients(chat).irc("dave")
    alice.send("JOIN #dev")
    lines = alice.received()
    assert lines[:2] == [
        ":dave!~dave@tcpchat JOIN #dev", ":tcpchat.local 332 dave #dev :release day",
    ]
    assert lines[2].startswith(":tcpchat.local 333 dave #dev carol ")
    assert lines[3] == ":tcpchat.local 353 dave = #dev :@carol dave"


def test_part_and_quit_are_seen_by_line_users(chat: Chat, clients: Clients) -> None:
    """PART with a message, then QUIT with one."""
    alice = clients.irc("alice")
    alice.send("JOIN #dev")
    bob = chat.connect("bob")
    bob.type("/join dev")
    bob.received()
    alice.received()
    alice.send("PART #dev :lunch")
    assert alice.received() == [":alice!~alice@tcpchat PART #dev :lunch"]
    assert bob.received() == ["*** alice has left (lunch)"]
    bob.type("/join lobby")
    bob.received()
    alice.received()
    alice.send("QUIT :bye all")
    assert alice.received() == ["ERROR :Closing link: quit"]
    alice.protocol.connectionLost()
    assert bob.received() == ["*** alice has left (quit: bye all)"]


def test_a_line_user_leaving_two_shared_rooms_quits_once(chat: Chat, clients: Clients) -> None:
    """A member in two of the IRC user's channels who goes is one QUIT, not two."""
    alice = clients.irc("alice")
    alice.send("JOIN #dev")
    bob = clients.irc("bob")
    bob.send("JOIN #dev")
    alice.received()
    bob.send("QUIT :done")
    bob.protocol.connectionLost()
    assert alice.received() == [":bob!bob@tcpchat QUIT :Quit: done"]


def test_an_unknown_command_is_421_and_the_connection_stays(clients: Clients) -> None:
    alice = clients.irc("alice")
    alice.send("FROBNICATE now", "PING :x")
    assert alice.received() == [
        ":tcpchat.local 421 alice FROBNICATE :Unknown command",
        ":tcpchat.local PONG tcpchat.local :x",
    ]


def test_commands_before_registration_are_451(clients: Clients) -> None:
    alice = clients.irc()
    alice.send("JOIN #lobby")
    assert alice.received() == [":tcpchat.local 451 * :You have not registered"]


def test_a_taken_nickname_is_433_and_another_can_be_chosen(chat: Chat, clients: Clients) -> None:
    chat.connect("alice")
    alice = clients.irc()
    alice.send("NICK Alice", "USER alice 0 * :Alice")
    [taken] = alice.received()
    assert taken.startswith(":tcpchat.local 433 * Alice :")
    alice.send("NICK alice2")
    assert alice.commands()[0] == "001"


def test_an_invalid_nickname_is_432(clients: Clients) -> None:
    alice = clients.irc()
    alice.send("NICK al.ice", "USER alice 0 * :Alice")
    [invalid] = alice.received()
    assert invalid.startswith(":tcpchat.local 432 * al.ice :")


def test_nick_renames_for_everyone(chat: Chat, clients: Clients) -> None:
    alice = clients.irc("alice")
    bob = chat.connect("bob")
    alice.received()
    alice.send("NICK alicia")
    assert alice.received() == [":alice!~alice@tcpchat NICK :alicia"]
    assert bob.received() == ["*** alice is now known as alicia"]


def test_a_line_too_long_is_417_and_the_connection_stays() -> None:
    alice = Clients(Chat(flood_rate=0, max_line=100)).irc("alice")
    alice.send("PRIVMSG #lobby :" + "x" * 200, "PING :still")
    assert alice.received() == [
        ":tcpchat.local 417 alice :Input line was too long",
        ":tcpchat.local PONG tcpchat.local :still",
    ]


def test_a_silent_client_is_pinged_then_disconnected(chat: Chat, clients: Clients) -> None:
    alice = clients.irc("alice")
    bob = chat.connect("bob")
    alice.received()
    chat.clock.advance(PING_AFTER)
    assert alice.received() == ["PING tcpchat.local"]
    chat.clock.advance(PING_TIMEOUT)
    assert alice.received()[-1].startswith("ERROR :Closing link: ping timeout")
    assert alice.transport.disconnecting
    alice.protocol.connectionLost()
    assert bob.received() == ["*** alice has left (ping timeout: 180 seconds)"]


def test_a_pinged_client_that_answers_stays(chat: Chat, clients: Clients) -> None:
    alice = clients.irc("alice")
    chat.clock.advance(PING_AFTER)
    alice.send("PONG tcpchat.local")
    chat.clock.advance(PING_TIMEOUT)
    assert alice.received() == ["PING tcpchat.local"]
    assert not alice.transport.disconnecting


def test_server_time_message_tags_and_echo_message(chat: Chat, clients: Clients) -> None:
    """With the caps: time and msgid tags, and the client's own message echoed."""
    alice = clients.irc("alice", "server-time", "message-tags", "echo-message")
    bob = chat.connect("bob")
    alice.received()
    chat.clock.advance(1.5)
    bob.type("tagged")
    [tagged] = alice.received()
    assert tagged.startswith("@time=1970-01-01T00:00:01.50")
    assert ";msgid=" in tagged
    assert tagged.endswith(":bob!bob@tcpchat PRIVMSG #lobby :tagged")
    alice.send("PRIVMSG #lobby :echoed")
    [echoed] = alice.received()
    assert echoed.endswith(":alice!~alice@tcpchat PRIVMSG #lobby :echoed")
    assert "msgid=" in echoed


def test_no_echo_without_echo_message(chat: Chat, clients: Clients) -> None:
    alice = clients.irc("alice")
    chat.connect("bob")
    alice.received()
    alice.send("PRIVMSG #lobby :quiet")
    assert alice.received() == []


def test_history_on_join_as_notices_or_with_server_time(chat: Chat, clients: Clients) -> None:
    """With server-time (and batch) the history is the messages in a chathistory batch;
    without, NOTICEs as the line front end words them."""
    bob = chat.connect("bob")
    bob.type("earlier")
    bob.received()
    timed = clients.irc()
    timed.send("CAP REQ :server-time batch", "NICK timed", "USER t 0 * :t", "CAP END",
               "JOIN #lobby")
    lines = timed.received()
    [start] = [line for line in lines if " BATCH +" in line]
    reference = start.split(" ")[2][1:]
    assert start.endswith(f"BATCH +{reference} chathistory #lobby")
    assert any(line.startswith(f"@time=1970-01-01T00:00:00.000Z;batch={reference} ")
               and line.endswith(":bob!bob@tcpchat PRIVMSG #lobby :earlier") for line in lines)
    assert f":tcpchat.local BATCH -{reference}" in lines
    again = clients.irc()
    again.send("NICK again", "USER a 0 * :a", "JOIN #lobby")
    assert any(" NOTICE #lobby :[" in line and line.endswith("<bob> earlier")
               for line in again.received())


def test_sasl_plain_logs_in_to_the_account() -> None:
    chat = with_accounts()
    clients = Clients(chat)
    alice = clients.irc()
    alice.send("CAP LS 302", "CAP REQ :sasl", "NICK alice", "USER alice 0 * :Alice")
    alice.received()
    alice.send("AUTHENTICATE PLAIN")
    assert alice.received() == ["AUTHENTICATE +"]
    token = base64.b64encode(f"alice\0alice\0{PASSWORD}".encode()).decode()
    alice.send(f"AUTHENTICATE {token}")
    assert alice.commands() == ["900", "903"]
    alice.send("CAP END")
    assert alice.commands()[:1] == ["001"]
    alice.send("WHOIS alice")
    assert ":tcpchat.local 330 alice alice alice :is logged in as" in alice.received()


def test_sasl_with_a_wrong_password_is_904_and_registration_goes_on() -> None:
    chat = with_accounts()
    alice = Clients(chat).irc()
    alice.send("CAP REQ :sasl", "NICK alice", "USER alice 0 * :Alice", "AUTHENTICATE PLAIN")
    alice.received()
    alice.send("AUTHENTICATE " + base64.b64encode(b"\0alice\0wrong").decode())
    assert alice.commands() == ["904"]
    alice.send("CAP END")
    [registered] = alice.received()
    assert registered.startswith(":tcpchat.local 433 * alice :")


def test_pass_logs_in_to_a_registered_nickname() -> None:
    chat = with_accounts()
    alice = Clients(chat).irc()
    alice.send(f"PASS {PASSWORD}", "NICK alice", "USER alice 0 * :Alice")
    assert alice.commands()[0] == "001"


def test_kick_by_a_room_operator_on_irc_reaches_a_line_user() -> None:
    chat = with_accounts()
    carol = logged_in(chat, "carol", "JOIN #dev")
    bob = chat.connect("bob")
    bob.type("/join dev")
    bob.received()
    carol.received()
    carol.send("KICK #dev bob :behave")
    assert carol.received()[0] == ":carol!~carol@tcpchat KICK #dev bob :behave"
    assert bob.received()[0].startswith("!!! you were kicked out of dev by carol: behave")


def test_mode_b_bans_and_lists() -> None:
    chat = with_accounts()
    carol = logged_in(chat, "carol", "JOIN #dev")
    carol.send("MODE #dev +b mallory!*@*")
    assert carol.received() == [":carol!~carol@tcpchat MODE #dev +b mallory!*@*"]
    carol.send("MODE #dev b")
    lines = carol.received()
    assert lines[0].startswith(":tcpchat.local 367 carol #dev mallory!*@* carol ")
    mallory = chat.connect("mallory")
    mallory.type("/join dev")
    assert mallory.received()[0].startswith("!!! you are banned from dev")


def test_an_irc_user_without_rights_is_482(chat: Chat, clients: Clients) -> None:
    alice = clients.irc("alice")
    alice.send("JOIN #dev")
    clients.irc("bob").send("JOIN #dev")
    alice.received()
    bob_kicks = clients.irc("eve")
    bob_kicks.send("JOIN #dev")
    bob_kicks.received()
    bob_kicks.send("KICK #dev alice")
    [refused] = bob_kicks.received()
    assert refused.startswith(":tcpchat.local 482 eve #dev :")


def test_topic_query_and_set(chat: Chat, clients: Clients) -> None:
    alice = clients.irc("alice")
    alice.send("JOIN #dev", "TOPIC #dev")
    assert alice.received()[-1] == ":tcpchat.local 331 alice #dev :No topic is set"
    bob = chat.connect("bob")
    bob.type("/join dev")
    bob.received()
    alice.received()
    alice.send("TOPIC #dev :ship it")
    assert alice.received() == [":alice!~alice@tcpchat TOPIC #dev :ship it"]
    assert bob.received() == ["*** alice set the topic of dev: ship it"]


def test_who_whois_list_and_away(chat: Chat, clients: Clients) -> None:
    alice = clients.irc("alice")
    bob = chat.connect("bob")
    bob.type("/away lunch")
    bob.received()
    alice.received()
    alice.send("WHO #lobby")
    assert alice.received() == [
        ":tcpchat.local 352 alice #lobby ~alice tcpchat tcpchat.local alice H :0 alice",
        ":tcpchat.local 352 alice #lobby bob tcpchat tcpchat.local bob G :0 bob",
        ":tcpchat.local 315 alice #lobby :End of /WHO list",
    ]
    alice.send("WHOIS bob")
    whois = alice.received()
    assert ":tcpchat.local 301 alice bob :lunch" in whois
    assert whois[-1] == ":tcpchat.local 318 alice bob :End of /WHOIS list"
    alice.send("LIST")
    assert ":tcpchat.local 322 alice #lobby 2 :" in alice.received()
    alice.send("PRIVMSG bob :there?")
    assert alice.received() == [":tcpchat.local 301 alice bob :lunch"]
    alice.send("AWAY :gone", "AWAY")
    assert alice.commands() == ["306", "305"]


def test_whois_of_nobody_is_401(clients: Clients) -> None:
    alice = clients.irc("alice")
    alice.send("WHOIS ghost")
    assert alice.commands() == ["401", "318"]


def test_privmsg_to_a_channel_one_is_not_in_is_404(clients: Clients) -> None:
    clients.irc("bob", join="#elsewhere")
    alice = clients.irc("alice")
    alice.send("PRIVMSG #elsewhere :hello", "PRIVMSG #nowhere :hello")
    assert alice.commands() == ["404", "401"]


def test_a_muted_irc_user_is_refused_and_not_relayed() -> None:
    chat = with_accounts()
    root = chat.connect("root")
    root.type(PASSWORD)
    root.received()
    dave = Clients(chat).irc("dave")
    root.type("/mute dave")
    root.received()
    dave.received()
    dave.send("PRIVMSG #lobby :can you hear me")
    [refused] = dave.received()
    assert refused.startswith(":tcpchat.local 404 dave #lobby :you are muted")
    assert root.received() == []


def test_a_server_kick_of_an_irc_user_closes_with_error() -> None:
    chat = with_accounts()
    root = chat.connect("root")
    root.type(PASSWORD)
    root.received()
    dave = Clients(chat).irc("dave")
    root.type("/kick dave spam")
    lines = dave.received()
    assert lines[-1] == "ERROR :Closing link: removed by an operator"
    assert dave.transport.disconnecting


def test_lines_past_the_flood_burst_wait_for_the_pacing() -> None:
    """--flood as fakelag: the lines over the burst are answered later, none dropped."""
    chat = Chat(flood_rate=1, flood_burst=2)
    alice = Clients(chat).irc()
    alice.send("PING :1", "PING :2", "PING :3")
    assert alice.received() == [
        ":tcpchat.local PONG tcpchat.local :1", ":tcpchat.local PONG tcpchat.local :2",
    ]
    chat.clock.advance(1)
    assert alice.received() == [":tcpchat.local PONG tcpchat.local :3"]


def test_topic_and_kick_of_a_channel_that_does_not_exist_are_403(clients: Clients) -> None:
    alice = clients.irc("alice")
    alice.send("TOPIC #nowhere", "KICK #nowhere bob")
    assert alice.commands() == ["403", "403"]


def test_user_with_an_empty_realname_is_461(clients: Clients) -> None:
    alice = clients.irc()
    alice.send("NICK alice", "USER alice 0 * :")
    assert alice.commands() == ["461"]


def test_userhost_in_names(chat: Chat, clients: Clients) -> None:
    alice = clients.irc("alice", "userhost-in-names")
    chat.connect("bob")
    alice.received()
    alice.send("NAMES #lobby")
    assert alice.received()[0] == (
        ":tcpchat.local 353 alice = #lobby :alice!~alice@tcpchat bob!bob@tcpchat"
    )


def test_lusers_time_and_info(chat: Chat, clients: Clients) -> None:
    alice = clients.irc("alice")
    clients.irc("bob")
    clients.irc()  # still registering
    alice.received()
    alice.send("LUSERS", "TIME", "INFO")
    lines = [without_source(line) for line in alice.received()]
    assert "265 alice 2 2 :Current local users 2, max 2" in lines
    assert "266 alice 2 2 :Current global users 2, max 2" in lines
    assert "253 alice 1 :unknown connection(s)" in lines
    assert "391 alice tcpchat.local :Thursday January 01 1970 -- 00:00:00 UTC" in lines
    assert lines[-1] == "374 alice :End of INFO list"


def test_oper_with_an_operator_account_allows_kill() -> None:
    """OPER NAME PASSWORD: a server operator account's password makes a guest one (381);
    a wrong password is 464, an account that is not an operator 491; KILL needs it (481)."""
    chat = with_accounts()
    clients = Clients(chat)
    guest, victim = clients.irc("guest"), chat.connect("victim")
    guest.received()
    guest.send("KILL victim :go", "OPER root wrong", "OPER alice " + PASSWORD)
    assert [without_source(line) for line in guest.received()] == [
        "481 guest :Permission Denied- You're not an IRC operator",
        "464 guest :Password incorrect",
        "491 guest :alice is not a server operator account",
    ]
    guest.send("OPER root " + PASSWORD, "KILL victim :go away")
    lines = [without_source(line) for line in guest.received()]
    assert lines[:2] == ["381 guest :You are now an IRC operator", "MODE guest +o"]
    assert any("go away" in line for line in victim.received())
    assert victim.transport.disconnecting


def test_an_invisible_user_is_left_out_of_who_masks_unless_a_channel_is_shared(
    chat: Chat, clients: Clients
) -> None:
    evan = clients.irc("evan", join="")
    evan.send("MODE evan +i", "MODE evan")
    assert [without_source(line) for line in evan.received()] == [
        "MODE evan +i", "221 evan +i",
    ]
    shiv = clients.irc("shiv", join="")
    shiv.send("WHO eva*", "WHO evan")
    assert [line.split(" ")[1] for line in shiv.received()] == ["315", "352", "315"]
    evan.send("JOIN #test")
    shiv.send("JOIN #test")
    shiv.received()
    shiv.send("WHO eva*")
    assert [line.split(" ")[1] for line in shiv.received()] == ["352", "315"]


def test_a_join_naming_no_channel_is_461(clients: Clients) -> None:
    alice = clients.irc("alice", join="")
    alice.send("JOIN :", "JOIN")
    assert [without_source(line) for line in alice.received()] == [
        "461 alice JOIN :Not enough parameters", "461 alice JOIN :Not enough parameters",
    ]


def test_whowas_names_who_left_newest_first(chat: Chat, clients: Clients) -> None:
    asker = clients.irc("asker", join="")
    first = clients.irc()
    first.send("NICK gone", "USER first 0 * :First Person")
    first.received()
    first.protocol.connectionLost(None)
    gone = chat.connect("gone")
    gone.transport.loseConnection()
    gone.protocol.connectionLost(None)
    asker.send("WHOWAS gone", "WHOWAS gone 1", "WHOWAS nobody", "WHOWAS")
    lines = [without_source(line) for line in asker.received()]
    assert [line.split(" :")[0] for line in lines] == [
        "314 asker gone gone tcpchat *", "312 asker gone tcpchat.local",
        "314 asker gone ~first tcpchat *", "312 asker gone tcpchat.local", "369 asker gone",
        "314 asker gone gone tcpchat *", "312 asker gone tcpchat.local", "369 asker gone",
        "406 asker nobody", "369 asker nobody",
        "431 asker",
    ]
    assert lines[2].endswith(":First Person")


def test_sasl_numerics_name_the_nickname_asked_for_before_registration() -> None:
    chat = with_accounts()
    alice = Clients(chat).irc()
    alice.send("CAP REQ :sasl", "NICK alice", "USER alice 0 * :Alice", "AUTHENTICATE PLAIN")
    alice.received()
    alice.send("AUTHENTICATE " + base64.b64encode(f"\0alice\0{PASSWORD}".encode()).decode())
    lines = alice.received()
    assert lines[0].startswith(":tcpchat.local 900 alice alice!~alice@tcpchat alice :")
    assert lines[1] == ":tcpchat.local 903 alice :SASL authentication successful"
