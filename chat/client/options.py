"""The command line of ``tcpchat-client``: what it accepts and the settings it yields."""

from __future__ import annotations

import argparse
import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 55555
DEFAULT_GREETING_TIMEOUT = 10.0
PASSWORD_VARIABLE = "TCPCHAT_PASSWORD"

_DESCRIPTION = """\
Join a tcpchat room. On a terminal: a line editor with history, colours
and timestamps. When input or output is not a terminal (pipe mode): each
line read is sent, each line received is printed as it is.
"""

_EPILOG = """\
HOST may also be a Twisted client endpoint string, for anything else:
tcp:HOST:PORT, unix:/path/to/socket, tls:HOST:PORT:trustRoots=/dir/of/pems.
A registered nickname's password comes from --password-file FILE (its first
line) or the TCPCHAT_PASSWORD environment variable; without either a terminal
asks for it, hidden. It is kept in memory only, to log in again on reconnecting.
Exit status: 0 after leaving, 1 if the server cannot be reached or the
nickname's password is missing or wrong (pipe mode), 2 if the nickname is
refused (pipe mode) or the command line is wrong.
Colours are off with --no-color or when NO_COLOR is set.
"""


@dataclass(frozen=True)
class ClientOptions:
    """What the command line asks for."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    endpoint: str | None = None
    nick: str | None = None
    tls: bool = False
    tls_verify: bool = True
    colour: bool = True
    colours_256: bool = False
    log_file: str | None = None
    greeting_timeout: float = DEFAULT_GREETING_TIMEOUT
    # The nickname's password from --password-file or TCPCHAT_PASSWORD; never shown.
    password: str | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        """The server's address as the user named it, for messages."""
        if self.endpoint is not None:
            return self.endpoint
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _is_endpoint_string(host: str) -> bool:
    if ":" not in host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return port


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < math.inf:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return seconds


def _read_password(path: str) -> str:
    """The first line of a password file, without its line ending; ValueError saying why not."""
    try:
        with open(path, encoding="utf-8") as file:
            first_line = file.readline()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ValueError(f"cannot read the password file {path}: {reason}") from None
    password = first_line.removesuffix("\n").removesuffix("\r")
    if not password:
        raise ValueError(f"the password file {path} has no password on its first line")
    return password


def _has_256_colours(environ: Mapping[str, str]) -> bool:
    return "256color" in environ.get("TERM", "") or bool(environ.get("COLORTERM"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tcpchat-client",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--nick", help="nickname to join with (otherwise it is asked for)")
    parser.add_argument(
        "--password-file", metavar="FILE",
        help="the registered nickname's password is the first line of FILE "
        f"(else ${PASSWORD_VARIABLE}; else it is asked for on a terminal)",
    )
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    parser.add_argument(
        "--tls-no-verify",
        action="store_true",
        help="with --tls, accept any certificate (a self-signed test server)",
    )
    parser.add_argument(
        "--no-color", action="store_true", help="no colours on the terminal (also NO_COLOR=1)"
    )
    parser.add_argument("--log", metavar="FILE", help="write a diagnostic log to FILE")
    parser.add_argument(
        "--greeting-timeout", type=_seconds, default=DEFAULT_GREETING_TIMEOUT, metavar="SECONDS",
        help="give up on a connection the server does not greet within SECONDS, and retry "
        f"(default {DEFAULT_GREETING_TIMEOUT:g})",
    )
    parser.add_argument(
        "host", nargs="?", default=DEFAULT_HOST, metavar="HOST",
        help=f"server host or endpoint string (default {DEFAULT_HOST})",
    )
    parser.add_argument(
        "port", nargs="?", type=_port, metavar="PORT",
        help=f"server port (default {DEFAULT_PORT})",
    )
    return parser


def parse_options(argv: Sequence[str], environ: Mapping[str, str]) -> ClientOptions:
    """Parse the arguments (without the program name); exits with status 2 on a mistake."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    endpoint = arguments.host if _is_endpoint_string(arguments.host) else None
    if endpoint is not None and arguments.port is not None:
        parser.error("give either an endpoint string or HOST PORT, not both")
    if endpoint is not None and arguments.tls:
        parser.error("--tls goes with HOST PORT; for an endpoint string use tls:HOST:PORT")
    if arguments.tls_no_verify and not arguments.tls:
        parser.error("--tls-no-verify goes with --tls")
    password = environ.get(PASSWORD_VARIABLE) or None
    if arguments.password_file is not None:
        try:
            password = _read_password(arguments.password_file)
        except ValueError as error:
            parser.error(str(error))
    return ClientOptions(
        host=arguments.host,
        port=DEFAULT_PORT if arguments.port is None else arguments.port,
        endpoint=endpoint,
        nick=arguments.nick,
        tls=arguments.tls,
        tls_verify=not arguments.tls_no_verify,
        colour=not arguments.no_color and not environ.get("NO_COLOR"),
        colours_256=_has_256_colours(environ),
        log_file=arguments.log,
        greeting_timeout=arguments.greeting_timeout,
        password=password,
    )
