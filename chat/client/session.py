"""The chat session: nickname handshake, sending, rejoining and leaving, apart from any screen.

A :class:`Session` lives as long as the client runs and outlasts each
connection. It is told about connections, server lines, connection
failures and what the user types, and it tells a :class:`SessionView`
what to show. It decides nothing about terminals or pipes, so it is
tested with ``twisted.internet.testing`` alone.

It asks the server for message ids (``/ids``) and remembers its resume
token, its room and the last message id seen there (its own messages'
acknowledged ids included), so that after a lost connection it rejoins with
``/resume ROOM ID TOKEN``: the same room, every missed message exactly once,
and its nickname back even if the server still holds the old connection.

A registered nickname is answered with its password when the server asks
for it (a notice naming a password, after the nickname): the one given
(``--password-file``, ``TCPCHAT_PASSWORD``) or typed this session, kept in
memory for rejoining and nowhere else. Without one a terminal asks the user
(hidden input, through :meth:`SessionView.password_wanted`); pipe mode stops,
as it does when the password is wrong.

The user's own messages are shown when the server acknowledges them (a bare
``@id=N``), so they appear in the server's order, and one the server refuses
is shown as refused with the server's reason. The server handles a
connection's lines in order and answers each message with exactly one ack
or error; a command's answer has no fixed length, so before a message that
follows a command the client sends ``/ids`` again, whose distinctive answer
(not shown) marks the end of the command's answer.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass
from enum import Enum, auto
from typing import Protocol, cast

from OpenSSL import SSL
from service_identity import VerificationError
from twisted.application.internet import backoffPolicy
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectError, ConnectionClosed
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime, ITCPTransport
from twisted.internet.protocol import Factory, connectionDone
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from chat.client.lines import (
    LOBBY,
    Kind,
    ServerLine,
    asks_for_nickname,
    asks_for_password,
    command_name,
    history_count,
    is_ids_answer,
    keeps_out,
    masked,
    mentions,
    message_text,
    parse,
    resume_token,
    split_message_id,
    welcomed_nick,
)
from chat.client.roster import (
    AWAY_ANSWER,
    REGISTERED_SUFFIX,
    ROOMS_ANSWER,
    WHO_ANSWER,
    Roster,
    kicked_to_lobby,
)
from chat.client.status import Link, Status
from chat.client.unread import ReplayFollower, UnreadMarker
from chat.text import clean, nickname_problem, relayable

log = Logger()

# After /quit, how long the server has to close the connection before we do.
LEAVE_TIMEOUT = 5.0

# In pipe mode, how long a rejoin whose nickname is refused (still taken, as
# by the lost connection the server has not noticed yet) keeps trying before
# the client gives up; and the seconds before each try: 1, 2, 4, 8, 8, ...
REJOIN_PATIENCE = 30.0
REJOIN_BACKOFF = backoffPolicy(initialDelay=0.5, maxDelay=8.0, factor=2.0, jitter=lambda: 0.0)

# How long a new connection may stay silent before the client gives up on it
# and tries again (a server that accepted it but is too busy to greet it).
GREETING_TIMEOUT = 10.0

# What to do about a server certificate that cannot be verified.
CERTIFICATE_ADVICE = (
    "the server's certificate is not trusted; for a test server use --tls --tls-no-verify "
    "(checks nothing), or trust its certificate with tls:HOST:PORT:trustRoots=DIR "
    "(DIR holding it as a .pem file)"
)

# Exit codes.
EXIT_OK = 0
EXIT_UNREACHABLE = 1
EXIT_NICKNAME_REFUSED = 2
EXIT_PASSWORD = 1  # pipe mode: the nickname's password was not given, or was wrong

PASSWORD_ADVICE = "give it with --password-file FILE or in TCPCHAT_PASSWORD"


class SessionView(Protocol):
    """What a session shows; the terminal UI and pipe mode each provide one."""

    def show_line(self, line: str) -> None:
        """Show a line the server sent (without its line ending)."""

    def show_own_line(self, line: str) -> None:
        """Show what the user said, as the others see it, once the server has accepted it."""

    def show_refused(self, own_line: str, error_line: str) -> None:
        """Show that the server refused what the user said (``own_line``), and its ``!!!`` line."""

    def show_status(self, text: str) -> None:
        """Show news from the client itself: connection lost, retrying, back."""

    def show_error(self, text: str) -> None:
        """Show a problem from the client itself, such as why it has to stop."""

    def nickname_wanted(self) -> None:
        """The next line the user enters will be taken as the nickname."""

    def nickname_changed(self, nick: str) -> None:
        """The server now knows the user by this nickname."""

    def password_wanted(self) -> None:
        """The server asks for the nickname's password: the user is to type it, hidden, and it
        is to be given to :meth:`Session.password_entered` (never to ``user_line``)."""

    def status_changed(self, status: Status) -> None:
        """What the status line shows has changed (room, users, connection, away, ...)."""

    def show_unread(self, marker: UnreadMarker) -> None:
        """The lines that follow are new to the user, as ``marker`` counts them: the place to
        mark between what was seen and what was not."""


class Phase(Enum):
    """Where a session stands."""

    OFFLINE = auto()  # no connection: not yet made, or lost and waiting to retry
    NAMING = auto()  # connected; the nickname is not yet accepted
    CHATTING = auto()  # in the room
    LEAVING = auto()  # /quit sent; waiting for the server to close
    ENDED = auto()


def describe_failure(reason: Failure) -> str:
    """A short, human reason for a failed or lost connection, such as "Connection refused"."""
    error = reason.value
    if isinstance(error, ConnectError) and error.args and error.args[0]:
        return str(error.args[0])
    if isinstance(error, SSL.Error) and error.args and isinstance(error.args[0], list):
        return "TLS: " + ", ".join(str(problem[-1]) for problem in error.args[0])
    if isinstance(error, VerificationError):
        return "TLS: the certificate is not for this host name"
    return reason.getErrorMessage().rstrip(".") or type(error).__name__


def is_untrusted_certificate(reason: Failure) -> bool:
    """Whether a connection failed because the server's certificate could not be verified."""
    if isinstance(reason.value, VerificationError):
        return True
    problem = describe_failure(reason)
    return problem.startswith("TLS: ") and "certificate verify failed" in problem


@dataclass(frozen=True)
class _Sent:
    """A line sent in the room and not yet answered.

    ``kind`` is MESSAGE or ACTION for something said (answered by one ack or
    one error), None for a command; ``text`` is what the others would see,
    ``typed`` the line as sent.
    """

    kind: Kind | None
    text: str
    typed: str

    def shown_as(self, nick: str) -> str:
        return f"<{nick}> {self.text}" if self.kind is Kind.MESSAGE else f"* {nick} {self.text}"


# The client's own /ids, sent after a command to mark where its answer ends.
_BARRIER = _Sent(None, "", "/ids")


class Session:
    """One user's presence in the chat across connections.

    ``interactive`` sessions (the terminal UI) ask again for a refused
    nickname and keep retrying a server that cannot be reached; the others
    (pipe mode) end with :data:`EXIT_NICKNAME_REFUSED` or
    :data:`EXIT_UNREACHABLE` instead, except that once in the room they
    keep reconnecting, and a rejoin refused its nickname tries again for
    ``rejoin_patience`` seconds. :attr:`finished` fires with the exit
    code once the session is over.
    """

    def __init__(
        self,
        view: SessionView,
        clock: IReactorTime,
        *,
        address: str,
        nick: str | None,
        interactive: bool,
        greeting_timeout: float = GREETING_TIMEOUT,
        password: str | None = None,
        leave_timeout: float = LEAVE_TIMEOUT,
        rejoin_patience: float = REJOIN_PATIENCE,
    ) -> None:
        self.view = view
        self.clock = clock
        self.address = address
        self.nick = nick
        self.interactive = interactive
        self.greeting_timeout = greeting_timeout
        self.leave_timeout = leave_timeout
        self.rejoin_patience = rejoin_patience
        self.room = LOBBY
        self.phase = Phase.OFFLINE
        self.finished: Deferred[int] = Deferred()
        self._connection: ServerConnection | None = None
        self._outbox: deque[str] = deque()
        self._joined_before = False
        self._pending_refusal: str | None = None
        self._pending_nick_change: str | None = None
        self._pending_room: str | None = None
        self._last_id = 0  # the highest message id seen in self.room
        self._ids_asked = False  # /ids sent; its answer, noise to the user, not yet seen
        self._resume_token: str | None = None  # from the answer to /ids
        # Lines sent in the room and not yet answered, in order; and the messages
        # and actions of a lost connection, which the rejoin's replay shows if the
        # server had them (their ids were lost) and which are sent again if not.
        self._awaiting: deque[_Sent] = deque()
        self._in_doubt: list[_Sent] = []
        # After a rejoin, until the barrier's answer: the replay is still coming.
        self._catching_up = False
        # After a rejoin, until the replay starts: its header gives way to the unread
        # marker (terminal), and its end is said to be that of the missed messages.
        self._missed_header_due = False
        self._showing_missed = False
        # The last message id seen in each room the user was in this session (not the
        # current one: self._last_id), and where the replays' unread markers go.
        self._seen_in: dict[str, int] = {}
        self._replays = ReplayFollower()
        # Connections in a row that ended before a welcome (refused, TLS, silent),
        # which count as failed attempts for the retry backoff.
        self.unwelcomed_connections = 0
        self._greeting_timer: IDelayedCall | None = None
        # While a rejoin is refused its nickname: when to give up, tries so far, the next one.
        self._rejoin_deadline: float | None = None
        self._rejoin_tries = 0
        self._rejoin_timer: IDelayedCall | None = None
        # Why the client is offline and what it does about it, told with the retry delay.
        self._offline_news: tuple[str, str] | None = None
        self._leave_timer: IDelayedCall | None = None
        self._exit_code = EXIT_OK
        # The nickname's password, given or typed this session; only ever sent
        # in answer to the server's prompt for it, never shown, logged or written.
        self._password = password
        # On this connection: a line asking for a nickname seen (a prompt for the
        # password comes after it, unlike a message of the day naming a password);
        # and the server waiting for the password, which the user is typing.
        self._nickname_asked = False
        self._password_asked = False
        # A password typed while the server was not asking for one (still judging
        # the one sent before, or offline): the answer to its next prompt.
        self._typed_ahead: str | None = None
        # An operator's disconnection or a ban, told just before the connection closed.
        self._kept_out: str | None = None
        # Where the user is and who is there, from the server's notices; when the
        # next connection attempt is due; whether this connection sent a password.
        self.roster = Roster()
        self._retry_at: float | None = None
        self._password_sent = False
        # The answers (to /who and /rooms the client asked on its own, on a
        # terminal) that are taken in for the roster and not shown, in order.
        self._quiet_answers: deque[re.Pattern[str]] = deque()
        # The password of a /register or /password sent, until the server confirms it.
        self._pending_password: str | None = None

    # Told by the connection

    def connection_made(self, connection: ServerConnection) -> None:
        """A connection to the server is open: start the nickname handshake."""
        if self.phase is Phase.ENDED:
            connection.close()
            return
        log.info("connected to {address}", address=self.address)
        self._connection = connection
        self._offline_news = None
        self._pending_refusal = None
        self._nickname_asked = self._password_asked = self._password_sent = False
        self._retry_at = None
        self.phase = Phase.NAMING
        self._status_changed()
        self._greeting_timer = self.clock.callLater(self.greeting_timeout, self._no_greeting)
        if self._joined_before:
            token = "" if self._resume_token is None else f" {self._resume_token}"
            connection.send_line(f"/resume {self.room} {self._last_id}{token}")
        else:
            connection.send_line("/ids")
            self._ids_asked = True
        if self.nick is None:
            self.view.nickname_wanted()
        else:
            self._send_nick()

    def line_received(self, line: str) -> None:
        """A line from the server (without its line ending); its id tag is noted, not shown.

        A line that is only a tag acknowledges the user's own message: it is
        seen, so that a rejoin does not replay it, and the message is shown.
        """
        self._cancel_greeting_timer()
        message_id, line = split_message_id(line)
        if message_id is not None:
            self._last_id = max(self._last_id, message_id)
            if not line:
                self._acknowledged()
                return
        if self.phase is Phase.NAMING:
            self._handshake_line(line)
            return
        if self.phase is Phase.CHATTING:
            said = parse(line)
            if said.kind is Kind.ERROR and keeps_out(said.text):
                self._kept_out = said.text
            marker = self._replays.take(said, message_id)
            if marker is not None:
                self.view.show_unread(marker)
            if self._answered(said, line) or self._quiet_answer(said):
                return
            changed = self.roster.take(said, self.nick)
            self._follow_changes(said)
            shown = self._missed_messages_line(said, line)
            if changed:
                self._status_changed()
            if shown is None:
                return
            line = shown
        self.view.show_line(line)

    def connection_lost(self, reason: Failure) -> None:
        """The connection closed; the connection service is about to schedule a retry."""
        log.info("connection closed: {reason}", reason=describe_failure(reason))
        self._connection = None
        self._nickname_asked = self._password_asked = False
        self._quiet_answers.clear()
        self._cancel_rejoin_try()
        self._cancel_greeting_timer()
        self._in_doubt.extend(sent for sent in self._awaiting if sent.kind is not None)
        self._awaiting.clear()
        self._catching_up = self._missed_header_due = self._showing_missed = False
        self._replays.forget()
        if self.phase is not Phase.CHATTING:
            self.unwelcomed_connections += 1
        if self.phase in (Phase.LEAVING, Phase.ENDED):
            self._end()
            return
        refusal, self._pending_refusal = self._pending_refusal, None
        kept_out = self._kept_out or (refusal if refusal and keeps_out(refusal) else None)
        if kept_out is not None:
            self.phase = Phase.OFFLINE
            self._give_up(EXIT_UNREACHABLE, f"not reconnecting: {kept_out}")
            return
        if refusal is not None:
            self._offline_news = (refusal, "retrying")
        elif isinstance(reason.value, ConnectionClosed):
            self._offline_news = ("connection lost", "reconnecting")
        elif is_untrusted_certificate(reason):
            problem = f"cannot connect to {self.address} ({describe_failure(reason)})"
            self._offline_news = (problem, "retrying")
            if not self.interactive and not self._joined_before:
                self.phase = Phase.OFFLINE
                self._give_up(EXIT_UNREACHABLE, f"{problem}: {CERTIFICATE_ADVICE}")
                return
            if self.unwelcomed_connections == 1:
                self.view.show_status(CERTIFICATE_ADVICE)
        else:
            self._offline_news = (f"connection lost ({describe_failure(reason)})", "reconnecting")
        was_chatting = self.phase is Phase.CHATTING or self._joined_before
        self.phase = Phase.OFFLINE
        if not (self.interactive or was_chatting):
            self._give_up(
                EXIT_UNREACHABLE, f"cannot chat on {self.address}: {self._offline_news[0]}"
            )

    # Told by the connection service

    def connection_failed(self, reason: Failure) -> None:
        """An attempt to connect failed."""
        log.info("cannot connect: {reason}", reason=describe_failure(reason))
        if self.phase is Phase.ENDED:
            return
        problem = describe_failure(reason)
        self._offline_news = (f"cannot connect to {self.address} ({problem})", "retrying")
        if not (self.interactive or self._joined_before):
            self._give_up(EXIT_UNREACHABLE, f"cannot connect to {self.address}: {problem}")

    def retry_scheduled(self, delay: float) -> None:
        """The next connection attempt is ``delay`` seconds away."""
        if self.phase is Phase.ENDED or self._offline_news is None:
            return
        self._retry_at = self.clock.seconds() + delay
        self._status_changed()
        what_happened, next_step = self._offline_news
        self.view.show_status(f"{what_happened}; {next_step} in {math.ceil(delay)}s")

    # Told by the user

    def user_line(self, text: str) -> None:
        """A line the user entered: a nickname, a message or a command."""
        if self.phase in (Phase.LEAVING, Phase.ENDED) or not clean(text).strip():
            return
        if self.nick is None:
            self.nick = text.strip()
            if self.phase is Phase.NAMING:
                self._send_nick()
            return
        if self.phase is Phase.CHATTING and not self._catching_up:
            self._say(text)
            return
        self._outbox.append(text)
        self._status_changed()
        if self.phase is Phase.OFFLINE and self.interactive:
            self.view.show_status("not connected: this will be sent once back")

    def password_entered(self, password: str) -> None:
        """The user typed the nickname's password: it answers the server, now or on rejoining."""
        if self.phase in (Phase.LEAVING, Phase.ENDED) or not password:
            return
        if self._password_asked:
            self._password = password
            self._send_password()
        else:
            self._typed_ahead = password

    def end_of_input(self) -> None:
        """No more input will come (pipe mode): send what is pending, then leave."""
        if self.nick is None:
            self._give_up(EXIT_NICKNAME_REFUSED, "no nickname was given")
        else:
            self.user_line("/quit")

    def leave(self) -> None:
        """The user wants to leave now (Ctrl-C, Ctrl-D, a signal); asked again, close at once."""
        if self.phase is Phase.OFFLINE:
            self._end()
        elif self.phase in (Phase.NAMING, Phase.CHATTING):
            self._leave_now()
        elif self.phase is Phase.LEAVING:
            self._close_now()

    # The handshake

    def _no_greeting(self) -> None:
        self._greeting_timer = None
        log.info("no greeting within {timeout}s", timeout=self.greeting_timeout)
        if self._connection is not None:
            self._pending_refusal = (
                f"no greeting from {self.address} within {self.greeting_timeout:g}s"
            )
            self._connection.abort()

    def _cancel_greeting_timer(self) -> None:
        if self._greeting_timer is not None and self._greeting_timer.active():
            self._greeting_timer.cancel()
        self._greeting_timer = None

    def _send_nick(self) -> None:
        assert self._connection is not None and self.nick is not None
        self._connection.send_line(self.nick)

    def _handshake_line(self, line: str) -> None:
        nick = welcomed_nick(line)
        if nick is not None:
            self._welcomed(nick, line)
            return
        said = parse(line)
        if said.kind is Kind.ERROR:
            # A refused nickname is followed by the prompt again; a refused
            # connection (server full) is followed by the connection closing.
            self._pending_refusal = said.text
            if self.interactive:
                self.view.show_line(line)
            return
        if self._ids_asked and said.kind is Kind.NOTICE and is_ids_answer(said.text):
            self._ids_asked = False
            self._resume_token = resume_token(said.text)
            return
        if said.kind is Kind.NOTICE and self._nickname_asked and asks_for_password(said.text):
            self._password_prompt(line)
            return
        if said.kind is Kind.NOTICE and asks_for_nickname(said.text):
            self._nickname_asked = True
        refusal, self._pending_refusal = self._pending_refusal, None
        if refusal is not None:
            self._nick_refused(refusal)
        # The greeting is shown once; the prompt again when the user is to answer it.
        asked_again = refusal is not None and self.interactive
        if self.phase is Phase.NAMING and (asked_again or not self._joined_before):
            self.view.show_line(line)

    def _password_prompt(self, line: str) -> None:
        """The server asks for the nickname's password: give it, ask the user, or stop.

        After a ``!!!`` line the password sent was wrong: it is forgotten, and
        asked for again on a terminal (unless the user has typed another one
        already); pipe mode stops with the server's reason.
        """
        refusal, self._pending_refusal = self._pending_refusal, None
        if self._typed_ahead is not None:
            self._password, self._typed_ahead = self._typed_ahead, None
            self._send_password()
            return
        if refusal is not None:
            self._password = None
            if not self.interactive:
                self._give_up(EXIT_PASSWORD, refusal)
                return
        elif self._password is not None:
            if not self._joined_before:
                self.view.show_line(line)
            self._send_password()
            return
        elif not self.interactive:
            self._give_up(
                EXIT_PASSWORD, f'nickname "{self.nick}" needs a password: {PASSWORD_ADVICE}'
            )
            return
        self.view.show_line(line)
        self._password_asked = True
        self.view.password_wanted()

    def _send_password(self) -> None:
        assert self._connection is not None and self._password is not None
        log.info("sending the password of {nick}", nick=self.nick)
        self._password_asked = False
        self._password_sent = True
        self._connection.send_line(self._password)

    def _welcomed(self, nick: str, line: str) -> None:
        log.info("in the room as {nick}", nick=nick)
        self.nick = nick
        self.phase = Phase.CHATTING
        self._pending_refusal = self._typed_ahead = None
        self._rejoin_deadline = None
        self._rejoin_tries = 0
        self.unwelcomed_connections = 0
        self.roster.welcomed(line.removeprefix("*** "))
        self.roster.account = nick if self._password_sent else None
        # A new connection is not away: on a terminal, away again as the user was.
        away, self.roster.away = self.roster.away, None
        if self._joined_before:
            self.view.show_status(f"reconnected: back in the room as {nick}")
            self._missed_header_due = self.interactive
            self._replays.expect(self.room, self._last_id, reconnected=True)
        else:
            self.view.show_line(line)
        self._joined_before = True
        self.view.nickname_changed(nick)
        self._status_changed()
        if self.interactive:
            self._ask_quietly("/who", WHO_ANSWER)
            self._ask_quietly("/rooms", ROOMS_ANSWER)
            if away is not None:
                self._ask_quietly(f"/away {away}", AWAY_ANSWER)
        if self._in_doubt:
            # Whether the server had them shows in the replay, which ends before
            # the barrier's answer; what typed since waits until then.
            self._catching_up = True
            self._send_barrier()
        else:
            self._send_outbox()

    def _send_outbox(self) -> None:
        while self._outbox and self.phase is Phase.CHATTING:
            self._say(self._outbox.popleft())
        self._status_changed()

    def _nick_refused(self, reason: str) -> None:
        if self.interactive:
            self.nick = None
            self.view.nickname_wanted()
        elif self._joined_before:
            self._try_rejoin_later(reason)
        else:
            self._give_up(EXIT_NICKNAME_REFUSED, reason)

    def _try_rejoin_later(self, reason: str) -> None:
        """Send the nickname again after a while: the server may yet notice the lost connection."""
        now = self.clock.seconds()
        if self._rejoin_deadline is None:
            self._rejoin_deadline = now + self.rejoin_patience
        remaining = self._rejoin_deadline - now
        if remaining <= 0:
            self._give_up(
                EXIT_NICKNAME_REFUSED,
                f"{reason}; gave up rejoining after {self.rejoin_patience:g}s",
            )
            return
        self._rejoin_tries += 1
        delay = min(REJOIN_BACKOFF(self._rejoin_tries), remaining)
        self.view.show_status(f"{reason}; trying again in {math.ceil(delay)}s")
        self._rejoin_timer = self.clock.callLater(delay, self._send_nick)

    def _cancel_rejoin_try(self) -> None:
        if self._rejoin_timer is not None and self._rejoin_timer.active():
            self._rejoin_timer.cancel()
        self._rejoin_timer = None

    # Chatting

    def _say(self, text: str) -> None:
        assert self._connection is not None and self.nick is not None
        command = command_name(text)
        # What the others would see, by the server's rule; nothing for a message
        # it would drop unseen (blanks only), which is not sent: it gets no ack.
        said = relayable(message_text(text)) if command is None else ""
        action = relayable(_argument(text)).strip() if command == "me" else ""
        if command is None and not said.strip():
            return
        if said or action:
            if self._awaiting and self._awaiting[-1].kind is None:
                self._send_barrier()  # the last command's answer ends before its answer
            if said:
                self._awaiting.append(_Sent(Kind.MESSAGE, said, text))
            else:
                self._awaiting.append(_Sent(Kind.ACTION, action, text))
            self._connection.send_line(text)
            self._status_changed()
            return
        if command == "nick" and self.interactive:
            problem = nickname_problem(_argument(text)) if _argument(text) else None
            if problem is not None:
                self.view.show_error(f"{problem}; your nickname is still {self.nick}")
                return
        # A command is never shown as typed; one holding a password is not kept as typed either.
        self._awaiting.append(_Sent(None, masked(text), masked(text)))
        self._connection.send_line(text)
        if command in ("register", "password") and _argument(text):
            # Kept for logging in again on reconnecting, once the server confirms it.
            arguments = _argument(text)
            self._pending_password = arguments if command == "register" else arguments.split()[-1]
        if command == "nick":
            self._pending_nick_change = _argument(text)
        elif command == "join":
            self._pending_room = _argument(text).lstrip("#") or None
        elif command == "quit":
            self._start_leaving()

    def _send_barrier(self) -> None:
        assert self._connection is not None
        self._awaiting.append(_BARRIER)
        self._connection.send_line(_BARRIER.typed)

    def _acknowledged(self) -> None:
        """The server accepted the oldest message or action awaiting an answer: show it."""
        while self._awaiting:
            sent = self._awaiting.popleft()
            if sent.kind is not None:
                assert self.nick is not None
                self.view.show_own_line(sent.shown_as(self.nick))
                self._status_changed()
                return

    def _answered(self, said: ServerLine, line: str) -> bool:
        """Whether a line answers something sent, and has been dealt with (it is not shown)."""
        if said.stamp is not None and self._in_doubt and said.nick == self.nick:
            said_again = (said.kind, said.text)
            own = [sent for sent in self._in_doubt if (sent.kind, sent.text) == said_again]
            if own:
                # The server had it: its place in the replay is its acknowledgement.
                self._in_doubt.remove(own[0])
                self.view.show_own_line(line)
                return True
            return False
        head = self._awaiting[0] if self._awaiting else None
        if said.kind is Kind.ERROR and head is not None and head.kind is not None:
            self._awaiting.popleft()
            assert self.nick is not None
            self.view.show_refused(head.shown_as(self.nick), line)
            self._status_changed()
            return True
        barrier_sent = any(sent is _BARRIER for sent in self._awaiting)
        if said.kind is Kind.NOTICE and is_ids_answer(said.text) and barrier_sent:
            while self._awaiting.popleft() is not _BARRIER:
                pass
            if self._catching_up:
                self._caught_up()
            return True
        return False

    def _caught_up(self) -> None:
        """The replay after a rejoin is over: send what the server did not have, then the rest."""
        self._catching_up = False
        self._outbox.extendleft(reversed([sent.typed for sent in self._in_doubt]))
        self._in_doubt.clear()
        self._send_outbox()

    def _missed_messages_line(self, said: ServerLine, line: str) -> str | None:
        """After a rejoin on a terminal, the replay's header gives way to the unread marker
        (None: not shown) and its end says it ends the missed messages."""
        if said.kind is not Kind.NOTICE:
            self._missed_header_due = False
            return line
        if self._missed_header_due and history_count(said.text) is not None:
            self._missed_header_due = False
            self._showing_missed = True
            return None
        if self._showing_missed and said.text == "end of history":
            self._showing_missed = False
            return "*** end of missed messages"
        return line

    def _entered(self, room: str) -> None:
        """Now in ``room``: remember how far the user had seen the one left, and the marker
        for the replay of the new one goes after what the user saw of it before, if anything."""
        self._seen_in[self.room.lower()] = self._last_id
        seen = self._seen_in.pop(room.lower(), None)
        self.room = room
        self._last_id = seen or 0
        self._replays.expect(room, seen, reconnected=False)

    def _ask_quietly(self, command: str, answer: re.Pattern[str]) -> None:
        """Send a command whose answer (matching ``answer``) is for the roster, not shown."""
        assert self._connection is not None
        self._quiet_answers.append(answer)
        self._connection.send_line(command)

    def _quiet_answer(self, said: ServerLine) -> bool:
        """Whether a line is the answer to a command the client asked on its own (taken in)."""
        if said.kind is not Kind.NOTICE or not self._quiet_answers:
            return False
        if self._quiet_answers[0].fullmatch(said.text) is None:
            return False
        self._quiet_answers.popleft()
        self.roster.take(said, self.nick)
        self._status_changed()
        return True

    def _follow_changes(self, said: ServerLine) -> None:
        """Take in a /nick or /join once the server confirms it; forget it if refused."""
        if said.kind is Kind.ERROR:
            self._pending_nick_change = self._pending_room = self._pending_password = None
            if kicked_to_lobby(said.text):
                self._entered(LOBBY)
                if self.interactive:
                    self._ask_quietly("/who", WHO_ANSWER)
            return
        if said.kind is not Kind.NOTICE:
            return
        if self._pending_password and (
            said.text == "password changed" or said.text.endswith(REGISTERED_SUFFIX)
        ):
            self._password, self._pending_password = self._pending_password, None
        nick = self._pending_nick_change
        if nick and said.text.endswith(f" is now known as {nick}"):
            self._pending_nick_change = None
            self.nick = nick
            self.view.nickname_changed(nick)
        room = self._pending_room
        if room and mentions(said.text, room):
            self._pending_room = None
            self._entered(room)
            if self.interactive:
                self._ask_quietly("/who", WHO_ANSWER)

    # The status line

    def status(self) -> Status:
        """What the status line is to show now."""
        match self.phase:
            case Phase.CHATTING:
                link = Link.CONNECTED
            case Phase.NAMING:
                link = Link.LOGGING_IN
            case Phase.LEAVING | Phase.ENDED:
                link = Link.LEAVING
            case Phase.OFFLINE:
                waiting = self._retry_at is not None and self._retry_at > self.clock.seconds()
                link = Link.WAITING if waiting else Link.CONNECTING
        roster = self.roster
        unsent = len(self._outbox) + len(self._in_doubt)
        unsent += sum(1 for sent in self._awaiting if sent.kind is not None)
        return Status(
            room=roster.room, users=roster.users, link=link, retry_at=self._retry_at,
            rejoining=self._joined_before, away=roster.away, account=roster.account,
            topic=roster.topic, unsent=unsent,
        )

    def _status_changed(self) -> None:
        self.view.status_changed(self.status())

    # Leaving

    def _leave_now(self) -> None:
        assert self._connection is not None
        self._connection.send_line("/quit")
        self._start_leaving()

    def _start_leaving(self) -> None:
        self.phase = Phase.LEAVING
        self._status_changed()
        self._cancel_rejoin_try()
        self._outbox.clear()
        self._leave_timer = self.clock.callLater(self.leave_timeout, self._close_now)

    def _close_now(self) -> None:
        log.info("closing without waiting for the server")
        if self._connection is not None:
            self._connection.close()

    def _give_up(self, code: int, reason: str) -> None:
        self.view.show_error(reason)
        self._exit_code = code
        if self._connection is None:
            self._end()
        else:
            self.phase = Phase.LEAVING
            self._connection.close()

    def _end(self) -> None:
        if self.phase is Phase.ENDED:
            return
        self.phase = Phase.ENDED
        self._cancel_rejoin_try()
        if self._leave_timer is not None and self._leave_timer.active():
            self._leave_timer.cancel()
        self.finished.callback(self._exit_code)


def _argument(command: str) -> str:
    """What follows a command's name, without surrounding space."""
    return command.partition(" ")[2].strip()


class ServerConnection(LineReceiver):
    """One connection to the server: frames lines and hands them to the session."""

    delimiter = b"\n"
    MAX_LENGTH = 1 << 20

    def __init__(self, session: Session) -> None:
        self.session = session

    def connectionMade(self) -> None:
        self.session.connection_made(self)

    def lineReceived(self, line: bytes) -> None:
        self.session.line_received(line.removesuffix(b"\r").decode("utf-8", "replace"))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.session.connection_lost(reason)

    def send_line(self, text: str) -> None:
        """Send one line of text to the server."""
        self.sendLine(text.encode("utf-8"))

    def close(self) -> None:
        """Close the connection once what was sent has gone out."""
        assert self.transport is not None
        self.transport.loseConnection()

    def abort(self) -> None:
        """Close the connection now, whatever it was doing (a TLS handshake included)."""
        assert self.transport is not None
        cast(ITCPTransport, self.transport).abortConnection()


class ServerConnectionFactory(Factory):
    """Builds the :class:`ServerConnection` of each new connection of a session."""

    noisy = False

    def __init__(self, session: Session) -> None:
        self.session = session

    def buildProtocol(self, addr: IAddress | None) -> ServerConnection:
        return ServerConnection(self.session)
