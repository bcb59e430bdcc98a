"""Running the client: options, the terminal UI or pipe mode, the reactor and the exit status."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from twisted.internet import stdio
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.task import react
from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

from chat.client.colours import LineStyle, palette_for
from chat.client.connection import keep_connected, retry_policy, server_endpoint
from chat.client.options import ClientOptions, parse_options
from chat.client.pipe import PROGRAM, PipeIO
from chat.client.session import Session, SessionView
from chat.client.terminal import ChatTerminal, follow_window_size, raw_terminal, terminal_protocol
from chat.client.transcript import ConversationLog, LoggedView, log_folder

STDIN = 0
STDOUT = 1

# On SIGINT or SIGTERM in pipe mode, how long leaving (/quit, then letting go
# of stdio) may hold up the exit: the leave timeout, and this much more.
SHUTDOWN_MARGIN = 1.0


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run ``tcpchat-client``: the terminal UI when on a terminal, else pipe mode."""
    options = parse_options(sys.argv[1:] if argv is None else argv, os.environ)
    from twisted.internet import reactor

    try:
        endpoint = server_endpoint(reactor, options)
    except ValueError as error:
        sys.stderr.write(f"{PROGRAM}: {error}\n")
        sys.exit(2)
    conversation = None
    if options.log_dir is not None:
        try:
            conversation = ConversationLog(log_folder(options.log_dir, options.address))
        except OSError as error:
            sys.stderr.write(f"{PROGRAM}: cannot keep a log in {options.log_dir}: "
                             f"{error.strerror}\n")
            sys.exit(2)
    interactive = os.isatty(STDIN) and os.isatty(STDOUT)
    _start_logging(options.log_file, interactive)
    if not interactive:
        react(lambda reactor: ensureDeferred(_run_pipe(reactor, options, endpoint, conversation)))
    with raw_terminal(STDIN):
        react(lambda reactor: ensureDeferred(
            _run_terminal(reactor, options, endpoint, conversation)
        ))


def _logged(view: SessionView, conversation: ConversationLog | None, reactor: Any) -> SessionView:
    """The view the session talks to: ``view``, through the conversation's log if kept."""
    return view if conversation is None else LoggedView(view, conversation, reactor)


def _start_logging(log_file: str | None, interactive: bool) -> None:
    """Diagnostics go to ``--log FILE``; else warnings go to stderr, except on the terminal UI."""
    observers: list[ILogObserver] = []
    if log_file is not None:
        observers.append(textFileLogObserver(open(log_file, "a", encoding="utf-8")))  # noqa: SIM115
    elif not interactive:
        observers.append(
            FilteringLogObserver(
                textFileLogObserver(sys.stderr), [LogLevelFilterPredicate(LogLevel.warn)]
            )
        )
    globalLogBeginner.beginLoggingTo(observers, redirectStandardIO=False)


async def _run_pipe(
    reactor: Any, options: ClientOptions, endpoint: IStreamClientEndpoint,
    conversation: ConversationLog | None,
) -> None:
    pipe = PipeIO()
    session = Session(
        _logged(pipe, conversation, reactor),
        reactor,
        address=options.address,
        nick=options.nick,
        interactive=False,
        greeting_timeout=options.greeting_timeout,
        password=options.password,
        leave_timeout=options.leave_timeout,
        rejoin_patience=options.rejoin_patience,
    )
    pipe.session = session
    stdio.StandardIO(pipe, reactor=reactor)
    await _run_session(reactor, options, session, endpoint, pipe.close, pipe.closed, conversation)


async def _run_terminal(
    reactor: Any, options: ClientOptions, endpoint: IStreamClientEndpoint,
    conversation: ConversationLog | None,
) -> None:
    size = os.get_terminal_size(STDOUT)
    style = LineStyle(options.colour, palette_for(options.colours_256), options.timestamp)
    tls = options.tls or (options.endpoint or "").startswith(("tls:", "ssl:"))
    chat_terminal = ChatTerminal(
        style, reactor, size.columns, size.lines, tls=tls, bell=options.bell,
        paste_ask_above=options.paste_ask_above, scrollback_lines=options.scrollback,
    )
    view = _logged(chat_terminal, conversation, reactor)
    session = Session(
        view,
        reactor,
        address=options.address,
        nick=options.nick,
        interactive=True,
        greeting_timeout=options.greeting_timeout,
        password=options.password,
        leave_timeout=options.leave_timeout,
        rejoin_patience=options.rejoin_patience,
    )
    chat_terminal.session = session
    stdio.StandardIO(terminal_protocol(chat_terminal), reactor=reactor)
    follow_window_size(STDOUT, reactor, chat_terminal)
    view.show_status(f"connecting to {options.address}; Ctrl-D or /quit leaves")
    await _run_session(
        reactor, options, session, endpoint, chat_terminal.close, chat_terminal.closed,
        conversation,
    )


async def _run_session(
    reactor: Any,
    options: ClientOptions,
    session: Session,
    endpoint: IStreamClientEndpoint,
    close_view: Callable[[], None],
    view_closed: Deferred[None],
    conversation: ConversationLog | None = None,
) -> None:
    """Connect until the session is over, let go of stdio, and exit with the session's code.

    Stopping the reactor (SIGINT or SIGTERM in pipe mode) first leaves the
    chat politely, as Ctrl-C does on the terminal, for at most the leave
    timeout and :data:`SHUTDOWN_MARGIN` seconds.
    """
    service = keep_connected(session, endpoint, reactor, retry_policy(options.retry_max))
    all_done: Deferred[None] = Deferred()

    def leave_before_shutdown() -> Deferred[None]:
        session.leave()
        return all_done.addTimeout(
            options.leave_timeout + SHUTDOWN_MARGIN, reactor,
            onTimeoutCancel=lambda result, timeout: None,
        )

    reactor.addSystemEventTrigger("before", "shutdown", leave_before_shutdown)
    service.startService()
    try:
        code = await session.finished
        await service.stopService()
        close_view()
        await view_closed
    finally:
        all_done.callback(None)
        if conversation is not None:
            conversation.close()
    if code:
        raise SystemExit(code)
