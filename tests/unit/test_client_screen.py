"""What the terminal UI lays out itself: the unread marker's rule and the /whois block."""

from __future__ import annotations

import calendar
import time

from chat.client.colours import LineStyle
from chat.client.whois import read_whois, whois_fields
from tests.unit.test_client import FakeServer, ScreenUnderTest

WHOIS = ("*** bob: account bob; connected since 2026-12-02 15:36Z; idle 4s; server operator; "
         "in dev, qa (operator); away: lunch; back at 2")


def test_the_unread_marker_is_a_rule_across_the_chat_redrawn_at_a_new_width():
    """Back from an outage, a rule of dashes with the count comes before the missed
    messages, as wide as the terminal, and as wide again after a resize."""
    screen = ScreenUnderTest(width=60)
    screen.server.say("@id=3 <bob> seen")
    screen.server.close()
    screen.server = FakeServer(screen.session)
    screen.server.say("*** Welcome, alice! 1 user online.", "*** 1 user in lobby: alice",
                      "*** 1 room: lobby (1)")
    screen.server.say("*** history of lobby, last message:",
                      "@id=4 [2026-11-28 14:02Z] <bob> missed", "*** end of history")
    rows = screen.rows()
    text = "-- 1 unread message, missed while disconnected "
    rule = rows.index(text + "-" * (59 - len(text)))
    assert rows[rule + 1].endswith("<bob> missed")
    assert rows[rule + 2] == "*** end of missed messages"
    screen.width = 40
    screen.chat_terminal.terminalSize(40, screen.height)
    rows = screen.rows()
    assert any(row.startswith("-- 1 unread message, missed while disc") for row in rows)
    assert not any("----" in row for row in rows)


def test_a_whois_answer_is_shown_as_a_block_with_one_time():
    """The one-line answer is laid out on rows: a heading with the time, then a field a row,
    indented under it; nothing of it starts at the left edge but the heading."""
    screen = ScreenUnderTest(width=60)
    screen.server.say(WHOIS)
    rows = screen.screen()
    heading = next(number for number, row in enumerate(rows) if "*** whois bob" in row)
    block = rows[heading : heading + 6]
    assert block[0][5:] == " *** whois bob"
    assert [row[:6] for row in block[1:]] == [" " * 6] * 5
    assert [row[6:].split()[0] for row in block[1:]] == ["account", "online", "in", "role",
                                                        "away"]
    assert block[3].endswith("dev, qa (operator)")
    assert block[5].endswith("away     lunch; back at 2")


def test_whois_fields_read_every_part_of_the_answer_and_times_are_local():
    """A guest's answer has no rooms nor role; the time it connected is local time."""
    since = calendar.timegm((2026, 12, 2, 15, 36, 0))
    guest = read_whois("bob: a guest (no account); connected since 2026-12-02 15:36Z; idle 1m 4s")
    assert guest is not None
    assert whois_fields(guest, since + 60) == [
        ("account", "none (a guest)"),
        ("online", time.strftime("since %H:%M, idle 1m 4s", time.localtime(since))),
    ]
    assert read_whois("bob: has left (quit)") is None


def test_a_block_in_plain_style_has_no_escape_codes():
    """Without colours, the block's labels are plain text."""
    shown = LineStyle(colour=False).block("whois bob", [("account", "bob"), ("in", "dev")], 0)
    assert "\x1b" not in shown
    assert shown.split("\n")[1:] == ["account  bob", "in       dev"]
