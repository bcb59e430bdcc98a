"""The local log of the conversation (--log-dir): what is shown goes to a file per room."""

from __future__ import annotations

import re

from twisted.internet.task import Clock

from chat.client.session import Session
from chat.client.transcript import ConversationLog, LoggedView, log_folder
from tests.unit.test_client import QUIET_ANSWERS, FakeServer, RecordingView

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")


def logged_session(tmp_path):
    view = RecordingView()
    log = ConversationLog(log_folder(str(tmp_path / "logs"), "127.0.0.1:55555"))
    session = Session(LoggedView(view, log, Clock()), Clock(), address="127.0.0.1:55555",
                      nick="alice", interactive=True)
    server = FakeServer(session)
    server.say("*** Welcome, alice! 1 user online.", *QUIET_ANSWERS)
    return session, server, view, log


def logged_lines(path) -> list[str]:
    lines = path.read_text().splitlines()
    assert all(STAMP.match(line) for line in lines), lines
    return [STAMP.sub("", line) for line in lines]


def test_what_is_shown_is_logged_per_room_with_its_date_and_time(tmp_path):
    """Lines of the lobby go to .../127.0.0.1_55555/lobby.log, those of dev to dev.log; the
    user's own lines too, once accepted; a command holding a password never."""
    session, server, view, log = logged_session(tmp_path)
    server.say("<bob> hello")
    session.user_line("hi bob")
    server.say("@id=1")
    session.user_line("/register secret words")
    session.user_line("/join Dev")
    server.say("*** you are now in Dev with 1 other", "[2026-11-28 14:02Z] <carl> earlier")
    log.close()
    folder = tmp_path / "logs" / "127.0.0.1_55555"
    assert logged_lines(folder / "lobby.log") == [
        "*** Welcome, alice! 1 user online.", "<bob> hello", "<alice> hi bob",
    ]
    assert logged_lines(folder / "dev.log") == [
        "*** you are now in Dev with 1 other", "[2026-11-28 14:02Z] <carl> earlier",
    ]
    assert "secret" not in "".join(path.read_text() for path in folder.iterdir())
    assert view.lines[-1] == "[2026-11-28 14:02Z] <carl> earlier"


def test_a_log_that_cannot_be_written_is_said_once_and_the_chat_goes_on(tmp_path):
    """When the file cannot be written the user is told once; lines are still shown."""
    _, server, view, log = logged_session(tmp_path)
    log.close()
    log.folder = tmp_path / "gone"
    server.say("<bob> one", "<bob> two")
    assert view.errors == [f"cannot write the log in {tmp_path / 'gone'}: No such file or "
                           "directory; the conversation is no longer logged"]
    assert view.lines[-2:] == ["<bob> one", "<bob> two"]
