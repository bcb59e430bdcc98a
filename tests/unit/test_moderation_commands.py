"""Moderation as people on line connections meet it: who may kick, ban, mute, set topics and
grant operator status, where, and what everyone is shown.

Each test runs a whole server in memory (:class:`chat.testing.Chat`, accounts answering at
once, ``root`` named a server operator as ``--operators root`` does) and reads the lines the
people get. Durations end as the harness's clock moves. The rules and the targets by
themselves have their own tests (``test_moderation_*``).

The cast: ``root``, a server operator; ``alice``, registered, who creates den and so owns
it; ``bob``, a guest alice made an operator of den; ``gus``, a guest with no powers; ``vic``,
a guest, the one things are done to.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chat.accounts import passwords
from chat.testing import Chat, TypedConnection
from tests.support.contract import fired

PASSWORD = "correcthorse"
OPERATOR = "root"
ROOM = "den"


def add_account(chat: Chat, name: str) -> None:
    assert chat.accounts is not None
    fired(chat.accounts.register(name, PASSWORD))


def welcomed(lines: list[str], nick: str) -> bool:
    return any(line.startswith(f"*** Welcome, {nick}!") for line in lines)


def errors(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("!!! ")]


def log_in(chat: Chat, nick: str) -> TypedConnection:
    """``nick``, a registered nickname, logged in with its password."""
    connection = chat.connect()
    connection.type(nick)
    [prompt] = connection.received()
    assert "password" in prompt, prompt
    connection.type(PASSWORD)
    assert welcomed(connection.received(), nick)
    return connection


def read_all(*connections: TypedConnection) -> None:
    """Forget what ``connections`` were sent so far."""
    for connection in connections:
        connection.received()


def joined(connection: TypedConnection, room: str) -> list[str]:
    connection.type(f"/join {room}")
    return connection.received()


@dataclass
class Cast:
    chat: Chat
    root: TypedConnection
    alice: TypedConnection
    bob: TypedConnection
    gus: TypedConnection
    vic: TypedConnection

    def everyone(self) -> tuple[TypedConnection, ...]:
        return (self.root, self.alice, self.bob, self.gus, self.vic)

    def actor(self, name: str) -> TypedConnection:
        connection: TypedConnection = getattr(self, name)
        return connection

    def all_to(self, room: str) -> None:
        for connection in self.everyone():
            joined(connection, room)
        read_all(*self.everyone())


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passwords hashed with scrypt's lowest cost: these tests log in many times over."""
    monkeypatch.setattr(passwords, "N", 2)
    monkeypatch.setattr(passwords, "R", 1)


@pytest.fixture
def chat() -> Chat:
    """A server whose operator is root, with the accounts root, alice and carol; a
    connection at the nickname prompt waits as long as a test needs."""
    chat = Chat(
        accounts=True, flood_rate=0, operators=(OPERATOR,), login_delay=0,
        handshake_timeout=1e9,
    )
    for name in (OPERATOR, "alice", "carol"):
        add_account(chat, name)
    return chat


@pytest.fixture
def cast(chat: Chat) -> Cast:
    """Everyone in den: alice created it (its owner) and made bob an operator."""
    root = log_in(chat, OPERATOR)
    alice = log_in(chat, "alice")
    joined(alice, ROOM)
    bob, gus, vic = chat.connect("bob"), chat.connect("gus"), chat.connect("vic")
    alice.type("/op bob")
    scene = Cast(chat, root, alice, bob, gus, vic)
    scene.all_to(ROOM)
    return scene


@pytest.fixture
def lobby(cast: Cast) -> Cast:
    """The same people, everyone back in the lobby."""
    cast.all_to("lobby")
    return cast


# Who may do what, where

IN_A_ROOM = {
    # command: (set-up typed by root first, the command, a line the actor is shown when done)
    "kick": ("", "/kick vic", "vic has left (kicked by"),
    "ban": ("", "/ban vic", "banned vic from den"),
    "unban": ("/ban zed", "/unban zed", "lifted the ban of zed from den"),
    "mute": ("", "/mute vic", "muted vic in den"),
    "unmute": ("/mute vic", "/unmute vic", "unmuted vic in den"),
    "topicops": ("", "/topicops on", "may now be set by only its operators"),
    "topic (topicops on)": ("/topicops on", "/topic the plan", "set the topic of den: the plan"),
    "op": ("", "/op vic", "made vic an operator of den"),
    "deop": ("/op vic", "/deop vic", "took operator status from vic in den"),
}
ROOM_STAFF_ONLY = ["kick", "ban", "unban", "mute", "unmute", "topicops", "topic (topicops on)"]
OWNER_ONLY = ["op", "deop"]


def allowed_in_den(actor: str, command: str) -> bool:
    if actor in ("root", "alice"):
        return True
    return actor == "bob" and command in ROOM_STAFF_ONLY


@pytest.mark.parametrize("command", ROOM_STAFF_ONLY + OWNER_ONLY)
@pytest.mark.parametrize("actor", ["root", "alice", "bob", "gus"])
def test_who_may_moderate_a_room(cast: Cast, actor: str, command: str) -> None:
    """In den, the server operator and the owner may do everything, its operator all but
    /op and /deop, a guest nothing: a refusal is one !!! line and nobody else hears of it."""
    setup, line, done = IN_A_ROOM[command]
    if setup:
        cast.root.type(setup)
        read_all(*cast.everyone())
    acting = cast.actor(actor)
    acting.type(line)
    answer = acting.received()
    if allowed_in_den(actor, command):
        assert errors(answer) == [] and any(done in shown for shown in answer), answer
    else:
        [refusal] = answer
        who = "its owner" if command in OWNER_ONLY else "its operators"
        assert refusal.startswith(f"!!! only {who} and server operators may ")
        assert cast.vic.received() == []


IN_THE_LOBBY = {
    # command: (set-up typed by root first, the command, how the owner is refused, what
    # root is shown when it does it)
    "kick": ("", "/kick vic", "only a server operator may disconnect someone", ""),
    "ban": ("", "/ban vic", "only a server operator may ban server-wide",
            "root banned vic from the server"),
    "unban": ("/ban zed", "/unban zed", "only a server operator may ban server-wide",
              "root lifted the ban of zed from the server"),
    "mute": ("", "/mute vic", "only a server operator may mute server-wide",
             "root muted vic everywhere"),
    "unmute": ("/mute vic", "/unmute vic", "only a server operator may mute server-wide",
               "root unmuted vic everywhere"),
    "topicops": ("", "/topicops on", "may change the settings of lobby",
                 "the topic of lobby may now be set by only its operators"),
    "op": ("", "/op vic", "may grant or take operator status in lobby",
           "root made vic an operator of lobby"),
}


@pytest.mark.parametrize("command", list(IN_THE_LOBBY))
@pytest.mark.parametrize("actor", ["alice", "bob", "gus"])
def test_only_a_server_operator_moderates_from_the_lobby(
    lobby: Cast, actor: str, command: str
) -> None:
    """In the lobby an action holds server-wide: den's owner and operator are refused
    as a guest is, with one !!! line, and nothing happens."""
    setup, line, refusal, _ = IN_THE_LOBBY[command]
    if setup:
        lobby.root.type(setup)
        read_all(*lobby.everyone())
    acting = lobby.actor(actor)
    acting.type(line)
    [answer] = acting.received()
    assert answer.startswith("!!! ") and refusal in answer, answer
    assert lobby.vic.received() == []
    assert not lobby.vic.transport.disconnecting


@pytest.mark.parametrize("command", list(IN_THE_LOBBY))
def test_a_server_operator_moderates_from_the_lobby(lobby: Cast, command: str) -> None:
    """Every moderation command the owner is refused in the lobby, root may use there
    (its /kick answers root with nothing: vic's connection is closed)."""
    setup, line, _, done = IN_THE_LOBBY[command]
    if setup:
        lobby.root.type(setup)
        read_all(*lobby.everyone())
    lobby.root.type(line)
    answer = lobby.root.received()
    if done:
        assert errors(answer) == [] and any(done in shown for shown in answer), answer
    else:
        assert answer == [] and lobby.vic.transport.disconnecting


@pytest.mark.parametrize(
    ("line", "usage"),
    [
        ("/kick", "/kick NICK [REASON]"),
        ("/ban", "/ban TARGET [DURATION] [REASON]"),
        ("/unban", "/unban TARGET"),
        ("/unban zed vic", "/unban TARGET"),
        ("/bans now", "/bans"),
        ("/mute", "/mute NICK [DURATION]"),
        ("/mute vic 10m too long", "/mute NICK [DURATION]"),
        ("/unmute", "/unmute NICK"),
        ("/topicops", "/topicops on|off"),
        ("/topicops maybe", "/topicops on|off"),
        ("/op", "/op NICK"),
        ("/deop vic gus", "/deop NICK"),
        ("/whois", "/whois NICK"),
    ],
)
def test_a_wrong_use_gets_its_usage(cast: Cast, line: str, usage: str) -> None:
    """A moderation command typed the wrong way is answered with its usage line."""
    cast.root.type(line)
    assert cast.root.received() == [f"!!! usage: {usage}"]


@pytest.mark.parametrize(
    ("line", "refusal"),
    [
        ("/ban 300.1.2.3", '"300.1.2.3" is no nickname, account (account:NAME), address'),
        ("/ban account:no/pe", '"account:no/pe" is no nickname'),
        ("/mute vic soon", '"soon" is no duration: write it as 30s, 10m, 2h'),
        ("/mute vic 0s", '"0s" is no duration'),
        ("/kick nobody", 'no user is called "nobody"'),
        ("/op nobody", 'no user is called "nobody"'),
        ("/whois nobody", 'no user is called "nobody"'),
        ("/unban zed", "zed is not banned here"),
        ("/unmute vic", "vic is not muted here"),
    ],
)
def test_a_target_that_cannot_be_used_is_refused_saying_why(
    cast: Cast, line: str, refusal: str
) -> None:
    """A target or a duration that is no such thing, or someone who is not there, gets a
    !!! line that says so; nobody else hears of it."""
    cast.root.type(line)
    [answer] = cast.root.received()
    assert answer.startswith("!!! " + refusal), answer
    assert cast.vic.received() == []


def test_ban_with_a_duration_it_cannot_read_is_refused(cast: Cast) -> None:
    """/ban vic 20000d (more than ten years) is refused with the duration error, as /mute
    refuses it, rather than banning vic for ever with "20000d" as the reason."""
    cast.root.type("/ban vic 20000d spam")
    answer = cast.root.received()
    assert len(answer) == 1 and answer[0].startswith('!!! "20000d" is no duration'), answer
    cast.root.type("/bans")
    assert cast.root.received() == ["*** nobody is banned from den"]


# Kicks


def test_a_kick_tells_the_room_and_the_user_and_moves_them_to_the_lobby(cast: Cast) -> None:
    """The room hears "kicked" with the reason; the user gets a !!! line with it and is
    back in the lobby."""
    lobby_member = cast.chat.connect("lena")
    read_all(*cast.everyone())
    cast.alice.type("/kick vic stop shouting")
    assert cast.gus.received() == ["*** vic has left (kicked by alice: stop shouting)"]
    assert cast.vic.received()[:2] == [
        "!!! you were kicked out of den by alice: stop shouting; you are back in the lobby",
        "*** you are now in lobby with 1 other",
    ]
    assert lobby_member.received() == ["*** vic has joined"]


def test_the_room_operator_kicks_without_a_reason(cast: Cast) -> None:
    """Without a reason the notice names who kicked."""
    cast.bob.type("/kick vic")
    assert cast.gus.received() == ["*** vic has left (kicked by bob)"]
    assert cast.vic.received()[0] == (
        "!!! you were kicked out of den by bob; you are back in the lobby"
    )


def test_a_kick_from_a_room_needs_the_user_in_it(cast: Cast) -> None:
    """Someone online but elsewhere cannot be kicked from den: "not in den"."""
    joined(cast.vic, "lobby")
    read_all(*cast.everyone())
    cast.alice.type("/kick vic")
    assert cast.alice.received() == ["!!! vic is not in den"]
    assert cast.vic.received() == []


def test_a_kick_in_the_lobby_disconnects(lobby: Cast) -> None:
    """root's /kick in the lobby puts vic off the server: the !!! line, then the close;
    the lobby hears that vic was disconnected, with the reason."""
    lobby.root.type("/kick vic enough")
    assert lobby.vic.received() == ["!!! you were disconnected by root: enough"]
    assert lobby.vic.transport.disconnecting
    lobby.vic.lose()
    assert lobby.gus.received() == ["*** vic has left (kicked off the server by root: enough)"]


# Bans


def test_a_room_ban_puts_the_user_out_and_refuses_join(cast: Cast) -> None:
    """/ban vic in den: the room is told, vic is put out to the lobby with a !!! line
    containing "banned", and /join den is refused with "banned"."""
    cast.alice.type("/ban vic trolling")
    assert cast.gus.received() == [
        "*** alice banned vic from den for ever: trolling",
        "*** vic has left (banned by alice: trolling)",
    ]
    shown = cast.vic.received()
    assert "!!! you are banned from den by alice for ever: trolling" in shown
    assert "*** you are now in lobby with 0 others" in shown
    assert joined(cast.vic, ROOM) == ["!!! you are banned from den for ever: trolling"]
    assert cast.gus.received() == []


def test_a_room_ban_holds_in_that_room_only(cast: Cast) -> None:
    """Banned from den, vic still joins other rooms."""
    cast.alice.type("/ban vic")
    read_all(*cast.everyone())
    assert joined(cast.vic, "attic") == ["*** you are now in attic with 0 others"]


def test_resume_cannot_enter_a_room_one_is_banned_from(cast: Cast) -> None:
    """/resume den 0 is a way into den too: refused with "banned", as /join is."""
    cast.alice.type("/ban vic")
    read_all(*cast.everyone())
    cast.vic.type("/resume den 0")
    assert errors(cast.vic.received()) == ["!!! you are banned from den for ever"]
    assert cast.gus.received() == []


def test_a_room_ban_with_a_duration_ends_by_itself(cast: Cast) -> None:
    """/ban vic 10m: the notice says until when; ten minutes on, /join den works and
    /bans no longer lists it."""
    cast.alice.type("/ban vic 10m cool off")
    assert cast.gus.received()[0] == (
        "*** alice banned vic from den until 1970-01-01 00:10Z: cool off"
    )
    read_all(*cast.everyone())
    cast.chat.clock.advance(599)
    assert errors(joined(cast.vic, ROOM)) == [
        "!!! you are banned from den until 1970-01-01 00:10Z: cool off"
    ]
    cast.chat.clock.advance(1)
    assert joined(cast.vic, ROOM)[0] == "*** you are now in den with 4 others"
    cast.alice.type("/bans")
    assert cast.alice.received()[-1] == "*** nobody is banned from den"


def test_unban_lets_the_user_back_in(cast: Cast) -> None:
    """After /unban the room is told and /join den works again."""
    cast.alice.type("/ban vic")
    read_all(*cast.everyone())
    cast.bob.type("/unban vic")
    assert cast.gus.received() == ["*** bob lifted the ban of vic from den"]
    assert joined(cast.vic, ROOM)[0] == "*** you are now in den with 4 others"


def test_bans_lists_the_bans_of_the_room_to_anyone(cast: Cast) -> None:
    """/bans lists each ban of den with who set it, until when and why."""
    cast.gus.type("/bans")
    assert cast.gus.received() == ["*** nobody is banned from den"]
    cast.alice.type("/ban zed 1h spam", "/ban 192.0.2.0/24")
    cast.gus.received()
    cast.gus.type("/bans")
    assert cast.gus.received() == [
        "*** 2 banned from den:",
        "***   zed by alice until 1970-01-01 01:00Z: spam",
        "***   192.0.2.0/24 by alice for ever",
    ]


def test_a_room_ban_of_an_account_follows_its_nickname(chat: Chat, cast: Cast) -> None:
    """/ban ~carol in den puts carol out though she goes by another nickname there."""
    carol = log_in(chat, "carol")
    carol.type("/nick cara")
    joined(carol, ROOM)
    read_all(carol, *cast.everyone())
    cast.alice.type("/ban ~carol")
    assert cast.gus.received() == [
        "*** alice banned account:carol from den for ever",
        "*** cara has left (banned by alice)",
    ]
    assert errors(carol.received()) == ["!!! you are banned from den by alice for ever"]


def test_a_room_ban_of_a_network_puts_out_every_member_from_it(chat: Chat, cast: Cast) -> None:
    """/ban 10.0.0.0/30 in den puts out the members connected from 10.0.0.1 and
    10.0.0.2, not the one from 10.0.0.4."""
    inside = [chat.connect(nick, host) for nick, host in (("ina", "10.0.0.1"), ("ino", "10.0.0.2"))]
    outside = chat.connect("oli", host="10.0.0.4")
    for member in (*inside, outside):
        joined(member, ROOM)
    read_all(*inside, outside, *cast.everyone())
    cast.alice.type("/ban 10.0.0.0/30")
    assert cast.gus.received() == [
        "*** alice banned 10.0.0.0/30 from den for ever",
        "*** ina has left (banned by alice)",
        "*** ino has left (banned by alice)",
    ]
    for member in inside:
        assert errors(member.received()) == ["!!! you are banned from den by alice for ever"]
    assert errors(joined(inside[0], ROOM)) == ["!!! you are banned from den for ever"]
    assert errors(outside.received()) == []


def test_a_server_ban_disconnects_the_user_from_whatever_room(cast: Cast) -> None:
    """root's /ban in the lobby disconnects vic, though vic is in den: a !!! line with
    "banned", the close, and den hears "banned"."""
    joined(cast.root, "lobby")
    read_all(*cast.everyone())
    cast.root.type("/ban vic 1h flooding")
    assert cast.root.received() == [
        "*** root banned vic from the server until 1970-01-01 01:00Z: flooding"
    ]
    assert cast.vic.received() == [
        "!!! you are banned from the server by root until 1970-01-01 01:00Z: flooding"
    ]
    assert cast.vic.transport.disconnecting
    cast.vic.lose()
    assert cast.gus.received() == ["*** vic has left (banned by root: flooding)"]


def test_a_banned_nickname_is_refused_at_login_until_the_ban_ends(lobby: Cast) -> None:
    """A new connection choosing vic, banned for an hour, gets a !!! line with "banned"
    and the prompt again; an hour on, vic gets in."""
    lobby.root.type("/ban vic 1h")
    lobby.vic.lose()
    again = lobby.chat.connect()
    again.type("VIC")
    refusal, prompt = again.received()
    assert refusal == "!!! you are banned from the server until 1970-01-01 01:00Z"
    assert "choose a nickname" in prompt
    assert not again.transport.disconnecting
    lobby.chat.clock.advance(3600)
    again.type("vic")
    assert welcomed(again.received(), "vic")


def test_a_banned_account_is_refused_at_login(chat: Chat, lobby: Cast) -> None:
    """/ban account:carol: carol's right password gets a !!! line with "banned"."""
    lobby.root.type("/ban account:carol")
    carol = chat.connect()
    carol.type("carol")
    carol.received()
    carol.type(PASSWORD)
    refusal, prompt = carol.received()
    assert refusal == "!!! you are banned from the server for ever"
    assert "choose a nickname" in prompt
    assert chat.registry.find("carol") is None


def test_a_banned_address_is_told_once_on_connect_then_closed(chat: Chat, lobby: Cast) -> None:
    """After /ban 192.0.2.7 a connection from there gets one !!! line with "banned" and
    no greeting, then it is closed; another address is greeted as ever."""
    lobby.root.type("/ban 192.0.2.7 abuse")
    banned = chat.open(host="192.0.2.7")
    assert banned.received() == ["!!! you are banned from the server for ever: abuse"]
    assert banned.transport.disconnecting
    other = chat.open(host="192.0.2.8")
    assert other.received()[-1].startswith("*** Please choose a nickname")


def test_a_server_ban_of_a_network_disconnects_its_members(chat: Chat, lobby: Cast) -> None:
    """/ban 198.51.100.0/24 disconnects the member from 198.51.100.9 at once."""
    member = chat.connect("remote", host="198.51.100.9")
    lobby.root.type("/ban 198.51.100.0/24")
    assert member.received()[-1] == "!!! you are banned from the server by root for ever"
    assert member.transport.disconnecting


def test_an_address_banned_during_the_handshake_cannot_log_in(chat: Chat, lobby: Cast) -> None:
    """A connection still at the nickname prompt when its address is banned is refused
    at login."""
    waiting = chat.open(host="192.0.2.7")
    waiting.received()
    lobby.root.type("/ban 192.0.2.7")
    waiting.type("wanda")
    assert errors(waiting.received()) == ["!!! you are banned from the server for ever"]
    assert chat.registry.find("wanda") is None


def test_an_ipv6_network_ban_covers_its_addresses_only(chat: Chat, lobby: Cast) -> None:
    """/ban 2001:db8::/64: 2001:db8::5 is put out and refused on connect; 2001:db8:1::5,
    outside the network, is greeted."""
    member = chat.connect("six", host="2001:db8::5")
    lobby.root.type("/ban 2001:db8::/64")
    assert member.received()[-1] == "!!! you are banned from the server by root for ever"
    assert chat.open(host="2001:db8::9").received() == [
        "!!! you are banned from the server for ever"
    ]
    assert chat.open(host="2001:db8:1::5").received()[-1].startswith("*** Please choose")


def test_an_ipv4_ban_covers_its_ipv4_mapped_form(chat: Chat, lobby: Cast) -> None:
    """A dual-stack listener gives ::ffff:192.0.2.7: banned by /ban 192.0.2.7 all the same."""
    lobby.root.type("/ban 192.0.2.7")
    assert chat.open(host="::ffff:192.0.2.7").received() == [
        "!!! you are banned from the server for ever"
    ]


def test_the_operator_banning_its_own_network_stays(chat: Chat, lobby: Cast) -> None:
    """root banning 127.0.0.0/8 disconnects the others from there, not root itself."""
    lobby.root.type("/ban 127.0.0.0/8")
    assert lobby.root.received() == ["*** root banned 127.0.0.0/8 from the server for ever"]
    assert not lobby.root.transport.disconnecting
    assert lobby.gus.transport.disconnecting


# Mutes


def test_nothing_a_muted_member_says_reaches_anyone(cast: Cast) -> None:
    """Muted in den, vic's message, /me, // message and /msg each get a !!! line and
    reach nobody."""
    cast.alice.type("/mute vic")
    read_all(*cast.everyone())
    cast.vic.type("hello", "/me waves", "//slash", "/msg gus psst")
    assert cast.vic.received() == [
        "!!! you are muted in den for ever: nobody sees what you say"
    ] * 4
    assert cast.gus.received() == []
    assert cast.alice.received() == []


def test_a_muted_member_cannot_change_nickname(cast: Cast) -> None:
    """/nick is refused while muted (a new name would not shed the mute)."""
    cast.alice.type("/mute vic")
    read_all(*cast.everyone())
    cast.vic.type("/nick victor")
    assert errors(cast.vic.received()) == [
        "!!! you are muted in den for ever: nobody sees what you say"
    ]
    assert cast.chat.registry.find("victor") is None


def test_the_room_is_told_of_a_mute(cast: Cast) -> None:
    """/mute vic 10m: den hears who muted whom until when."""
    cast.bob.type("/mute vic 10m")
    assert cast.gus.received() == ["*** bob muted vic in den until 1970-01-01 00:10Z"]


def test_a_muted_member_is_told_in_an_error_line(cast: Cast) -> None:
    """The muted member is told with a !!! line that they are muted."""
    cast.alice.type("/mute vic")
    assert any("muted" in line for line in errors(cast.vic.received()))


def test_a_server_wide_mute_tells_the_member_in_another_room(lobby: Cast) -> None:
    """root mutes vic from the lobby while vic is in den: vic is told."""
    joined(lobby.vic, ROOM)
    lobby.vic.received()
    lobby.root.type("/mute vic")
    assert any("muted" in line for line in lobby.vic.received())


def test_a_room_mute_holds_in_that_room_only(cast: Cast) -> None:
    """Muted in den, vic speaks freely in the lobby."""
    cast.alice.type("/mute vic")
    listener = cast.chat.connect("lena")
    joined(cast.vic, "lobby")
    read_all(cast.vic, listener)
    cast.vic.type("out here")
    assert cast.vic.received() == []
    assert listener.received() == ["<vic> out here"]


def test_a_server_wide_mute_holds_in_every_room(lobby: Cast) -> None:
    """Muted from the lobby, vic is silent in den too, and in private."""
    lobby.root.type("/mute vic")
    for connection in (lobby.vic, lobby.gus):
        joined(connection, ROOM)
    read_all(*lobby.everyone())
    lobby.vic.type("in den", "/msg root hi")
    assert lobby.vic.received() == [
        "!!! you are muted everywhere for ever: nobody sees what you say"
    ] * 2
    assert lobby.gus.received() == [] and lobby.root.received() == []


def test_a_mute_with_a_duration_ends_by_itself(cast: Cast) -> None:
    """/mute vic 2m: silent for two minutes, heard after."""
    cast.alice.type("/mute vic 2m")
    read_all(*cast.everyone())
    cast.chat.clock.advance(119)
    cast.vic.type("still?")
    assert errors(cast.vic.received()) != []
    cast.chat.clock.advance(1)
    cast.vic.type("back")
    assert cast.gus.received() == ["<vic> back"]


def test_unmute_lets_the_member_speak(cast: Cast) -> None:
    """/unmute: the room is told, and vic is heard again."""
    cast.alice.type("/mute vic")
    read_all(*cast.everyone())
    cast.bob.type("/unmute vic")
    cast.vic.type("thanks")
    assert cast.gus.received() == ["*** bob unmuted vic in den", "<vic> thanks"]


def test_a_mute_holds_for_the_nickname_across_connections(lobby: Cast) -> None:
    """A muted nickname is muted when it comes back on a new connection."""
    lobby.root.type("/mute vic")
    lobby.vic.lose()
    vic = lobby.chat.connect("vic")
    read_all(*lobby.everyone())
    vic.type("again")
    assert errors(vic.received()) != []
    assert lobby.gus.received() == []


def test_a_muted_member_cannot_set_the_topic(cast: Cast) -> None:
    """What a muted member would say as the topic reaches nobody either."""
    cast.alice.type("/mute vic")
    read_all(*cast.everyone())
    cast.vic.type("/topic read this")
    assert errors(cast.vic.received()) != []
    assert cast.gus.received() == []


# Topics


def test_topic_shows_none_then_what_was_set(cast: Cast) -> None:
    """/topic on a room without one says so; anyone may set it, the room is told, and
    /topic shows it with who set it and when."""
    cast.gus.type("/topic")
    assert cast.gus.received() == ["*** den has no topic"]
    cast.chat.clock.advance(120)
    cast.gus.type("/topic plans for Friday")
    assert cast.vic.received() == ["*** gus set the topic of den: plans for Friday"]
    cast.vic.type("/topic")
    assert cast.vic.received() == [
        "*** topic of den: plans for Friday (set by gus on 1970-01-01 00:02Z)"
    ]


def test_the_topic_is_shown_on_entering_the_room(cast: Cast) -> None:
    """Whoever joins den is shown its topic right after entering."""
    cast.alice.type("/topic welcome to den")
    newcomer = cast.chat.connect("nia")
    lines = joined(newcomer, ROOM)
    assert lines[:2] == [
        "*** you are now in den with 5 others",
        "*** topic of den: welcome to den (set by alice on 1970-01-01 00:00Z)",
    ]


def test_the_lobby_topic_is_shown_with_the_welcome(lobby: Cast) -> None:
    """The lobby's topic comes right after the welcome line."""
    lobby.root.type("/topic be kind")
    newcomer = lobby.chat.connect()
    newcomer.type("nia")
    lines = newcomer.received()
    assert welcomed(lines[:1], "nia")
    assert lines[1] == "*** topic of lobby: be kind (set by root on 1970-01-01 00:00Z)"


def test_topic_dash_clears_it(cast: Cast) -> None:
    """/topic - clears the topic: the room is told, and /topic then says none."""
    cast.alice.type("/topic something")
    read_all(*cast.everyone())
    cast.gus.type("/topic -")
    assert cast.vic.received() == ["*** gus cleared the topic of den"]
    assert joined(cast.chat.connect("nia"), ROOM) == ["*** you are now in den with 5 others"]


def test_topicops_keeps_the_topic_to_operators_until_off(cast: Cast) -> None:
    """/topicops on: a guest's /topic is refused, an operator's works; off: anyone again."""
    cast.alice.type("/topicops on")
    assert cast.alice.received() == ["*** the topic of den may now be set by only its operators"]
    cast.gus.type("/topic mine")
    [refusal] = cast.gus.received()
    assert refusal.startswith("!!! only its operators and server operators may set the topic")
    cast.bob.type("/topic ours")
    assert cast.vic.received() == ["*** bob set the topic of den: ours"]
    cast.alice.type("/topicops off")
    cast.gus.type("/topic mine now")
    assert cast.vic.received() == ["*** gus set the topic of den: mine now"]


def test_a_guest_cannot_set_the_lobby_topic(lobby: Cast) -> None:
    """The lobby's topic is seen by everyone arriving: only server operators set it."""
    lobby.gus.type("/topic gus was here")
    assert errors(lobby.gus.received()) != []
    assert lobby.vic.received() == []


# Owners and room operators


def test_the_registered_creator_owns_the_room_even_after_leaving(chat: Chat, cast: Cast) -> None:
    """alice created den: she may /op in it after everyone left and came back."""
    cast.all_to("lobby")
    cast.alice.lose()
    alice = log_in(chat, "alice")
    cast.vic.type("/join den")
    joined(alice, ROOM)
    read_all(cast.vic)
    alice.type("/op vic")
    assert cast.vic.received() == ["*** alice made vic an operator of den"]


def test_a_guest_creating_a_room_owns_nothing(cast: Cast) -> None:
    """gus creates attic: he may not /op or /kick in it."""
    joined(cast.gus, "attic")
    joined(cast.vic, "attic")
    cast.gus.received()
    cast.gus.type("/op vic", "/kick vic")
    op, kick = cast.gus.received()
    assert op.startswith("!!! only its owner and server operators may grant")
    assert kick.startswith("!!! only its operators and server operators may kick")


def test_joining_a_room_someone_made_gives_no_ownership(chat: Chat, cast: Cast) -> None:
    """carol, registered, joins den after alice made it: she owns nothing."""
    carol = log_in(chat, "carol")
    joined(carol, ROOM)
    carol.type("/op carol")
    assert carol.received()[0].startswith("!!! only its owner and server operators may")


def test_an_operator_loses_its_powers_with_deop(cast: Cast) -> None:
    """After alice's /deop bob, bob's /kick is refused."""
    cast.alice.type("/deop bob")
    assert cast.vic.received() == ["*** alice took operator status from bob in den"]
    cast.bob.type("/kick vic")
    assert errors(cast.bob.received()) == [
        "!!! only its operators and server operators may kick from den"
    ]


def test_an_operator_of_one_room_has_no_powers_in_another(cast: Cast) -> None:
    """bob, operator of den, may not kick in attic."""
    for connection in (cast.bob, cast.vic):
        joined(connection, "attic")
    cast.bob.type("/kick vic")
    assert errors(cast.bob.received()) == [
        "!!! only its operators and server operators may kick from attic"
    ]


def test_rooms_lists_a_room_kept_while_empty(cast: Cast) -> None:
    """An empty den is still listed (it has an owner), an empty attic with a topic too;
    one with nothing set is forgotten."""
    joined(cast.gus, "attic")
    cast.gus.type("/topic dusty")
    joined(cast.vic, "cellar")
    cast.all_to("lobby")
    cast.gus.type("/rooms")
    assert cast.gus.received() == ["*** 3 rooms: lobby (5), attic (0), den (0)"]


# Whois and away


def test_whois_tells_account_since_idle_rooms_and_status(cast: Cast) -> None:
    """/whois: the account or that it is a guest, since when, idle time, the rooms, and
    whether it is an operator there or of the server."""
    cast.chat.clock.advance(3725)
    cast.gus.type("/whois alice", "/whois bob", "/whois vic", "/whois root")
    assert cast.gus.received() == [
        "*** alice: account alice; connected since 1970-01-01 00:00Z; idle 1h 2m; "
        "in den (operator)",
        "*** bob: a guest (no account); connected since 1970-01-01 00:00Z; idle 1h 2m; "
        "in den (operator)",
        "*** vic: a guest (no account); connected since 1970-01-01 00:00Z; idle 1h 2m; in den",
        "*** root: account root; connected since 1970-01-01 00:00Z; idle 1h 2m; "
        "server operator; in den",
    ]


def test_whois_idle_counts_from_the_last_message(cast: Cast) -> None:
    """Saying something starts the idle time again."""
    cast.chat.clock.advance(300)
    cast.vic.type("still here")
    cast.chat.clock.advance(42)
    cast.gus.type("/whois vic")
    assert "; idle 42s; " in cast.gus.received()[-1]


def test_away_answers_private_messages_until_back(cast: Cast) -> None:
    """/away lunch: a /msg to alice is answered with her away message, and /whois shows
    it; /away alone: back, and no more answer."""
    cast.alice.type("/away lunch")
    assert cast.alice.received() == ["*** you are marked as away: lunch"]
    cast.gus.type("/msg alice ping", "/whois alice")
    shown = cast.gus.received()
    assert shown[:2] == ["-> *alice* ping", "*** alice is away: lunch"]
    assert shown[2].endswith("; away: lunch")
    cast.alice.type("/away")
    assert cast.alice.received() == ["*gus* ping", "*** you are back"]
    cast.gus.type("/msg alice ping")
    assert cast.gus.received() == ["-> *alice* ping"]


# What a review found

def test_a_guests_operator_status_ends_when_it_leaves(chat: Chat, cast: Cast) -> None:
    """bob, a guest operator of den, quits: whoever takes "bob" next operates nothing."""
    cast.bob.type("/quit")
    cast.bob.lose()
    impostor = chat.connect("bob")
    joined(impostor, ROOM)
    impostor.received()
    impostor.type("/kick vic")
    [refusal] = impostor.received()
    assert refusal.startswith("!!! only its operators")


def test_a_guests_operator_status_follows_its_nick(cast: Cast) -> None:
    """bob renames himself: still an operator of den, and his old nickname is not."""
    cast.bob.type("/nick robert")
    read_all(*cast.everyone())
    cast.bob.type("/kick vic")
    assert any("vic has left (kicked by robert" in line for line in cast.gus.received())


def test_a_server_banned_nickname_cannot_be_taken_with_nick(lobby: Cast) -> None:
    """The refusal names the nickname, not the user: it is no ban of the user (a client
    must not read it as one and stop reconnecting)."""
    lobby.root.type("/ban zed")
    read_all(*lobby.everyone())
    lobby.gus.type("/nick zed")
    [refusal] = lobby.gus.received()
    assert refusal == '!!! nickname "zed" is banned on this server for ever'


def test_a_guest_takes_no_operator_status_from_an_account_of_its_name(
    chat: Chat, cast: Cast
) -> None:
    """carol, registered, is an operator of den; a guest who takes "carol" while she is
    away (or once her account is gone) is not."""
    carol = log_in(chat, "carol")
    joined(carol, ROOM)
    cast.alice.type("/op carol")
    carol.type("/quit")
    carol.lose()
    assert chat.accounts is not None
    chat.accounts.unregister("carol", PASSWORD)
    guest = chat.connect("carol")
    joined(guest, ROOM)
    read_all(*cast.everyone(), guest)
    guest.type("/kick vic")
    [refusal] = guest.received()
    assert refusal.startswith("!!! only its operators")


def test_deop_finds_the_account_under_its_current_nickname(chat: Chat, cast: Cast) -> None:
    carol = log_in(chat, "carol")
    joined(carol, ROOM)
    cast.alice.type("/op carol")
    carol.type("/nick cally")
    read_all(*cast.everyone(), carol)
    cast.alice.type("/deop cally")
    assert cast.alice.received() == ["*** alice took operator status from cally in den"]


def test_only_a_server_operator_sets_the_lobby_topic(lobby: Cast) -> None:
    lobby.alice.type("/topic hello all")
    assert lobby.alice.received() == ["!!! only a server operator may set the lobby's topic"]


def test_a_kick_from_the_lobby_disconnects_a_user_in_another_room(chat: Chat, lobby: Cast) -> None:
    joined(lobby.vic, ROOM)
    read_all(*lobby.everyone())
    lobby.root.type("/kick vic enough")
    assert lobby.vic.received()[0] == "!!! you were disconnected by root: enough"
    assert lobby.vic.transport.disconnecting


def test_an_operator_who_is_offline_can_be_deopped(chat: Chat, cast: Cast) -> None:
    """carol, registered, is made an operator of den, leaves; alice takes it back."""
    carol = log_in(chat, "carol")
    joined(carol, ROOM)
    cast.alice.type("/op carol")
    carol.type("/quit")
    carol.lose()
    read_all(*cast.everyone())
    cast.alice.type("/deop carol")
    assert cast.alice.received() == ["*** alice took operator status from carol in den"]


def test_unregistering_gives_up_the_rooms_the_account_owned(chat: Chat, cast: Cast) -> None:
    """alice owns den; once she unregisters, the next "alice" to register does not."""
    cast.alice.type(f"/unregister {PASSWORD}")
    read_all(*cast.everyone())
    cast.alice.type(f"/register {PASSWORD}")
    read_all(*cast.everyone())
    cast.alice.type("/op vic")
    [refusal] = cast.alice.received()
    assert refusal.startswith("!!! only its owner")
