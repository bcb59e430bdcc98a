"""The client in pipe mode against the real server: send, receive, exit status, reconnect."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.certificates import self_signed
from tests.support.client_process import (
    CLIENT,
    TIMEOUT,
    BackgroundClient,
    client_environment,
    run_client,
)
from tests.support.servers import ROOT, LineConnection, free_port
from tests.support.silent_server import silent_server

pytestmark = pytest.mark.e2e


def test_piped_line_reaches_the_room_and_client_exits_0(server, connect):
    """``printf 'hello' | tcpchat-client --nick bot`` says hello, leaves and exits 0."""
    bob = connect("bob")
    finished = run_client(["--nick", "bot", server.host, str(server.port)], "hello\n")
    assert finished.returncode == 0, finished.stderr
    assert bob.expect("<bot>") == "<bot> hello"
    assert "bot has left" in bob.expect("bot")


def test_received_lines_are_printed_plain(server):
    """Each line received is printed as sent, without CR, colours or timestamps."""
    finished = run_client(["--nick", "bot", server.endpoint], "/who\n")
    lines = finished.stdout.splitlines()
    assert lines[0] == "*** Welcome to tcpchat."
    assert lines[-1] == "*** Bye"
    assert any(line.startswith("*** Welcome, bot! ") for line in lines)
    assert "\r" not in finished.stdout
    assert "\x1b" not in finished.stdout


def test_log_dir_keeps_the_conversation_in_a_file_per_server_and_room(server, connect,
                                                                     tmp_path):
    """--log-dir DIR: what was said and received is in DIR/HOST_PORT/lobby.log, each line
    after the local date and time; a directory that cannot be made stops the client with 2."""
    bob = connect("bob")
    finished = run_client(["--nick", "bot", "--log-dir", str(tmp_path), server.host,
                           str(server.port)], "hello from the log\n")
    assert finished.returncode == 0, finished.stderr
    bob.expect("<bot> hello from the log")
    logged = (tmp_path / f"{server.host}_{server.port}" / "lobby.log").read_text()
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \*\*\* Welcome, bot!", logged, re.M)
    assert re.search(r" <bot> hello from the log$", logged, re.M)
    (tmp_path / "file").write_text("")
    refused = run_client(["--nick", "bot", "--log-dir", str(tmp_path / "file"), server.endpoint],
                         "")
    assert refused.returncode == 2
    assert f"cannot keep a log in {tmp_path / 'file'}" in refused.stderr


def test_lines_from_others_are_printed(server, connect, background_clients):
    """What another member says appears on standard output as ``<nick> text``."""
    bot = background_clients(["--nick", "bot", server.host, str(server.port)])
    bot.wait_for(bot.stdout, "*** Welcome, bot!")
    connect("bob").send_line("hi bot, é 日本")
    assert bot.wait_for(bot.stdout, "<bob>") == "<bob> hi bot, é 日本\n"
    bot.end_input()
    assert bot.exit_status() == 0


def test_first_line_is_the_nickname_without_nick_option(server, connect):
    """Without --nick, the first line of input is the nickname."""
    bob = connect("bob")
    finished = run_client([server.host, str(server.port)], "carol\nhi from carol\n")
    assert finished.returncode == 0, finished.stderr
    assert bob.expect("<carol>") == "<carol> hi from carol"


def test_taken_nickname_exits_2_with_the_reason_on_stderr(server, connect):
    """A nickname already taken (in any case) ends the client with status 2 and the reason."""
    connect("bob")
    finished = run_client(["--nick", "BOB", server.host, str(server.port)], "hello\n")
    assert finished.returncode == 2
    assert finished.stderr.strip() == 'tcpchat-client: nickname "BOB" is taken'


def test_invalid_nickname_exits_2(server):
    """A nickname the server finds invalid ends the client with status 2 and the reason."""
    finished = run_client(["--nick", "no spaces", server.host, str(server.port)], "")
    assert finished.returncode == 2
    assert "invalid" in finished.stderr


def test_unreachable_server_exits_1_with_one_line_on_stderr():
    """With nothing listening, the client says so on one line and exits 1."""
    port = free_port()
    finished = run_client(["--nick", "bot", "127.0.0.1", str(port)], "hello\n")
    assert finished.returncode == 1
    assert finished.stderr.splitlines() == [
        f"tcpchat-client: cannot connect to 127.0.0.1:{port}: Connection refused"
    ]


def test_server_that_never_greets_exits_1_after_the_greeting_timeout():
    """A server that accepts and says nothing ends pipe mode at start, saying so, status 1."""
    with silent_server() as silent:
        started = time.monotonic()
        finished = run_client(
            ["--nick", "bot", "--greeting-timeout", "0.5", "127.0.0.1", str(silent.port)], "hi\n"
        )
    assert finished.returncode == 1
    assert time.monotonic() - started < TIMEOUT / 2
    assert finished.stderr == (
        f"tcpchat-client: cannot chat on 127.0.0.1:{silent.port}: "
        f"no greeting from 127.0.0.1:{silent.port} within 0.5s\n"
    )


def test_unusable_endpoint_string_exits_2_saying_why():
    """An endpoint string Twisted cannot parse is refused before connecting, with status 2."""
    finished = run_client(["bogus:127.0.0.1:5000"], "")
    assert finished.returncode == 2
    assert finished.stderr == (
        "tcpchat-client: cannot use endpoint 'bogus:127.0.0.1:5000': "
        "Unknown endpoint type: 'bogus'\n"
    )


def join_when_listening(connect: Callable[[str], LineConnection], nick: str) -> LineConnection:
    """Join as soon as the (re)started server accepts connections."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return connect(nick)
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "the server did not come back"
            time.sleep(0.05)


def test_client_rejoins_after_server_restart_and_sends_what_was_pending(
    server, connect, background_clients
):
    """After the server restarts the client rejoins with its nickname; no input is lost."""
    bot = background_clients(["--nick", "bot", server.host, str(server.port)])
    bot.wait_for(bot.stdout, "*** Welcome, bot!")
    server.stop()
    assert "reconnecting in" in bot.wait_for(bot.stderr, "connection lost")
    bot.send("sent while the server was down")
    server.start()
    watcher = join_when_listening(connect, "watcher")
    bot.wait_for(bot.stderr, "reconnected: back in the room as bot")
    assert watcher.expect("<bot>") == "<bot> sent while the server was down"
    bot.end_input()
    assert bot.exit_status() == 0


def test_sigterm_stops_a_client_nobody_reads_while_the_server_is_down(server):
    """With the server down and the reader of its output gone, SIGTERM still ends the client."""
    reading, writing = os.pipe()
    client = subprocess.Popen(
        [*CLIENT, "--nick", "bot", server.host, str(server.port)],
        stdin=subprocess.PIPE,
        stdout=writing,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=client_environment(),
    )
    os.close(writing)
    try:
        assert client.stderr is not None
        news = BackgroundClient._follow(client.stderr, [])
        with open(reading, encoding="utf-8") as output:
            while not output.readline().startswith("*** Welcome, bot!"):
                pass
            server.stop()
            BackgroundClient.wait_for(news, "connection lost")
        client.send_signal(signal.SIGTERM)
        assert client.wait(3.0) == 0
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(TIMEOUT)


# TLS


class TLSServer:
    """Where a server listens with TLS, and the directory that holds its certificate."""

    host = "127.0.0.1"

    def __init__(self, port: int, roots: Path) -> None:
        self.port = port
        self.roots = roots


@pytest.fixture
def tls_server(start_server, tmp_path: Path) -> TLSServer:
    """The real server also listening with TLS, on a self-signed certificate for 127.0.0.1."""
    roots = tmp_path / "roots"
    roots.mkdir()
    key_file, certificate_file = tmp_path / "key.pem", roots / "server.pem"
    key_pem, certificate_pem = self_signed("127.0.0.1")
    key_file.write_bytes(key_pem)
    certificate_file.write_bytes(certificate_pem)
    port = free_port()
    start_server(
        "--listen",
        f"ssl:{port}:interface=127.0.0.1:privateKey={key_file}:certKey={certificate_file}",
    )
    return TLSServer(port, roots)


def test_tls_no_verify_joins_a_self_signed_server(tls_server):
    """--tls --tls-no-verify talks to a server whose certificate nobody vouches for."""
    finished = run_client(
        ["--nick", "secure", "--tls", "--tls-no-verify", tls_server.host, str(tls_server.port)],
        "hello\n",
    )
    assert finished.returncode == 0, finished.stderr
    assert "*** Welcome, secure! " in finished.stdout


def test_tls_endpoint_with_trust_roots_verifies_the_server(tls_server):
    """``tls:HOST:PORT:trustRoots=DIR`` trusts the certificates in DIR, and checks the host."""
    endpoint = f"tls:{tls_server.host}:{tls_server.port}:trustRoots={tls_server.roots}"
    finished = run_client(["--nick", "verified", endpoint], "hello\n")
    assert finished.returncode == 0, finished.stderr
    assert "*** Welcome, verified! " in finished.stdout


def test_untrusted_certificate_in_pipe_mode_says_what_to_do(tls_server):
    """The one line on stderr names the problem and the ways out: --tls-no-verify, trustRoots."""
    finished = run_client(
        ["--nick", "careful", "--tls", tls_server.host, str(tls_server.port)], "hello\n"
    )
    assert finished.returncode == 1
    (line,) = finished.stderr.splitlines()
    assert "certificate verify failed" in line
    assert "--tls-no-verify" in line and "trustRoots=" in line


# A registered nickname, against a loopback server that speaks the accounts contract


class AccountsServer:
    """Asks for the password of every nickname; a wrong one is refused (late, as a throttled
    server does) and asked again. Records each connection's lines; a right one gets in."""

    password = "right horse battery"

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.received: list[list[str]] = []
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            lines: list[str] = []
            self.received.append(lines)
            thread = threading.Thread(target=self._serve, args=(connection, lines), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket, lines: list[str]) -> None:
        connection.settimeout(TIMEOUT)
        with connection, connection.makefile("rwb") as peer:

            def say(*said: str) -> None:
                peer.write(b"".join(line.encode() + b"\r\n" for line in said))
                peer.flush()

            say("*** Welcome to tcpchat.", "*** Please choose a nickname (1-20 letters):")
            nick = None
            logged_in = False
            for raw in peer:
                line = raw.decode().removesuffix("\n")
                lines.append(line)
                if line == "/ids":
                    say("*** message ids on; resume token T0k3n")
                elif nick is None:
                    nick = line
                    say(f"*** {nick} is registered: type its password")
                elif not logged_in and line != self.password:
                    time.sleep(0.3)
                    say(f"!!! wrong password for {nick}", f"*** {nick}: type its password")
                elif not logged_in:
                    logged_in = True
                    say(f"*** Welcome, {nick}! You are in lobby; 1 online.")
                elif line == "/quit":
                    say("*** Bye")
                    return
                elif line == "/who":
                    say(f"*** 1 user in lobby: {nick}")
                elif line == "/rooms":
                    say("*** 1 room: lobby (1)")
                else:
                    say(f"@id={len(lines)}")

    def close(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(TIMEOUT)
        self._listener.close()


def run_client_with(
    arguments: list[str], given: str, **environment: str
) -> subprocess.CompletedProcess[str]:
    """Run the client with ``given`` piped to it and only these of the password variables."""
    inherited = client_environment()
    inherited.pop("TCPCHAT_PASSWORD", None)
    return subprocess.run(
        [*CLIENT, *arguments],
        input=given,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
        env={**inherited, **environment},
        check=False,
    )


def test_registered_nickname_logs_in_with_the_password_from_a_file_or_the_environment(
    tmp_path: Path,
):
    """Pipe mode: no password, or a wrong one, exits 1 saying why; the right one gets in."""
    accounts = AccountsServer()
    password_file = tmp_path / "password"
    password_file.write_text(AccountsServer.password + "\n")
    address = ["--nick", "alice", "127.0.0.1", str(accounts.port)]
    try:
        without = run_client_with(address, "hello\n")
        wrong = run_client_with(address, "hello\n", TCPCHAT_PASSWORD="wrong horse")
        right = run_client_with(
            ["--password-file", str(password_file), *address], "hello\n",
            TCPCHAT_PASSWORD="wrong horse",
        )
    finally:
        accounts.close()
    assert without.returncode == 1
    assert without.stderr == (
        'tcpchat-client: nickname "alice" needs a password: '
        "give it with --password-file FILE or in TCPCHAT_PASSWORD\n"
    )
    assert wrong.returncode == 1
    assert wrong.stderr == "tcpchat-client: wrong password for alice\n"
    assert right.returncode == 0, right.stderr
    assert "*** Welcome, alice! " in right.stdout
    assert [lines[1:] for lines in accounts.received] == [
        ["alice"],
        ["alice", "wrong horse"],
        ["alice", AccountsServer.password, "hello", "/quit"],
    ]
    assert "horse" not in without.stdout + wrong.stdout + right.stdout + right.stderr
