"""The terminal UI: a line editor (HistoricRecvLine over insults) with the chat printed above it.

:class:`ChatTerminal` is the :class:`~chat.client.session.SessionView` of
an interactive session. The line being typed is always the last row of
the terminal and the status line (:mod:`chat.client.status`) the one
above it; each line of the chat is written over the status line and
scrolls up, and both are drawn again below, so what the user is typing
stays as it was. No alternate screen is used: the terminal's scrollback
keeps the whole conversation after the client exits.

Lines wider than the terminal are cut into rows here, continuation rows
indented (see :mod:`chat.client.rows`). The lines shown are also kept
(:mod:`chat.client.scrollback`): when the window is resized the screen is
drawn again from them at the new width, so nothing of the old status and
input rows, however the terminal rewrapped them, is left over.

When the server asks for the nickname's password, the input line is
hidden until the server lets the user in (or asks for a nickname): each
character typed is drawn as ``*``, and each line entered goes to the
session as the password, not to the input history. Lines holding a
password (``/register``, ``/password``, ``/unregister``) are sent but never
kept in the history either.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import signal
import termios
import tty
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from twisted.conch.insults.insults import ServerProtocol
from twisted.conch.recvline import HistoricRecvLine
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorThreads, IReactorTime
from twisted.python.failure import Failure

from chat.client.colours import LineStyle
from chat.client.completion import Completions, complete
from chat.client.inputline import text_width, visible_input
from chat.client.lines import Kind, holds_password, mentions, parse
from chat.client.paste import ASK_ABOVE, Paste, read_paste
from chat.client.scrollback import SCROLLBACK_LINES, Rule, Scrollback
from chat.client.session import Session
from chat.client.status import Link, Status, status_text
from chat.client.unread import UnreadMarker
from chat.client.whois import read_whois, whois_fields
from chat.text import clean

CTRL_A = b"\x01"
CTRL_C = b"\x03"
CTRL_D = b"\x04"
CTRL_E = b"\x05"
CTRL_H = b"\x08"
CTRL_K = b"\x0b"
CTRL_U = b"\x15"
CTRL_W = b"\x17"
# Home and End as some terminals send them (ESC O H, ESC O F), which
# insults reports as unhandled control sequences.
_APPLICATION_HOME = b"\x1b[OH"
_APPLICATION_END = b"\x1b[OF"
BELL = b"\x07"
# Bracketed paste: the terminal marks what is pasted, once asked to.
PASTE_MODE_ON = b"\x1b[?2004h"
PASTE_MODE_OFF = b"\x1b[?2004l"
PASTE_START = b"\x1b[200~"
PASTE_END = b"\x1b[201~"
# What each character of a password being typed is drawn as.
HIDDEN = "*"
# How much of a refused line is shown again, in characters.
EXCERPT_LENGTH = 60


class ChatTerminal(HistoricRecvLine):
    """Line editing with history, and the chat shown above the line being typed.

    Keys: arrows, Home/End (also Ctrl-A/Ctrl-E), Backspace, Delete, Up/Down
    for history, Ctrl-U/Ctrl-K/Ctrl-W to delete before/after the cursor or
    the word before it, Ctrl-C to leave, Ctrl-D to leave on an empty line.
    Typed bytes are decoded as UTF-8, so each character, however many bytes
    it takes, is one unit of editing: one item of ``lineBuffer``, UTF-8 encoded.
    """

    session: Session

    def __init__(
        self, style: LineStyle, clock: IReactorTime, width: int, height: int = 24,
        *, tls: bool = False, bell: str = "private", paste_ask_above: int = ASK_ABOVE,
        scrollback_lines: int = SCROLLBACK_LINES,
    ) -> None:
        self.style = style
        self.clock = clock
        self.width = width
        self.height = height
        self.tls = tls
        self.bell = bell  # ring for "private" messages, "all" (mentions too) or "off"
        self.closed: Deferred[None] = Deferred()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._prompt = ("> ", "> ")
        # While a password is typed: the prompt to go back to after it; else None.
        self._prompt_after_password: tuple[str, str] | None = None
        self.paste_ask_above = paste_ask_above
        self.scrollback = Scrollback(scrollback_lines, style.rule)
        self._status: Status | None = None
        # The choices of the last Tab, the one taken, and the line it made.
        self._completion: tuple[Completions, int, str] | None = None
        # While paged back (PageUp): rows between the page's last one and the last row
        # kept (0: not paged back), and how many lines have come since.
        self._back = 0
        self._new_below = 0
        # A bracketed paste being read; a paste waiting for y or n, and the prompt it replaced.
        self._pasting: list[bytes] | None = None
        self._asked: Paste | None = None
        self._prompt_before_question: tuple[str, str] | None = None
        # While the status line counts down to the next connection attempt.
        self._countdown: IDelayedCall | None = None

    # Setting up

    def connectionMade(self) -> None:
        super().connectionMade()
        self.keyHandlers.update(
            {
                CTRL_A: self.handle_HOME,
                CTRL_C: self.session.leave,
                CTRL_D: self.handle_CTRL_D,
                CTRL_E: self.handle_END,
                CTRL_H: self.handle_BACKSPACE,
                CTRL_K: self.handle_CTRL_K,
                CTRL_U: self.handle_CTRL_U,
                CTRL_W: self.handle_CTRL_W,
                self.terminal.PGUP: self.handle_PGUP,
                self.terminal.PGDN: self.handle_PGDN,
            }
        )

    def initializeScreen(self) -> None:
        # RecvLine resets the terminal here, which would wipe the screen.
        self.mode = "insert"
        self.terminal.write(PASTE_MODE_ON)
        self._draw_bottom()

    def setInsertMode(self) -> None:
        self.mode = "insert"

    def setTypeoverMode(self) -> None:
        self.mode = "typeover"

    def terminalSize(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        if self._back:
            self._draw_page()
        else:
            self._draw_screen()

    def connectionLost(self, reason: Failure) -> None:
        self.session.leave()
        self.closed.callback(None)

    def close(self) -> None:
        """Take the status and input lines away and let go of the terminal; :attr:`closed`
        fires after."""
        self._stop_countdown()
        if self._back:
            self._back_to_live()
        self.terminal.cursorPosition(0, self._status_row)
        self.terminal.eraseToDisplayEnd()
        self.terminal.write(PASTE_MODE_OFF)
        # Not ServerProtocol.loseConnection: it resets the terminal, wiping the screen.
        self.terminal.transport.loseConnection()

    # Keys

    def keystrokeReceived(self, keyID: bytes, modifier: object) -> None:
        if self._pasting is not None:
            if keyID in (b"\r", b"\n"):
                self._pasting.append(b"\n")
            elif len(keyID) == 1 and (keyID >= b" " or keyID == b"\t"):
                self._pasting.append(keyID)
            return
        if self._asked is not None:
            self._answered(keyID)
            return
        handler = self.keyHandlers.get(keyID)
        if handler is not None:
            handler()
        elif modifier is None and len(keyID) == 1 and keyID >= b" " and keyID != b"\x7f":
            self.characterReceived(keyID, False)

    def unhandledControlSequence(self, seq: bytes) -> None:
        if seq == PASTE_START:
            self._pasting = []
        elif seq == PASTE_END and self._pasting is not None:
            text = b"".join(self._pasting).decode("utf-8", "replace")
            self._pasting = None
            self._pasted(text)
        elif seq == _APPLICATION_HOME:
            self.handle_HOME()
        elif seq == _APPLICATION_END:
            self.handle_END()

    def characterReceived(self, ch: bytes, moreCharactersComing: bool) -> None:
        for char in self._decoder.decode(ch):
            if clean(char) != char:
                continue
            encoded = char.encode("utf-8")
            if self.mode == "insert":
                self.lineBuffer.insert(self.lineBufferIndex, encoded)
            else:
                self.lineBuffer[self.lineBufferIndex : self.lineBufferIndex + 1] = [encoded]
            self.lineBufferIndex += 1
        if not moreCharactersComing:
            self.draw_input_line()

    def _pasted(self, text: str) -> None:
        """One line goes into the input line; several are sent, or asked about first."""
        if "\n" not in text.strip("\n"):
            self.characterReceived(text.strip("\n").encode("utf-8"), False)
            return
        paste = read_paste(text, self.paste_ask_above)
        if self._prompt_after_password is not None or self._asked is not None or not paste.lines:
            return
        if paste.needs_asking:
            self._asked = paste
            self._print_above(f"*** {paste.question()}")
            self._prompt_before_question = self._prompt
            plain = f"send {len(paste.lines)} lines? [y/N] "
            self._prompt = (plain, plain)
            self.draw_input_line()
            return
        self._send_paste(paste)

    def _answered(self, key: bytes) -> None:
        """The key pressed after the question about a paste: y sends it, anything else not."""
        paste, self._asked = self._asked, None
        assert paste is not None and self._prompt_before_question is not None
        self._prompt, self._prompt_before_question = self._prompt_before_question, None
        if key in (b"y", b"Y"):
            self._send_paste(paste)
        else:
            self._print_above(f"*** paste of {len(paste.lines)} lines dropped")

    def _send_paste(self, paste: Paste) -> None:
        self._print_above(f"*** sending {len(paste.lines)} pasted lines")
        for line in paste.lines:
            self.session.user_line(line)

    def handle_TAB(self) -> None:
        """Complete the word before the cursor; Tab again right after: the next choice."""
        if self._prompt_after_password is not None:
            return
        typed = self._typed()
        cycle = self._completion
        if cycle is not None and cycle[2] == typed:
            completions, index = cycle[0], (cycle[1] + 1) % len(cycle[0].choices)
            end = completions.start + len(completions.choices[cycle[1]])
        else:
            roster = self.session.roster
            completions = complete(
                typed, self.lineBufferIndex, nicks=roster.members.values(),
                rooms=roster.rooms.values(), own_nick=self.session.nick,
            )
            index, end = 0, self.lineBufferIndex
        if not completions.choices:
            self._completion = None
            return
        chosen = completions.choices[index]
        self.lineBuffer[completions.start : end] = [char.encode("utf-8") for char in chosen]
        self.lineBufferIndex = completions.start + len(chosen)
        self._completion = (completions, index, self._typed())
        self.draw_input_line()

    def handle_LEFT(self) -> None:
        self._move_to(self.lineBufferIndex - 1)

    def handle_RIGHT(self) -> None:
        self._move_to(self.lineBufferIndex + 1)

    def handle_HOME(self) -> None:
        self._move_to(0)

    def handle_END(self) -> None:
        self._move_to(len(self.lineBuffer))

    def handle_BACKSPACE(self) -> None:
        if self.lineBufferIndex > 0:
            self._delete(self.lineBufferIndex - 1, self.lineBufferIndex)

    def handle_DELETE(self) -> None:
        self._delete(self.lineBufferIndex, self.lineBufferIndex + 1)

    def handle_CTRL_D(self) -> None:
        if self.lineBuffer:
            self.handle_DELETE()
        else:
            self.session.leave()

    def handle_CTRL_K(self) -> None:
        self._delete(self.lineBufferIndex, len(self.lineBuffer))

    def handle_CTRL_U(self) -> None:
        self._delete(0, self.lineBufferIndex)

    def handle_CTRL_W(self) -> None:
        start = self.lineBufferIndex
        while start > 0 and self.lineBuffer[start - 1] == b" ":
            start -= 1
        while start > 0 and self.lineBuffer[start - 1] != b" ":
            start -= 1
        self._delete(start, self.lineBufferIndex)

    @property
    def _page_rows(self) -> int:
        """Rows of a page back: the chat's rows but one, for the marker."""
        return max(self._view_rows - 1, 1)

    def handle_PGUP(self) -> None:
        """Page back through the lines kept; the marker says so, the input stays."""
        back = self._back + max(self._page_rows - 1, 1)
        rows, _ = self.scrollback.rows_before(back, self._page_rows, self.width, self.style.indent)
        if len(rows) < self._page_rows:  # the first row kept is in the page: stop there
            back = max(back + len(rows) - self._page_rows, 0)
        if back == self._back:
            return
        self._back = back
        self._draw_page()

    def handle_PGDN(self) -> None:
        """Page forward; past the last page, back to the live chat with what came meanwhile."""
        if not self._back:
            return
        self._back = max(self._back - max(self._page_rows - 1, 1), 0)
        # The live screen has one row more than a page (no marker): from one row back, it
        # shows all the page would.
        if self._back > 1:
            self._draw_page()
        else:
            self._back_to_live()

    def _back_to_live(self) -> None:
        self._back = self._new_below = 0
        self._draw_screen()

    def handle_UP(self) -> None:
        if self._prompt_after_password is not None:
            return
        at_the_end = self.historyPosition == len(self.historyLines)
        if at_the_end and holds_password(self._typed()):
            if not self.historyLines:
                return
            self.lineBuffer = []  # not kept in the history, as the base class would
        super().handle_UP()

    def handle_DOWN(self) -> None:
        if self._prompt_after_password is None:
            super().handle_DOWN()

    def handle_RETURN(self) -> None:
        line = b"".join(self.lineBuffer)
        if self._prompt_after_password is not None:
            # Input stays hidden until the server has answered (it may take seconds):
            # whatever is typed meanwhile is a password too, never a message.
            if line:
                self.lineBuffer = []
                self.lineBufferIndex = 0
                self.draw_input_line()
                self.session.password_entered(line.decode("utf-8"))
            return
        if line and not holds_password(line.decode("utf-8")):
            self.historyLines.append(line)
        self.historyPosition = len(self.historyLines)
        self.lineBuffer = []
        self.lineBufferIndex = 0
        self.draw_input_line()
        self.session.user_line(line.decode("utf-8"))

    def _typed(self) -> str:
        return b"".join(self.lineBuffer).decode("utf-8")

    def _stop_hiding(self) -> None:
        """Back to visible input, without what was typed hidden."""
        if self._prompt_after_password is None:
            return
        self._prompt, self._prompt_after_password = self._prompt_after_password, None
        self.lineBuffer = []
        self.lineBufferIndex = 0
        self.draw_input_line()

    def _move_to(self, index: int) -> None:
        self.lineBufferIndex = min(max(index, 0), len(self.lineBuffer))
        self.draw_input_line()

    def _delete(self, start: int, end: int) -> None:
        del self.lineBuffer[start:end]
        self.lineBufferIndex = min(self.lineBufferIndex, start)
        self.draw_input_line()

    # Drawing

    @property
    def _status_row(self) -> int:
        return max(self.height - 2, 0)

    @property
    def _view_rows(self) -> int:
        """How many rows of the chat the screen shows, above the status line."""
        return max(self.height - 2, 1)

    def draw_input_line(self) -> None:
        """Draw the prompt and the visible part of the input on the last row."""
        plain_prompt, shown_prompt = self._prompt
        if self._prompt_after_password is None:
            chars = [encoded.decode("utf-8") for encoded in self.lineBuffer]
        else:
            chars = [HIDDEN] * len(self.lineBuffer)
        shown = visible_input(
            chars, self.lineBufferIndex, self.width - text_width(plain_prompt) - 1
        )
        self.terminal.cursorPosition(0, self.height - 1)
        self.terminal.eraseLine()
        self.terminal.write((shown_prompt + shown.text).encode("utf-8"))
        if shown.cursor_back:
            self.terminal.cursorBackward(shown.cursor_back)

    def _draw_status(self) -> None:
        """Draw the status line, then put the cursor back on the input line."""
        if self.height >= 2:
            self.terminal.cursorPosition(0, self._status_row)
            self.terminal.eraseLine()
            self.terminal.write(self.style.status(self._status_text(), self.width).encode("utf-8"))
        self.draw_input_line()

    def _status_text(self) -> str:
        if self._status is None:
            return "[lobby] | connecting"
        return status_text(self._status, self.clock.seconds(), tls=self.tls)

    def _draw_bottom(self) -> None:
        """Clear from the status line down and draw it and the input line."""
        self.terminal.cursorPosition(0, self._status_row)
        self.terminal.eraseToDisplayEnd()
        self._draw_status()

    def _draw_screen(self) -> None:
        """Draw the whole screen again from the lines kept: the last ones, status, input."""
        rows, _ = self.scrollback.rows_before(0, self._view_rows, self.width, self.style.indent)
        self.terminal.cursorPosition(0, 0)
        self.terminal.eraseToDisplayEnd()
        top = self._view_rows - len(rows)
        for number, row in enumerate(rows):
            self.terminal.cursorPosition(0, top + number)
            self.terminal.write(row.encode("utf-8"))
        self._draw_bottom()

    def _draw_page(self) -> None:
        """Draw a page of older rows, the marker below it, the status and input lines."""
        rows, _ = self.scrollback.rows_before(
            self._back, self._page_rows, self.width, self.style.indent
        )
        self.terminal.cursorPosition(0, 0)
        self.terminal.eraseToDisplayEnd()
        for number, row in enumerate(rows):
            self.terminal.cursorPosition(0, number)
            self.terminal.write(row.encode("utf-8"))
        self._draw_marker()
        self._draw_bottom()

    def _draw_marker(self) -> None:
        new = self._new_below
        news = f"{new} new line{'' if new == 1 else 's'} below; " if new else ""
        marker = f"-- scrolled back: {news}PageDown for more, to the end for the live chat --"
        self.terminal.cursorPosition(0, self._page_rows)
        self.terminal.eraseLine()
        self.terminal.write(self.style.marker(marker, self.width).encode("utf-8"))

    def _print_above(self, line: str, highlight: bool = False) -> None:
        self._show(self.style.line(line, self.clock.seconds(), highlight))

    def _show(self, shown: str | Rule) -> None:
        """Keep a styled line (or a rule) and put it above the status line, or count it in
        the marker while paged back."""
        self.scrollback.add(shown)
        rows = self.scrollback.rows_of(shown, self.width, self.style.indent)
        if self._back:
            # The page stays where it is; the marker counts what came below it.
            self._back += len(rows)
            self._new_below += 1
            self._draw_marker()
            self.draw_input_line()
            return
        # Written from the status row down, each row ending in a newline, and one
        # newline more: the screen scrolls up by as many rows as the line takes.
        self.terminal.cursorPosition(0, self._status_row)
        self.terminal.eraseToDisplayEnd()
        self.terminal.write("\r\n\x1b[K".join(rows).encode("utf-8") + b"\r\n\n")
        self._draw_bottom()

    # SessionView

    def show_line(self, line: str) -> None:
        said = parse(line)
        whois = read_whois(said.text) if said.kind is Kind.NOTICE and said.stamp is None else None
        if whois is not None:
            now = self.clock.seconds()
            self._show(self.style.block(f"whois {whois.nick}", whois_fields(whois, now), now))
            return
        nick = self.session.nick
        mention = (
            said.kind in (Kind.MESSAGE, Kind.ACTION) and nick is not None
            and said.nick != nick and mentions(said.text, nick)
        )
        self._print_above(line, highlight=mention)
        if said.stamp is None and (
            (said.kind is Kind.PRIVATE and self.bell != "off") or (mention and self.bell == "all")
        ):
            self.terminal.write(BELL)

    def show_own_line(self, line: str) -> None:
        self._print_above(line)

    def show_unread(self, marker: UnreadMarker) -> None:
        self._show(Rule(unread_text(marker)))

    def show_refused(self, own_line: str, error_line: str) -> None:
        self._print_above(f"!!! not sent: {_excerpt(own_line)}")
        self._print_above(error_line)

    def show_status(self, text: str) -> None:
        self._print_above(f"*** {text}")

    def show_error(self, text: str) -> None:
        self._print_above(f"!!! {text}")

    def nickname_wanted(self) -> None:
        self._stop_hiding()
        self._prompt = self.style.prompt(None)
        self.draw_input_line()

    def nickname_changed(self, nick: str) -> None:
        self._stop_hiding()
        self._prompt = self.style.prompt(nick)
        self.draw_input_line()

    def status_changed(self, status: Status) -> None:
        self._status = status
        self._draw_status()
        if status.link is Link.WAITING and self._countdown is None:
            self._countdown = self.clock.callLater(1.0, self._count_down)
        elif status.link is not Link.WAITING:
            self._stop_countdown()

    def _count_down(self) -> None:
        """Another second towards the next attempt: the status line says how many are left."""
        self._countdown = None
        self.status_changed(self.session.status())

    def _stop_countdown(self) -> None:
        if self._countdown is not None and self._countdown.active():
            self._countdown.cancel()
        self._countdown = None

    def password_wanted(self) -> None:
        if self._prompt_after_password is None:
            self._prompt_after_password = self._prompt
            # Whatever was half typed is not part of the password.
            self.lineBuffer = []
            self.lineBufferIndex = 0
        self._prompt = self.style.password_prompt()
        self.draw_input_line()


def unread_text(marker: UnreadMarker) -> str:
    """What the unread marker says: how many messages are new, and since when."""
    count = f"{marker.count} unread message{'' if marker.count == 1 else 's'}"
    if marker.reconnected:
        return f"{count}, missed while disconnected"
    more = " (maybe more before them: /history)" if marker.maybe_more else ""
    return f"{count} since you were last in {marker.room}{more}"


def _excerpt(text: str, length: int = EXCERPT_LENGTH) -> str:
    """The start of a text, at most ``length`` characters, with "…" if cut."""
    return text if len(text) <= length else text[: length - 1] + "…"


def terminal_protocol(chat_terminal: ChatTerminal) -> ServerProtocol:
    """The insults protocol to attach to stdio, which drives ``chat_terminal``."""
    return ServerProtocol(lambda: chat_terminal)


@contextmanager
def raw_terminal(fd: int, output: int = 1) -> Iterator[None]:
    """Put the terminal on ``fd`` in raw mode; restore its modes and blocking flag after, and
    (on ``output``) turn bracketed paste off, however the client ended."""
    saved_modes = termios.tcgetattr(fd)
    saved_flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved_modes)
        fcntl.fcntl(fd, fcntl.F_SETFL, saved_flags)
        with suppress(OSError):
            os.write(output, PASTE_MODE_OFF)


def follow_window_size(fd: int, reactor: IReactorThreads, chat_terminal: ChatTerminal) -> None:
    """Tell ``chat_terminal`` the new size whenever the terminal window is resized."""

    def resized(signum: int, frame: object) -> None:
        size = os.get_terminal_size(fd)
        reactor.callFromThread(chat_terminal.terminalSize, size.columns, size.lines)

    signal.signal(signal.SIGWINCH, resized)
