"""Japanese and Chinese typed in the real ``telnet``, in tmux, against the real server.

Until the client agrees to BINARY, telnet takes the UTF-8 byte 0x83 of テ
for Ctrl-C and the 0x9C of 本 for Ctrl-\\ and sends them as telnet
commands. These tests type such text as a person would and check that the
other members of the room, on plain sockets as ``nc`` users are, read it
intact and are never sent a telnet byte themselves. telnet and tmux come
from ``apt-get install -y telnet tmux``; the tests are skipped, saying so,
when one is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.checked import Client, notice
from tests.support.servers import RunningServer
from tests.support.tmux import Terminal, Tmux, tmux_program

pytestmark = pytest.mark.e2e


def installed(name: str, apt_package: str) -> str:
    """The path of program ``name``, or skip the test saying how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed: apt-get install -y {apt_package}")
    return path


@pytest.fixture(scope="module")
def server(quiet_server: RunningServer) -> RunningServer:
    return quiet_server


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    """A private tmux server, killed with everything in it at the end of the test."""
    private = Tmux(tmux_program(), tmp_path)
    yield private
    private.stop()


@pytest.fixture
def telnet_user(tmux: Tmux, server: RunningServer) -> Callable[[str], Terminal]:
    """A person on the real ``telnet`` in a tmux terminal, joined as ``nick``."""
    program = installed("telnet", "telnet")

    def join(nick: str) -> Terminal:
        terminal = tmux.terminal(nick, [program, server.host, str(server.port)])
        terminal.wait_for("choose a nickname")
        terminal.type_line(nick)
        terminal.wait_for(f"Welcome, {nick}!")
        return terminal

    return join


@pytest.fixture
def member(peers: Callable[[str], Client]) -> Callable[[str], Client]:
    """Members of the room on plain sockets (the shared ``peers`` fixture)."""
    return peers


def test_japanese_and_chinese_typed_in_telnet_arrive_intact(
    telnet_user: Callable[[str], Terminal], member: Callable[[str], Client]
) -> None:
    """テスト, 本 and 中文 typed in telnet reach the room as typed, from the first line on."""
    osaka = member("osaka")
    tokyo = telnet_user("tokyo")
    osaka.expect(notice("tokyo", "joined"))
    # The first line holds the first telnet command (IP for the 0x83 of テ):
    # it is sent before BINARY is agreed, so the server puts the bytes back.
    # 々 (0x85) and 〝 (0x9D) would be eaten by telnet itself without BINARY.
    for text in ("テスト", "本", "中文", "日本語の々〝ッ"):
        tokyo.type_line(text)
        assert osaka.read_line() == f"<tokyo> {text}"
    osaka.send_line("こんにちは、東京")
    tokyo.wait_for("<osaka> こんにちは、東京")
    tokyo.type_line("/quit")
    assert notice("tokyo", "left")(osaka.read_line())
    tokyo.wait_for("exit status 0")


def test_ctrl_c_in_telnet_after_binary_is_agreed_still_drops_the_half_typed_line(
    telnet_user: Callable[[str], Terminal], member: Callable[[str], Client]
) -> None:
    """With BINARY on, Ctrl-C is still Interrupt Process: the half line goes, the session stays."""
    osaka = member("osaka")
    tokyo = telnet_user("tokyo")
    osaka.expect(notice("tokyo", "joined"))
    tokyo.type_line("テスト")
    assert osaka.read_line() == "<tokyo> テスト"
    tokyo.type("半分だけ")
    tokyo.press("C-c")
    tokyo.type_line("また本")
    assert osaka.read_line() == "<tokyo> また本"
    osaka.send_line("はい")
    tokyo.wait_for("<osaka> はい")
