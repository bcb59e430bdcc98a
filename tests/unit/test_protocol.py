"""The line protocol in memory: handshake, commands, framing, limits."""

from __future__ import annotations

from typing import Any, cast

import pytest
from twisted.logger import ILogObserver, Logger, formatEvent

from chat.domain.registry import FLUSH_DELAY
from chat.line.protocol import LineProtocol
from chat.testing import Chat, RecordingClient


def test_greeting_ends_with_the_nickname_prompt() -> None:
    """A new connection is greeted and asked for a nickname."""
    chat = Chat(motd=("Be nice.",))
    lines = chat.open().received()
    assert lines[0].startswith("*** ")
    assert "*** Be nice." in lines
    assert "nickname" in lines[-1]


def test_accepted_nickname_is_welcomed_by_name() -> None:
    """The welcome line holds the nickname exactly as accepted."""
    connection = Chat().connect()
    connection.type("  Alice  ")
    assert connection.received()[0].startswith("*** Welcome, Alice!")


def test_taken_nickname_is_explained_and_asked_again() -> None:
    """A taken nickname gets one error line, then the prompt; the connection stays."""
    chat = Chat()
    chat.connect("alice")
    second = chat.connect()
    second.type("ALICE")
    error, prompt = second.received()
    assert error == '!!! nickname "ALICE" is taken'
    assert "nickname" in prompt
    second.type("alice2")
    assert second.received()[0].startswith("*** Welcome, alice2!")


def test_invalid_nickname_is_explained() -> None:
    """A nickname with forbidden characters is refused with the rules."""
    connection = Chat().connect()
    connection.type("bad nick!")
    assert connection.received()[0].startswith('!!! nickname "bad nick!" is invalid')


def test_messages_go_to_the_others_with_crlf() -> None:
    """A line becomes '<nick> text' for others, ended by CRLF."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.type("hello there")
    chat.clock.advance(FLUSH_DELAY)
    assert alice.transport.value() == b"<bob> hello there\r\n"
    assert bob.received() == []


def test_crlf_input_is_accepted() -> None:
    """A CR before the LF (telnet, nc -C) is dropped."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.protocol.dataReceived(b"hi\r\n")
    assert alice.received() == ["<bob> hi"]


def test_a_line_split_across_packets_is_one_message() -> None:
    """Framing holds when a line arrives in pieces."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    for piece in (b"hel", b"lo wor", b"ld\n"):
        bob.protocol.dataReceived(piece)
    assert alice.received() == ["<bob> hello world"]


def test_empty_lines_are_ignored() -> None:
    """Blank or whitespace-only lines send nothing."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.type("", "   ", "\t")
    assert alice.received() == []


def test_double_slash_sends_a_slash() -> None:
    """'//text' is the message '/text'."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.type("//shrug")
    assert alice.received() == ["<bob> /shrug"]


def test_unknown_command_points_to_help() -> None:
    """An unknown command is an error that mentions /help."""
    bob = Chat().connect("bob")
    bob.type("/dance")
    [line] = bob.received()
    assert line.startswith("!!! ") and "/help" in line


def test_commands_ignore_case() -> None:
    """/WHO works like /who."""
    bob = Chat().connect("bob")
    bob.type("/WHO")
    assert bob.received() == ["*** 1 user in lobby: bob"]


def test_help_lists_every_command_with_its_usage() -> None:
    """/help shows one usage line per command."""
    bob = Chat().connect("bob")
    bob.type("/help")
    text = "\n".join(bob.received())
    for usage in ("/help [COMMAND]", "/nick NEW", "/who", "/me ACTION", "/msg NICK TEXT",
                  "/quit [REASON]"):
        assert usage in text


def test_help_for_one_command() -> None:
    """/help msg explains /msg."""
    bob = Chat().connect("bob")
    bob.type("/help msg")
    assert bob.received() == ["*** /msg NICK TEXT: sends a private message to one user"]


def test_wrong_use_of_a_command_shows_its_usage() -> None:
    """/msg without text answers with the usage line."""
    bob = Chat().connect("bob")
    bob.type("/msg alice")
    assert bob.received() == ["!!! usage: /msg NICK TEXT"]


def test_me_is_an_action() -> None:
    """/me waves reaches others as '* nick waves'."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.type("/me waves")
    assert alice.received() == ["* bob waves"]


def test_nick_change_is_seen_by_the_room() -> None:
    """/nick tells everyone the old and new nickname."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.type("/nick robert")
    assert alice.received() == ["*** bob is now known as robert"]
    assert bob.received() == ["*** bob is now known as robert"]


def test_quit_tells_the_others_the_reason() -> None:
    """/quit REASON says Bye, closes, and the room hears the reason."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.type("/quit off to lunch")
    assert bob.received() == ["*** Bye"]
    assert bob.transport.disconnecting
    bob.lose()
    assert alice.received() == ["*** bob has left (quit: off to lunch)"]


def test_lost_connection_is_a_leave() -> None:
    """A dropped connection gives the same leave notice, reason 'connection lost'."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.lose()
    assert alice.received() == ["*** bob has left (connection lost)"]
    assert chat.registry.find("bob") is None


def test_relayed_text_has_no_control_sequences() -> None:
    """Escape sequences and controls never reach another terminal."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.protocol.dataReceived(b"\x1b[2J\x1b]0;owned\x07hi\x07 \xe2\x80\xae\xc2\x9b\n")
    assert alice.received() == ["<bob> hi "]


def test_bad_bytes_become_replacement_characters() -> None:
    """Invalid UTF-8 is relayed with U+FFFD and the connection stays."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.protocol.dataReceived(b"caf\xe9\n")
    assert alice.received() == ["<bob> caf\ufffd"]
    assert not bob.transport.disconnecting


def test_long_line_is_refused_and_the_next_one_read() -> None:
    """An over-long line gets an error, is not relayed, and the connection goes on."""
    chat = Chat(max_line=100)
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.protocol.dataReceived(b"x" * 500 + b"\nnext\n")
    [error] = bob.received()
    assert error.startswith("!!! line too long (500 bytes")
    assert alice.received() == ["<bob> next"]


def test_long_line_arriving_in_pieces_is_discarded_up_to_its_end() -> None:
    """A line that grows past the limit chunk by chunk is dropped whole."""
    chat = Chat(max_line=100)
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    for _ in range(10):
        bob.protocol.dataReceived(b"y" * 60)
    bob.protocol.dataReceived(b"tail\nafter\n")
    [error] = bob.received()
    assert error.startswith("!!! line too long")
    assert alice.received() == ["<bob> after"]


def test_line_at_the_limit_is_accepted() -> None:
    """A line exactly max-line bytes long, even with CRLF, is sent."""
    chat = Chat(max_line=100)
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.protocol.dataReceived(b"z" * 100 + b"\r\n")
    assert alice.received() == ["<bob> " + "z" * 100]


def test_handshake_timeout_closes_a_silent_connection() -> None:
    """No nickname within the timeout: told why, then closed."""
    chat = Chat(handshake_timeout=5)
    silent = chat.connect()
    chat.clock.advance(5)
    [line] = silent.received()
    assert line.startswith("!!! no nickname chosen within 5 seconds")
    assert silent.transport.disconnecting


def test_joined_connection_does_not_time_out() -> None:
    """After the handshake, idleness is fine."""
    chat = Chat(handshake_timeout=5)
    alice = chat.connect("alice")
    chat.clock.advance(60)
    assert not alice.transport.disconnecting


def test_telnet_ctrl_c_is_answered_and_the_session_goes_on() -> None:
    """IAC IP + DO TIMING-MARK gets WILL TIMING-MARK; the next line works."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.protocol.dataReceived(b"half typed\xff\xf4\xff\xfd\x06")
    assert b"\xff\xfb\x06" in bob.transport.value()
    bob.transport.clear()
    bob.type("fresh line")
    assert alice.received() == ["<bob> fresh line"]


def test_flood_is_paced_not_dropped() -> None:
    """Lines past the burst wait for tokens and all arrive, in order."""
    chat = Chat(flood_rate=10, flood_burst=6)  # the nickname line takes one
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.type(*(f"line {i}" for i in range(20)))
    assert alice.received() == [f"<bob> line {i}" for i in range(5)]
    assert bob.transport.producerState == "paused"
    for _ in range(20):
        chat.clock.advance(0.1)
    assert alice.received() == [f"<bob> line {i}" for i in range(5, 20)]
    assert bob.transport.producerState == "producing"


def test_flood_zero_turns_pacing_off() -> None:
    """With --flood 0 every line is handled at once."""
    chat = Chat(flood_rate=0)
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.type(*(f"{i}" for i in range(500)))
    assert len(alice.received()) == 500


def test_slow_reader_is_cut_and_the_room_told() -> None:
    """A client whose queue passes --sendq is disconnected with a reason."""
    chat = Chat(sendq=10_000, flood_rate=0)
    slow, fast, talker = chat.connect("slow"), chat.connect("fast"), chat.connect("talker")
    fast.received()
    slow.fill_socket_buffer()
    talker.type(*(f"message {i:05}" for i in range(1000)))
    chat.clock.advance(FLUSH_DELAY)
    assert slow.transport.disconnecting
    slow.lose()
    lines = fast.received()
    assert lines[-1] == "*** slow has left (send queue exceeded 10000 bytes)"
    assert lines[:-1] == [f"<talker> message {i:05}" for i in range(1000)][-len(lines) + 1 :]


def test_reader_catching_up_is_not_cut() -> None:
    """A queue that drains in time resets, so a reader that keeps up stays."""
    chat = Chat(sendq=10_000, flood_rate=0)
    reader, talker = chat.connect("reader"), chat.connect("talker")
    for _ in range(10):
        reader.fill_socket_buffer()
        talker.type(*(f"message {i:05}" for i in range(200)))
        chat.clock.advance(FLUSH_DELAY)
        reader.drain_socket_buffer()
    assert not reader.transport.disconnecting


def test_max_clients_refuses_with_an_error() -> None:
    """Past --max-clients a connection is told the server is full and closed."""
    chat = Chat(max_clients=2)
    chat.connect("a")
    chat.connect("b")
    third = chat.open()
    assert third.transport.value().startswith(b"!!! the server is full")
    assert third.transport.disconnecting


def test_max_per_ip_counts_handshakes_too() -> None:
    """Connections still choosing a nickname count against --max-per-ip."""
    chat = Chat(max_per_ip=2)
    chat.connect()
    chat.connect()
    refused = chat.open()
    assert refused.transport.value().startswith(b"!!! too many connections from your address")
    other = chat.connect(host="127.0.0.2")
    assert not other.transport.disconnecting


def test_per_ip_slot_is_freed_on_disconnect() -> None:
    """After a connection closes its address may connect again."""
    chat = Chat(max_per_ip=1)
    first = chat.connect()
    first.lose()
    again = chat.connect()
    assert not again.transport.disconnecting


def test_one_write_per_member_per_turn() -> None:
    """Messages from several senders in one reactor turn reach each member in one write."""
    chat = Chat(flood_rate=0)
    alice, bob, carol = chat.connect("alice"), chat.connect("bob"), chat.connect("carol")
    alice.received()
    bob.received()
    writes: list[bytes] = []
    alice.transport.write = writes.append  # type: ignore[method-assign]
    bob.type("one", "two")
    carol.type("three")
    bob.type("four")
    chat.clock.advance(FLUSH_DELAY)
    assert writes == [b"<bob> one\r\n<bob> two\r\n<carol> three\r\n<bob> four\r\n"]
    assert bob.received() == ["<carol> three"]
    assert carol.received() == ["<bob> one", "<bob> two", "<bob> four"]


def test_ids_tag_messages_and_acknowledge_your_own() -> None:
    """With /ids, lines carry @id=N and your own messages come back as bare ids."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    alice.type("/ids")
    [answer] = alice.received()
    assert answer.startswith("*** message ids on; resume token ")
    bob.type("hi")
    alice.type("hello")
    assert alice.received() == ["@id=1 <bob> hi", "@id=2"]
    assert bob.received() == ["<alice> hello"]


def test_resume_with_the_token_takes_over_a_stale_connection() -> None:
    """A client back on a new connection replaces the old one the server still holds."""
    chat = Chat()
    watcher = chat.connect("watcher")
    old = chat.connect()
    old.type("/ids", "bot")
    token = old.received()[0].rsplit(" ", 1)[1]
    watcher.received()
    watcher.type("while away")
    new = chat.connect()
    new.type(f"/resume lobby 0 {token}", "bot")
    lines = new.received()
    assert any(line.startswith("*** Welcome, bot!") for line in lines)
    assert any(line.endswith("<watcher> while away") for line in lines)
    assert old.transport.disconnecting
    assert watcher.received() == ["*** bot has left (reconnected)", "*** bot has joined"]


def test_resume_without_the_token_cannot_take_a_nickname() -> None:
    """Someone else cannot steal a nickname with /resume."""
    chat = Chat()
    owner = chat.connect()
    owner.type("/ids", "bot")
    thief = chat.connect()
    thief.type("/resume lobby 0 guessed", "bot")
    assert '!!! nickname "bot" is taken' in thief.received()
    assert not owner.transport.disconnecting


def test_a_reply_comes_after_what_was_said_before_the_command() -> None:
    """/who answered at once still follows the messages that came before it."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.type("first")
    alice.type("/who")
    assert alice.received() == ["<bob> first", "*** 2 users in lobby: alice, bob"]


# Defects of issue 9: bad input, telnet interrupts, pacing, amplifiers, closing


def test_non_ascii_digits_are_refused_not_a_crash() -> None:
    """``/history ²`` and ``/resume lobby ²``, before and after the nickname: an error line."""
    chat = Chat()
    newcomer = chat.connect()
    newcomer.type("/resume lobby ²")
    [answer] = newcomer.received()
    assert answer == "!!! usage: /resume ROOM ID [TOKEN]"
    newcomer.type("alice")
    newcomer.received()
    newcomer.type("/history ²", "/resume lobby ٣", "/history 1")
    assert newcomer.received() == [
        "!!! usage: /history [N], with N from 1 to 1000",
        "!!! usage: /resume ROOM ID [TOKEN]",
        "*** lobby has no history yet",
    ]
    assert not newcomer.transport.disconnecting


def test_an_exception_in_a_command_is_an_internal_error_and_the_connection_stays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command that raises answers ``!!! internal error``; the next line works as usual."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()

    def broken(self: LineProtocol, args: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(LineProtocol, "command_who", broken)
    bob.type("/who", "still here")
    [answer] = bob.received()
    assert answer.startswith("!!! internal error")
    assert alice.received() == ["<bob> still here"]
    assert not bob.transport.disconnecting


def test_internal_errors_are_logged_one_line_a_minute_per_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first error is logged with its traceback on one line; the rest of the minute is
    counted, and said in one line."""
    events: list[dict[str, Any]] = []
    observer = cast(ILogObserver, events.append)
    monkeypatch.setattr("chat.session.connection.log", Logger(observer=observer))

    def broken(self: LineProtocol, args: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(LineProtocol, "command_who", broken)
    server = Chat(flood_rate=0)
    bob = server.connect("bob")
    events.clear()
    bob.type(*["/who"] * 500)
    assert len(bob.received()) == 500
    [first] = [formatEvent(event) for event in events]
    assert "RuntimeError: a bug" in first and "broken at test_protocol.py" in first
    assert "\n" not in first
    server.clock.advance(30)
    bob.type("/who")
    assert len(events) == 1
    server.clock.advance(31)
    bob.type("/who")
    [_, summary] = [formatEvent(event) for event in events]
    assert "500 more" in summary and "\n" not in summary
    bob.type(*["/who"] * 10)
    bob.lose()
    assert any("10 more" in formatEvent(event) for event in events[2:])


def test_interrupt_keeps_complete_lines_waiting_for_flood_pacing() -> None:
    """IAC IP drops only the unfinished line: complete lines still waiting for tokens stay."""
    chat = Chat(flood_rate=10, flood_burst=3)  # the nickname line takes one
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.protocol.dataReceived(b"one\ntwo\nline1\nline2\nhalf typ")
    bob.protocol.dataReceived(b"\xff\xf4")
    bob.protocol.dataReceived(b"ed again\n")
    for _ in range(10):
        chat.clock.advance(0.1)
    assert alice.received() == ["<bob> one", "<bob> two", "<bob> line1", "<bob> line2",
                                "<bob> ed again"]


def test_interrupt_after_complete_lines_loses_none_of_them() -> None:
    """``line1\\nline2\\n`` then IAC IP: both lines are relayed."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.protocol.dataReceived(b"line1\nline2\n")
    bob.protocol.dataReceived(b"\xff\xf4")
    bob.type("after")
    assert alice.received() == ["<bob> line1", "<bob> line2", "<bob> after"]


def test_interrupt_in_the_same_chunk_as_complete_lines_loses_none_of_them() -> None:
    """``line1\\nline2\\n`` + IAC IP in one chunk: both lines are relayed, the half line after
    them, interrupted, is not."""
    chat = Chat(flood_rate=10, flood_burst=2)  # the nickname line takes one
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.protocol.dataReceived(b"line1\nline2\nhalf\xff\xf4")
    bob.type("after")
    for _ in range(5):
        chat.clock.advance(0.1)
    assert alice.received() == ["<bob> line1", "<bob> line2", "<bob> after"]


def test_interrupt_ends_the_discarding_of_an_overlong_line() -> None:
    """Ctrl-C on an over-long line: what is typed next is a new line, not its tail."""
    chat = Chat(max_line=100)
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.protocol.dataReceived(b"x" * 150)
    bob.protocol.dataReceived(b"\xff\xf4")
    bob.type("fresh")
    assert alice.received() == ["<bob> fresh"]


def test_lines_waiting_for_pacing_go_out_behind_an_overlong_unfinished_line() -> None:
    """Complete lines paused for flood leave when the tokens come back, though the over-long
    line after them has no LF yet."""
    chat = Chat(flood_rate=10, flood_burst=3, max_line=100)
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.protocol.dataReceived(b"".join(b"line %d\n" % number for number in range(6)))
    bob.protocol.dataReceived(b"y" * 150)
    assert alice.received() == ["<bob> line 0", "<bob> line 1"]
    for _ in range(10):
        chat.clock.advance(0.1)
    assert alice.received() == [f"<bob> line {number}" for number in range(2, 6)]
    [error] = bob.received()
    assert error.startswith("!!! line too long")


@pytest.mark.parametrize("bad", ["\x1b[31mred", "al\x00ice", "bo\x07b", "\u202eevil"])
def test_nickname_with_control_characters_is_refused(bad: str) -> None:
    """The nickname is checked as typed, not once cleaned: ``\\x1b[31mred`` is not ``red``."""
    chat = Chat()
    chat.connect("alice")
    newcomer = chat.connect()
    newcomer.type(bad)
    error, prompt = newcomer.received()
    assert error.startswith('!!! nickname "') and "control characters" in error
    assert "nickname" in prompt
    assert len(chat.registry) == 1


def test_nick_change_to_a_name_with_control_characters_is_refused() -> None:
    """``/nick \\x1b[31mred`` is refused with the reason; the nickname stays."""
    chat = Chat()
    alice = chat.connect("alice")
    alice.type("/nick \x1b[31mred")
    [error] = alice.received()
    assert error == '!!! nickname "\\x1b[31mred" is invalid: nicknames cannot contain control ' \
        "characters; use 1 to 20 letters, digits, _ or -"
    assert chat.registry.find("alice") is not None and chat.registry.find("red") is None


def test_nick_change_to_a_name_with_a_space_says_why() -> None:
    """``/nick bad name`` says that nicknames cannot contain spaces."""
    chat = Chat()
    alice = chat.connect("alice")
    alice.type("/nick bad name")
    [error] = alice.received()
    assert error.startswith('!!! nickname "bad name" is invalid: nicknames cannot contain spaces')


@pytest.mark.parametrize(
    ("typed", "seen"),
    [
        ("hi" + " " * 200 + "*** alice has left (quit: bye)", "<bob> hi *** alice has left"),
        ("/me waves\t\t\t\t  <carol> hi", "* bob waves <carol> hi"),
        ("/msg alice psst" + "\u3000" * 80 + "<carol> x", "*bob* psst <carol> x"),
        ("/quit bye" + " " * 80 + "*** carol", "*** bob has left (quit: bye *** carol)"),
    ],
)
def test_runs_of_whitespace_are_collapsed_in_relayed_text(typed: str, seen: str) -> None:
    """Padding to the terminal width cannot push a forged line onto a row of its own."""
    chat = Chat()
    alice, bob = chat.connect("alice"), chat.connect("bob")
    alice.received()
    bob.type(typed)
    if typed.startswith("/quit"):
        bob.lose()
    [line] = alice.received()
    assert line.startswith(seen)
    assert "  " not in line


def test_repeated_history_is_paced_while_one_answers_at_once() -> None:
    """/history costs flood tokens by the lines it shows: one answers at once, a second
    waits until those tokens are back."""
    chat = Chat(flood_rate=10, flood_burst=30)
    writer = chat.registry.join("writer", RecordingClient())
    for number in range(1000):
        chat.registry.say(writer, f"message {number}")
    bob = chat.connect("bob")
    bob.type("/history 1000", "/history 1000")
    first = bob.received()
    assert len(first) == 1002
    chat.clock.advance(7)
    assert bob.received() == []
    chat.clock.advance(0.5)
    assert len(bob.received()) == 1002


def test_a_closing_connection_is_aborted_after_the_close_timeout() -> None:
    """A connection whose close never completes (TLS without a handshake) is aborted."""
    chat = Chat(handshake_timeout=5, close_timeout=2)
    silent = chat.connect()
    chat.clock.advance(5)
    assert silent.transport.disconnecting and not silent.transport.disconnected
    chat.clock.advance(2)
    assert silent.transport.disconnected
    silent.lose()
    assert not chat.server.connections and not chat.clock.getDelayedCalls()


def test_a_refused_connection_is_aborted_after_the_close_timeout() -> None:
    """A refusal that cannot be delivered (TLS without a handshake) ends anyway."""
    chat = Chat(max_per_ip=1, close_timeout=2)
    chat.connect()
    refused = chat.open()
    assert refused.transport.disconnecting and not refused.transport.disconnected
    chat.clock.advance(2)
    assert refused.transport.disconnected


def test_a_connection_that_closes_in_time_is_not_aborted() -> None:
    """After /quit and a prompt close, nothing is left scheduled."""
    chat = Chat(close_timeout=2)
    alice = chat.connect("alice")
    alice.type("/quit")
    alice.lose()
    chat.clock.advance(FLUSH_DELAY)
    assert not chat.clock.getDelayedCalls()
    assert not alice.transport.disconnected
