"""The IRCv3 extensions an IRC client may ask for: draft/chathistory, batch, away-notify,
account-tag, and lines past 512 bytes cut in pieces.

Run on the in-memory server (:class:`chat.testing.Chat`) with the IRC
clients of :mod:`tests.support.irc_harness`.
"""

from __future__ import annotations

import pytest

from chat.irc.history import CHATHISTORY_MAX
from chat.irc.wire import LINE_MAX, split_text
from chat.testing import Chat
from tests.support.irc_harness import Clients, hash_cheaply, logged_in, with_accounts


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    hash_cheaply(monkeypatch)


@pytest.fixture
def chat() -> Chat:
    return Chat(flood_rate=0)


@pytest.fixture
def clients(chat: Chat) -> Clients:
    return Clients(chat)

HISTORY_CAPS = ("draft/chathistory", "batch", "server-time", "message-tags")


def _said_by_bob(chat: Chat, *texts: str) -> None:
    bob = chat.connect("bob")
    for text in texts:
        chat.clock.advance(1)
        bob.type(text)
    bob.received()


def _texts(lines: list[str]) -> list[str]:
    return [line.rpartition(" :")[2] for line in lines if " PRIVMSG " in line]


def _msgids(lines: list[str]) -> list[str]:
    return [line.split("msgid=")[1].split(";")[0].split(" ")[0]
            for line in lines if "msgid=" in line]


def test_chathistory_latest_is_a_batch_of_the_last_messages(chat: Chat, clients: Clients) -> None:
    _said_by_bob(chat, "one", "two", "three")
    alice = clients.irc("alice", *HISTORY_CAPS)
    alice.send("CHATHISTORY LATEST #lobby * 2")
    lines = alice.received()
    assert lines[0].startswith(":tcpchat.local BATCH +")
    reference = lines[0].split(" ")[2][1:]
    assert lines[0].endswith(" chathistory #lobby")
    assert _texts(lines) == ["two", "three"]
    assert all(f"batch={reference}" in line for line in lines[1:-1])
    assert lines[-1] == f":tcpchat.local BATCH -{reference}"


def test_chathistory_before_and_after_a_msgid_page_through_the_room(
    chat: Chat, clients: Clients
) -> None:
    _said_by_bob(chat, "one", "two", "three", "four")
    alice = clients.irc("alice", *HISTORY_CAPS)
    alice.send("CHATHISTORY LATEST #lobby * 10")
    ids = _msgids(alice.received())
    assert len(ids) == 4
    alice.send(f"CHATHISTORY BEFORE #lobby msgid={ids[2]} 10")
    assert _texts(alice.received()) == ["one", "two"]
    alice.send(f"CHATHISTORY AFTER #lobby msgid={ids[0]} 2")
    assert _texts(alice.received()) == ["two", "three"]
    alice.send(f"CHATHISTORY BETWEEN #lobby msgid={ids[0]} msgid={ids[3]} 10")
    assert _texts(alice.received()) == ["two", "three"]
    alice.send(f"CHATHISTORY AROUND #lobby msgid={ids[1]} 3")
    assert "two" in _texts(alice.received())


def test_chathistory_by_timestamp(chat: Chat, clients: Clients) -> None:
    _said_by_bob(chat, "at one", "at two", "at three")
    alice = clients.irc("alice", *HISTORY_CAPS)
    alice.send("CHATHISTORY AFTER #lobby timestamp=1970-01-01T00:00:01.500Z 10")
    assert _texts(alice.received()) == ["at two", "at three"]


def test_chathistory_errors_are_fail_lines_and_the_connection_stays(clients: Clients) -> None:
    alice = clients.irc("alice", *HISTORY_CAPS)
    alice.send("CHATHISTORY LATEST", "CHATHISTORY SIDEWAYS #lobby * 1",
               "CHATHISTORY BEFORE #lobby nonsense 1", "CHATHISTORY LATEST #elsewhere * 1",
               "PING :alive")
    lines = [line.removeprefix(":tcpchat.local ") for line in alice.received()]
    assert lines[0].startswith("FAIL CHATHISTORY NEED_MORE_PARAMS")
    assert lines[1].startswith("FAIL CHATHISTORY INVALID_PARAMS SIDEWAYS")
    assert lines[2].startswith("FAIL CHATHISTORY INVALID_PARAMS BEFORE")
    assert lines[3].startswith("FAIL CHATHISTORY INVALID_TARGET LATEST #elsewhere")
    assert lines[-1] == "PONG tcpchat.local :alive"


def test_chathistory_is_capped_and_announced_in_isupport(chat: Chat, clients: Clients) -> None:
    welcome = clients.irc()
    welcome.send("NICK w", "USER w 0 * :w")
    assert any(f"CHATHISTORY={CHATHISTORY_MAX}" in line for line in welcome.received())
    _said_by_bob(chat, *(f"m{n}" for n in range(CHATHISTORY_MAX + 5)))
    alice = clients.irc("alice", *HISTORY_CAPS)
    alice.send("CHATHISTORY LATEST #lobby * 1000")
    assert len(_texts(alice.received())) == CHATHISTORY_MAX


def test_chathistory_of_a_private_conversation_is_an_empty_batch(clients: Clients) -> None:
    alice = clients.irc("alice", *HISTORY_CAPS)
    alice.send("CHATHISTORY LATEST bob * 10")
    lines = alice.received()
    assert [line.split(" ")[1] for line in lines] == ["BATCH", "BATCH"]


def test_away_notify_tells_channel_members_who_went_away_and_came_back(
    chat: Chat, clients: Clients
) -> None:
    alice = clients.irc("alice", "away-notify")
    plain = clients.irc("plain")
    bob = chat.connect("bob")
    alice.received()
    plain.received()
    bob.type("/away lunch")
    assert alice.received() == [":bob!bob@tcpchat AWAY :lunch"]
    assert plain.received() == []
    bob.type("/away")
    assert alice.received() == [":bob!bob@tcpchat AWAY"]


def test_account_tag_names_the_account_of_a_logged_in_sender() -> None:
    chat = with_accounts()
    clients = Clients(chat)
    watcher = clients.irc("watcher", "account-tag")
    alice = logged_in(chat, "alice", "JOIN #lobby")
    guest = clients.irc("guest")
    watcher.received()
    alice.send("PRIVMSG #lobby :signed")
    guest.send("PRIVMSG #lobby :unsigned")
    signed, unsigned = watcher.received()
    assert signed.startswith("@account=alice ") and signed.endswith(":signed")
    assert not unsigned.startswith("@")


def test_a_long_line_message_reaches_irc_clients_cut_within_512_bytes(
    chat: Chat, clients: Clients
) -> None:
    """A line user may send up to --max-line bytes; IRC clients get it in pieces that
    each fit IRC's 512, none lost, characters never cut."""
    alice = clients.irc("alice")
    bob = chat.connect("bob")
    alice.received()
    text = " ".join(["héllo日本"] * 120)
    bob.type(text)
    lines = alice.received()
    assert len(lines) > 1
    assert all(len(line.encode()) + 2 <= LINE_MAX for line in lines)
    assert " ".join(_texts(lines)) == text


def test_split_text_cuts_at_spaces_and_never_inside_a_character() -> None:
    assert split_text("short", 100) == ["short"]
    pieces = split_text("ab " * 40, 20)
    assert all(len(piece.encode()) <= 20 for piece in pieces)
    assert " ".join(pieces).split() == ["ab"] * 40
    assert "".join(split_text("日" * 30, 16)) == "日" * 30


def test_away_notify_tells_a_channel_that_an_away_member_joined(
    chat: Chat, clients: Clients
) -> None:
    alice = clients.irc("alice", "away-notify", join="#dev")
    bob = clients.irc("bob", join="")
    bob.send("AWAY :on the train")
    bob.received()
    bob.send("JOIN #dev")
    assert "AWAY" not in " ".join(bob.received())
    assert alice.received() == [
        ":bob!~bob@tcpchat JOIN #dev", ":bob!~bob@tcpchat AWAY :on the train",
    ]


def test_a_message_an_irc_client_could_send_arrives_whole(chat: Chat, clients: Clients) -> None:
    """512 bytes from the sender, more with the source added: one line, not cut."""
    alice = clients.irc("alice")
    bob = clients.irc("bob")
    alice.received()
    text = "a" * (LINE_MAX - len("PRIVMSG #lobby :\r\n"))
    bob.send(f"PRIVMSG #lobby :{text}")
    [whole] = alice.received()
    assert whole.endswith(" :" + text)


def test_a_message_is_shown_to_each_irc_client_as_its_capabilities_ask(
    chat: Chat, clients: Clients
) -> None:
    """One batch, rendered once per set of capabilities: tagged for those who asked."""
    timed, plain, also_timed = (clients.irc("timed", "server-time"), clients.irc("plain"),
                                clients.irc("also", "server-time"))
    bob = chat.connect("bob")
    for client in (timed, plain, also_timed):
        client.received()
    bob.type("hello all")
    [tagged], [untagged], [tagged_too] = timed.received(), plain.received(), also_timed.received()
    assert untagged == ":bob!bob@tcpchat PRIVMSG #lobby :hello all"
    assert tagged == tagged_too
    assert tagged.startswith("@time=1970-01-01T") and tagged.endswith(" " + untagged)
