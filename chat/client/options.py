"""The command line of ``tcpchat-client``: what it accepts and the settings it yields."""

from __future__ import annotations

import argparse
import ipaddress
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chat.client.config import BELL_CHOICES, default_config_path, read_config, settings_help
from chat.client.paste import ASK_ABOVE
from chat.client.scrollback import SCROLLBACK_LINES
from chat.client.session import GREETING_TIMEOUT, LEAVE_TIMEOUT, REJOIN_PATIENCE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 55555
DEFAULT_GREETING_TIMEOUT = GREETING_TIMEOUT
# The longest wait between two attempts to connect: 1, 2, 4, 8 ... up to this.
DEFAULT_RETRY_MAX = 30.0
DEFAULT_TIMESTAMP = "%H:%M"
DEFAULT_BELL = "private"
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
Colours are off with --no-color, or when NO_COLOR is set and neither
--color nor the config file's colour setting says otherwise.

Config file: ~/.config/tcpchat/client.toml ($XDG_CONFIG_HOME/tcpchat/client.toml),
or --config FILE. Every setting is optional and the command line overrides it;
TCPCHAT_PASSWORD overrides password_file. Its settings:
{settings}

Example:
  server = "chat.example.org"
  port = 5000
  tls = true
  nick = "alice"
  password_file = "~/.config/tcpchat/password"
  bell = "all"
  timestamp = "%H:%M:%S"
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
    bell: str = DEFAULT_BELL  # "private", "all" (mentions too) or "off"
    timestamp: str = DEFAULT_TIMESTAMP  # strftime format of each line's time
    log_dir: str | None = None
    paste_ask_above: int = ASK_ABOVE  # a paste of more lines is sent only once the user says so
    scrollback: int = SCROLLBACK_LINES  # lines kept for PageUp and redrawing
    leave_timeout: float = LEAVE_TIMEOUT  # after /quit, how long the server has to close
    retry_max: float = DEFAULT_RETRY_MAX  # the longest wait between attempts to connect
    rejoin_patience: float = REJOIN_PATIENCE  # pipe mode: how long a taken nickname is retried
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


def _lines(text: str) -> int:
    """A count of lines: a whole number, 0 or more."""
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"not a number of lines (0 or more): {text!r}")
    return count


def _scrollback_lines(text: str) -> int:
    count = _lines(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"not a number of lines (1 or more): {text!r}")
    return count


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


def _timestamp_format(text: str) -> str:
    try:
        time.strftime(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a strftime format: {text!r}") from None
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tcpchat-client",
        description=_DESCRIPTION,
        epilog=_EPILOG.format(settings=settings_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", metavar="FILE",
        help="read settings from FILE (default ~/.config/tcpchat/client.toml, if it exists)",
    )
    parser.add_argument("--nick", help="nickname to join with (otherwise it is asked for)")
    parser.add_argument(
        "--password-file", metavar="FILE",
        help="the registered nickname's password is the first line of FILE "
        f"(else ${PASSWORD_VARIABLE}; else it is asked for on a terminal)",
    )
    parser.add_argument(
        "--tls", action=argparse.BooleanOptionalAction, default=None,
        help="connect with TLS (--no-tls: without, whatever the config file says)",
    )
    parser.add_argument(
        "--tls-no-verify", action="store_const", const=False, dest="tls_verify",
        help="with --tls, accept any certificate (a self-signed test server)",
    )
    parser.add_argument(
        "--color", "--colour", action="store_const", const=True, dest="colour",
        help="colours on the terminal even if NO_COLOR is set",
    )
    parser.add_argument(
        "--no-color", "--no-colour", action="store_const", const=False, dest="colour",
        help="no colours on the terminal (also NO_COLOR=1)",
    )
    parser.add_argument(
        "--bell", action="store_const", const="all",
        help="ring the terminal bell for private messages and mentions of your nickname "
        "(default: private messages only)",
    )
    parser.add_argument(
        "--no-bell", action="store_const", const="off", dest="bell", help="never ring the bell"
    )
    parser.add_argument(
        "--timestamp", type=_timestamp_format, metavar="FORMAT",
        help=f"strftime format of the time before each line (default {DEFAULT_TIMESTAMP})"
        .replace("%", "%%"),
    )
    parser.add_argument(
        "--log-dir", metavar="DIR",
        help="keep a log of the conversation in DIR (a file per server and room)",
    )
    parser.add_argument("--log", metavar="FILE", help="write a diagnostic log to FILE")
    parser.add_argument(
        "--greeting-timeout", type=_seconds, metavar="SECONDS",
        help="give up on a connection the server does not greet within SECONDS, and retry "
        f"(default {DEFAULT_GREETING_TIMEOUT:g})",
    )
    parser.add_argument(
        "--paste-ask-above", type=_lines, metavar="LINES",
        help=f"a paste of more than LINES lines is sent only once you say y (default {ASK_ABOVE};"
        " a paste that runs a command always asks)",
    )
    parser.add_argument(
        "--scrollback", type=_scrollback_lines, metavar="LINES",
        help=f"how many lines PageUp reaches back (default {SCROLLBACK_LINES})",
    )
    parser.add_argument(
        "--leave-timeout", type=_seconds, metavar="SECONDS",
        help=f"after /quit, close the connection if the server has not within SECONDS "
        f"(default {LEAVE_TIMEOUT:g})",
    )
    parser.add_argument(
        "--retry-max", type=_seconds, metavar="SECONDS",
        help="the longest wait between two attempts to connect, which double from 1 s "
        f"(default {DEFAULT_RETRY_MAX:g})",
    )
    parser.add_argument(
        "--rejoin-patience", type=_seconds, metavar="SECONDS",
        help="pipe mode: how long a rejoin whose nickname is still taken keeps trying before "
        f"the client gives up with status 2 (default {REJOIN_PATIENCE:g})",
    )
    parser.add_argument(
        "host", nargs="?", metavar="HOST",
        help=f"server host or endpoint string (default {DEFAULT_HOST})",
    )
    parser.add_argument(
        "port", nargs="?", type=_port, metavar="PORT",
        help=f"server port (default {DEFAULT_PORT})",
    )
    return parser


def _config_settings(
    parser: argparse.ArgumentParser, given: str | None, environ: Mapping[str, str]
) -> dict[str, Any]:
    """The config file's settings, checked; a problem with it is a usage error."""
    path = Path(given).expanduser() if given else default_config_path(environ)
    try:
        settings = read_config(path, must_exist=given is not None)
    except ValueError as error:
        parser.error(str(error))
    checks = {
        "port": lambda value: _port(str(value)),
        "greeting_timeout": lambda value: _seconds(str(value)),
        "timestamp": _timestamp_format,
        "paste_ask_above": lambda value: _lines(str(value)),
        "scrollback": lambda value: _scrollback_lines(str(value)),
        "leave_timeout": lambda value: _seconds(str(value)),
        "retry_max": lambda value: _seconds(str(value)),
        "rejoin_patience": lambda value: _seconds(str(value)),
    }
    for key, check in checks.items():
        if key in settings:
            try:
                check(settings[key])
            except argparse.ArgumentTypeError as error:
                parser.error(f"{path}: {key}: {error}")
    return settings


def parse_options(argv: Sequence[str], environ: Mapping[str, str]) -> ClientOptions:
    """Parse the arguments (without the program name) over the config file's settings.

    The command line wins over the config file, which wins over the
    environment for colours (NO_COLOR); TCPCHAT_PASSWORD wins over the
    config file's password_file. Exits with status 2 on a mistake.
    """
    parser = _parser()
    arguments = parser.parse_args(argv)
    config = _config_settings(parser, arguments.config, environ)

    def setting(name: str, key: str, default: Any) -> Any:
        given = getattr(arguments, name)
        return given if given is not None else config.get(key, default)

    host = setting("host", "server", DEFAULT_HOST)
    endpoint = host if _is_endpoint_string(host) else None
    port = arguments.port
    if endpoint is not None and port is not None:
        parser.error("give either an endpoint string or HOST PORT, not both")
    if port is None:
        port = config.get("port", DEFAULT_PORT)
    tls = bool(setting("tls", "tls", False))
    tls_verify = bool(setting("tls_verify", "tls_verify", True))
    if endpoint is not None and tls:
        parser.error("--tls goes with HOST PORT; for an endpoint string use tls:HOST:PORT")
    if not tls_verify and not tls:
        parser.error("--tls-no-verify goes with --tls")
    password = None if arguments.password_file else environ.get(PASSWORD_VARIABLE) or None
    password_file = arguments.password_file or (
        None if password else config.get("password_file")
    )
    if password_file is not None:
        try:
            password = _read_password(str(Path(password_file).expanduser()))
        except ValueError as error:
            parser.error(str(error))
    colour_default = not environ.get("NO_COLOR")
    bell = setting("bell", "bell", DEFAULT_BELL)
    if isinstance(bell, bool):
        bell = "all" if bell else "off"
    assert bell in BELL_CHOICES
    log_dir = setting("log_dir", "log_dir", None)
    log_file = setting("log", "log", None)
    return ClientOptions(
        host=host,
        port=port,
        endpoint=endpoint,
        nick=setting("nick", "nick", None),
        tls=tls,
        tls_verify=tls_verify,
        colour=bool(setting("colour", "colour", colour_default)),
        colours_256=_has_256_colours(environ),
        log_file=None if log_file is None else str(Path(log_file).expanduser()),
        greeting_timeout=float(setting("greeting_timeout", "greeting_timeout",
                                       DEFAULT_GREETING_TIMEOUT)),
        password=password,
        bell=bell,
        timestamp=setting("timestamp", "timestamp", DEFAULT_TIMESTAMP),
        log_dir=None if log_dir is None else str(Path(log_dir).expanduser()),
        paste_ask_above=setting("paste_ask_above", "paste_ask_above", ASK_ABOVE),
        scrollback=setting("scrollback", "scrollback", SCROLLBACK_LINES),
        leave_timeout=float(setting("leave_timeout", "leave_timeout", LEAVE_TIMEOUT)),
        retry_max=float(setting("retry_max", "retry_max", DEFAULT_RETRY_MAX)),
        rejoin_patience=float(setting("rejoin_patience", "rejoin_patience", REJOIN_PATIENCE)),
    )
