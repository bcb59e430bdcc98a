"""Keys beyond line editing: Tab completion, PageUp/PageDown, pastes; on an emulated terminal."""

from __future__ import annotations

from chat.client.colours import LineStyle
from chat.client.completion import complete
from chat.client.terminal import ChatTerminal
from tests.unit.test_client import ScreenUnderTest

NICKS = ["alice", "Bob", "bobby", "carol"]
ROOMS = ["lobby", "dev", "design"]


def choices(line: str, cursor: int | None = None) -> tuple[int, tuple[str, ...]]:
    found = complete(line, len(line) if cursor is None else cursor, nicks=NICKS, rooms=ROOMS,
                     own_nick="alice")
    return found.start, found.choices


def test_a_nickname_at_the_start_of_a_line_is_addressed():
    """``bo`` at the start completes to ``Bob: `` then ``bobby: ``; one's own is not offered."""
    assert choices("bo") == (0, ("Bob: ", "bobby: "))
    assert choices("a") == (0, ())


def test_a_nickname_later_in_a_line_or_after_msg_gets_a_blank():
    """Inside a message and as /msg's or /whois's first argument, a nickname and a blank."""
    assert choices("hi ca") == (3, ("carol ",))
    assert choices("/msg ca") == (5, ("carol ",))
    assert choices("/whois B") == (7, ("Bob ", "bobby "))
    assert choices("/msg carol ca") == (11, ())


def test_commands_and_rooms_after_join_are_completed():
    """``/jo`` is ``/join ``; after ``/join`` the rooms known, ``#`` or not."""
    assert choices("/jo") == (0, ("/join ",))
    assert choices("/who") == (0, ("/who ", "/whois "))
    assert choices("/join de") == (6, ("design ", "dev "))
    assert choices("/join #de") == (6, ("design ", "dev "))


def screen_with_members() -> ScreenUnderTest:
    screen = ScreenUnderTest()
    screen.server.say("*** 3 users in lobby: alice, Bob, bobby", "*** 2 rooms: lobby (3), dev (1)")
    return screen


def test_tab_completes_and_tab_again_takes_the_next_choice():
    """Tab puts the first choice in the line; Tab again replaces it with the next; typing on
    starts a new completion."""
    screen = screen_with_members()
    screen.type(b"bo\t")
    assert screen.rows()[-1] == "alice> Bob:"
    screen.type(b"\t")
    assert screen.rows()[-1] == "alice> bobby:"
    screen.type(b"\t")
    assert screen.rows()[-1] == "alice> Bob:"
    screen.type(b"hi\r")
    assert screen.server.received() == ["Bob: hi"]


def test_tab_completes_in_the_middle_of_a_line_keeping_what_follows():
    """The word before the cursor is completed; the rest of the line stays."""
    screen = screen_with_members()
    screen.type(b"/join de ok\x1b[D\x1b[D\x1b[D\t")
    assert screen.rows()[-1] == "alice> /join dev  ok"


def test_private_messages_ring_the_bell_and_mentions_only_when_asked():
    """By default a live private message rings; a mention rings with bell "all"; a replayed
    line and one's own name inside a word never do."""
    screen = ScreenUnderTest()
    screen.stdio.clear()
    screen.server.say("<bob> alice: hi", "<bob> malice", "[2026-11-28 14:02Z] *bob* old")
    assert b"\x07" not in screen.stdio.value()
    screen.server.say("*bob* psst")
    assert screen.stdio.value().count(b"\x07") == 1
    screen.chat_terminal.bell = "all"
    screen.stdio.clear()
    screen.server.say("* bob pokes alice", "<bob> malice")
    assert screen.stdio.value().count(b"\x07") == 1
    screen.chat_terminal.bell = "off"
    screen.stdio.clear()
    screen.server.say("*bob* psst", "<bob> alice!")
    assert b"\x07" not in screen.stdio.value()


def test_a_mention_is_highlighted_in_colour():
    """The text of a message naming you is bold yellow."""
    style = LineStyle(colour=True)
    assert "\x1b[1;33mhi alice\x1b[0m" in style.line("<bob> hi alice", 0.0, highlight=True)
    assert "\x1b[1;33m" not in style.line("<bob> hi alice", 0.0)


def test_page_up_shows_older_lines_with_a_marker_and_the_input_stays_usable():
    """PageUp draws an older page and a marker; what comes meanwhile is counted, not shown;
    typing and sending still work; PageDown past the end is the live chat again."""
    screen = ScreenUnderTest(width=60, height=10)
    for number in range(30):
        screen.server.say(f"<bob> line {number:02d}")
    assert screen.rows()[-2] == "<bob> line 29"
    screen.type(b"\x1b[5~")
    rows = screen.screen()
    assert [row for row in rows if "line" in row][-1].endswith("line 23")
    assert rows[-3].startswith("-- scrolled back: PageDown")
    screen.server.say("<bob> while away")
    screen.type(b"still typing\r")
    assert screen.server.received() == ["still typing"]
    rows = screen.screen()
    assert rows[-3].startswith("-- scrolled back: 1 new line below")
    assert not any("while away" in row for row in rows)
    screen.type(b"\x1b[5~" * 10)
    assert "Welcome, alice" in screen.screen()[0]
    screen.type(b"\x1b[6~" * 10)
    rows = screen.rows()
    assert rows[-2] == "<bob> while away" and not any("scrolled" in row for row in rows)


def paste(text: str) -> bytes:
    return b"\x1b[200~" + text.encode() + b"\x1b[201~"


def test_a_paste_of_a_few_lines_is_sent_in_order_with_a_note():
    """Two pasted lines (CR between, as terminals send them) are sent as two lines, in order."""
    screen = ScreenUnderTest()
    screen.type(paste("first\rsecond\r"))
    assert screen.server.received() == ["first", "second"]
    assert "*** sending 2 pasted lines" in screen.rows()[-2]
    assert screen.session.status().unsent == 2
    screen.server.say("@id=1", "@id=2")
    assert screen.rows()[-3:-1] == ["<alice> first", "<alice> second"]
    assert screen.session.status().unsent == 0


def test_a_long_paste_or_one_running_commands_is_sent_only_when_the_user_says_yes():
    """More than three lines, or a command among them: asked first; y sends, n drops."""
    screen = ScreenUnderTest(width=80)
    screen.type(paste("a\nb\nc\nd\n"))
    assert screen.server.received() == []
    assert "paste of 4 lines: send them?" in screen.rows()[-2]
    assert screen.rows()[-1] == "send 4 lines? [y/N]"
    screen.type(b"n")
    assert screen.server.received() == []
    assert screen.rows()[-1] == "alice>"
    screen.type(paste("hello\n/nick mallory\n"))
    assert "(1 running /nick)" in screen.rows()[-3]
    screen.type(b"y")
    assert screen.server.received() == ["hello", "/nick mallory"]


def test_a_one_line_paste_goes_into_the_input_line():
    """A single pasted line is not sent: it is typed into the input line, to edit or send."""
    screen = ScreenUnderTest()
    screen.type(b"say ")
    screen.type(paste("pasted words"))
    assert screen.server.received() == []
    assert screen.rows()[-1] == "alice> say pasted words"


def test_the_paste_threshold_and_the_scrollback_are_the_users_to_set():
    """With --paste-ask-above 5 five lines go at once and six ask; --scrollback 40 keeps the
    last 40 lines to page back through."""
    screen = ScreenUnderTest(width=80)
    screen.chat_terminal.paste_ask_above = 5
    screen.type(paste("1\n2\n3\n4\n5\n"))
    assert screen.server.received() == ["1", "2", "3", "4", "5"]
    screen.type(paste("1\n2\n3\n4\n5\n6\n"))
    assert screen.server.received() == []
    assert screen.rows()[-1] == "send 6 lines? [y/N]"
    kept = ChatTerminal(LineStyle(colour=False), screen.clock, 80, scrollback_lines=40)
    assert kept.scrollback.lines.maxlen == 40
