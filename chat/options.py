"""Command-line options of ``twistd tcpchat`` and their checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from twisted.cred import strcred
from twisted.cred.credentials import IUsernamePassword
from twisted.internet.endpoints import serverFromString
from twisted.internet.testing import MemoryReactor
from twisted.python import usage

from chat.config import DEFAULT_IRC_NAME, DEFAULT_LISTEN, ServerConfig
from chat.line.render import NOTICE, encode_line
from chat.listener import endpoint_problem
from chat.redis.address import RedisError, blocking_command, parse_url
from chat.text import clean, describe_nickname_fault, nickname_fault


def _at_least(name: str, minimum: float, whole: bool) -> Callable[[str], float]:
    """A parser for --name that refuses anything but a finite number >= minimum."""
    kind = "a whole number" if whole else "a number"

    def parse(value: str) -> float:
        try:
            number: float = int(value) if whole else float(value)
        except ValueError:
            number = float("nan")
        if not minimum <= number < float("inf"):
            raise usage.UsageError(f"--{name} takes {kind} >= {minimum:g}, not {value!r}")
        return number

    return parse


def _whole(name: str, minimum: int) -> Callable[[str], float]:
    return _at_least(name, minimum, whole=True)


def _seconds(name: str, minimum: float) -> Callable[[str], float]:
    return _at_least(name, minimum, whole=False)


_DEFAULTS = ServerConfig()

# name, parser, default, help; each becomes a ServerConfig field.
_LIMITS: list[tuple[str, Callable[[str], float], float, str]] = [
    ("max-line", _whole("max-line", 16), _DEFAULTS.max_line,
     "Longest line accepted, in bytes; a longer one is refused and the connection kept."),
    ("handshake-timeout", _seconds("handshake-timeout", 0.1), _DEFAULTS.handshake_timeout,
     "Seconds a new connection has to choose a nickname."),
    ("max-clients", _whole("max-clients", 0), _DEFAULTS.max_clients,
     "Connections served at once (0: no limit)."),
    ("max-per-ip", _whole("max-per-ip", 0), _DEFAULTS.max_per_ip,
     "Connections from one address at once, handshakes included (0: no limit)."),
    ("sendq", _whole("sendq", 1024), _DEFAULTS.sendq,
     "Bytes queued for a client that does not read before it is cut off."),
    ("flood", _seconds("flood", 0), _DEFAULTS.flood_rate,
     "Lines per second one connection may send, sustained; more are delayed, "
     "never dropped (0: no pacing)."),
    ("flood-burst", _whole("flood-burst", 1), _DEFAULTS.flood_burst,
     "Lines one connection may send at once before pacing starts."),
    ("shutdown-grace", _seconds("shutdown-grace", 0), _DEFAULTS.shutdown_grace,
     "Seconds the server lets output drain when it stops."),
    ("history", _whole("history", 0), _DEFAULTS.history,
     "Past messages shown to a member joining a room (0: none)."),
    ("history-keep", _whole("history-keep", 1), _DEFAULTS.history_keep,
     "Messages kept per room for replay, catching up and /history."),
    ("history-cache", _whole("history-cache", 1), _DEFAULTS.history_cache,
     "Rooms whose recent history stays in memory; the rest is read from the database."),
    ("retain-messages", _whole("retain-messages", 0), _DEFAULTS.retain_messages,
     "Messages kept in the database (or in Redis with --redis), all rooms together "
     "(0: no limit)."),
    ("retain-days", _seconds("retain-days", 0), _DEFAULTS.retain_days,
     "Days a message is kept in the database (0: no age limit)."),
    ("close-timeout", _seconds("close-timeout", 0.1), _DEFAULTS.close_timeout,
     "Seconds a closing connection may take to send what is left before it is aborted."),
    ("backlog", _whole("backlog", 1), _DEFAULTS.backlog,
     "Listen backlog of TCP and TLS listeners whose endpoint sets none."),
    ("gc-threshold", _whole("gc-threshold", 0), _DEFAULTS.gc_threshold,
     "Objects allocated between the garbage collector's passes over new objects "
     "(0: Python's default, 700)."),
    ("crowd", _whole("crowd", 0), _DEFAULTS.crowd,
     "Members above which a room's join/leave notices are gathered (0: never)."),
    ("crowd-delay", _seconds("crowd-delay", 0.01), _DEFAULTS.crowd_delay,
     "Seconds over which a crowded room's joins and leaves are gathered."),
    ("login-delay", _seconds("login-delay", 0), _DEFAULTS.login_delay,
     "Seconds a wrong password makes the next attempt wait, doubling with each one more "
     "(per account up to 30 s, per address up to 300 s)."),
    ("offline-messages", _whole("offline-messages", 0), _DEFAULTS.offline_messages,
     "Private messages kept for a registered user who is offline, delivered at their "
     "next login (0: none are kept)."),
    ("offline-days", _seconds("offline-days", 0.001), _DEFAULTS.offline_days,
     "Days a private message kept for an offline user waits before it is thrown away."),
    ("irc-ping", _seconds("irc-ping", 1), _DEFAULTS.irc_ping,
     "Seconds of silence after which an IRC client is pinged."),
    ("irc-ping-timeout", _seconds("irc-ping-timeout", 1), _DEFAULTS.irc_ping_timeout,
     "Seconds a pinged IRC client has to answer before it is disconnected."),
    ("whowas", _whole("whowas", 0), _DEFAULTS.whowas,
     "Departures remembered for IRC's WHOWAS, newest kept (0: none)."),
    ("lease", _seconds("lease", 0.5), _DEFAULTS.lease,
     "With --redis: seconds this node's heartbeat lasts unrenewed; if the node dies, its "
     "users' leaves are told and their nicknames freed within 4/3 of it."),
]

REGISTRATION = ("open", "closed")
IRC_NAME_MAX = 63
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_IRC_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")

_FIELDS = {"flood": "flood_rate"}


class Options(usage.Options, strcred.AuthOptionMixin):
    """Options of ``twistd tcpchat``; ``--auth`` (twisted.cred's strcred) adds password
    checkers for nicknames the database has no account for."""

    supportedInterfaces = (IUsernamePassword,)

    synopsis = "[--listen ENDPOINT]... [--irc ENDPOINT]... [options]"
    longdesc = (
        "Runs the tcpchat chat room server. Connect with the tcpchat-client, "
        "telnet or nc. Without --listen it listens on " + DEFAULT_LISTEN + "."
    )
    optParameters = [
        ["motd", None, None, "File whose lines greet every new connection."],
        ["db", None, _DEFAULTS.db,
         "SQLite file keeping room history and accounts across restarts "
         "('': none, in memory only)."],
        ["registration", None, _DEFAULTS.registration,
         "Who makes accounts: open (anyone, with /register) or closed (tcpchat-admin only)."],
        ["operators", None, "",
         "Accounts that are server operators, comma-separated (besides tcpchat-admin grant)."],
        ["redis", None, "",
         "Redis URL (redis://[:PASSWORD@]HOST[:PORT][/DB], rediss://...[?ca=PEM&cert=PEM"
         "&key=PEM] for TLS (cert, key: a client certificate), or "
         "unix:PATH[?db=N]; ?ping=S&backoff=S) shared by "
         "every server process of one chat: rooms, message ids, history, nicknames, "
         "accounts and moderation are kept there ('': none, this process alone; "
         "docs/scaling.md)."],
        ["irc-name", None, DEFAULT_IRC_NAME,
         "The server's name on the IRC listeners (a host name with a dot, at most 63 bytes)."],
        *([name, None, default, help, parser] for name, parser, default, help in _LIMITS),
    ]

    optFlags = [
        ["require-account", None, "Only registered nicknames may join: guests are refused."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []
        self["irc"] = []

    def opt_listen(self, description: str) -> None:
        """Where to listen, as a Twisted endpoint: tcp:PORT, tcp6:PORT, unix:PATH, ssl:PORT:privateKey=KEY.pem, systemd:domain=INET:index=0. Repeatable."""  # noqa: E501
        self["listen"].append(_checked_endpoint("listen", description))

    def opt_irc(self, description: str) -> None:
        """Also serve IRC clients (irssi, WeeChat, HexChat) on this endpoint, written as for --listen (tcp:6667:interface=127.0.0.1, ssl:6697:privateKey=KEY.pem). Repeatable; off by default."""  # noqa: E501
        self["irc"].append(_checked_endpoint("irc", description))

    def postOptions(self) -> None:
        if not self["listen"]:
            self["listen"] = [DEFAULT_LISTEN]
        motd: tuple[str, ...] = ()
        if self["motd"] is not None:
            try:
                text = Path(self["motd"]).read_text(encoding="utf-8", errors="replace")
            except OSError as error:
                raise usage.UsageError(
                    f"--motd {self['motd']!r}: {error.strerror or error}"
                ) from None
            motd = tuple(clean(line) for line in text.splitlines())
            self._check_motd_fits(motd)
        database = Path(self["db"])
        if self["db"] not in ("", ":memory:") and not database.parent.is_dir():
            raise usage.UsageError(f"--db {self['db']!r}: folder {database.parent} does not exist")
        if self["registration"] not in REGISTRATION:
            raise usage.UsageError(
                f"--registration takes open or closed, not {self['registration']!r}"
            )
        fields = {
            _FIELDS.get(name, name.replace("-", "_")): self[name] for name, *_ in _LIMITS
        }
        self["auth"] = tuple(self.get("credCheckers", ()))
        self["config"] = ServerConfig(
            motd=motd, db=self["db"], registration=self["registration"],
            require_account=bool(self["require-account"]), operators=self._operators(),
            irc_name=_irc_name(self["irc-name"]), redis=_checked_redis(self["redis"]), **fields,
        )

    def _operators(self) -> tuple[str, ...]:
        names = tuple(name.strip() for name in self["operators"].split(",") if name.strip())
        for name in names:
            fault = nickname_fault(name)
            if fault is not None:
                raise usage.UsageError(
                    f"--operators: {describe_nickname_fault(name, fault)}"
                )
        return names

    def _check_motd_fits(self, motd: tuple[str, ...]) -> None:
        """Refuse a MOTD that could fill a client's send queue on its own at connect."""
        sent = sum(len(encode_line(NOTICE + line)) for line in motd)
        if sent > self["sendq"] / 2:
            raise usage.UsageError(
                f"--motd {self['motd']!r}: {sent} bytes as sent, more than half of --sendq "
                f"({self['sendq']} bytes); shorten it or raise --sendq"
            )


def _checked_endpoint(option: str, description: str) -> str:
    """``description`` if Twisted can listen on it, else a UsageError naming ``--option``."""
    problem = endpoint_problem(description)
    if problem is None:
        try:
            # Built only to be checked, never listened on. A reactor that
            # never runs stands in for the real one, which parsing options
            # must not import: that would install the default reactor,
            # and the choice is twistd's (--reactor).
            serverFromString(MemoryReactor(), description)
        except Exception as error:
            problem = str(error)
    if problem is not None:
        raise usage.UsageError(f"--{option} {description!r}: {problem}")
    return description


def _checked_redis(url: str) -> str:
    """``url`` if it names a Redis that answers now (or is ''), else a UsageError."""
    if not url:
        return url
    try:
        address = parse_url(url)
        blocking_command(address, "PING")
    except (ValueError, RedisError) as error:
        raise usage.UsageError(f"--redis: {error}") from None
    return url


def _irc_name(name: str) -> str:
    """A server name IRC clients read as one: a host name with at least one dot."""
    if len(name) > IRC_NAME_MAX or _IRC_NAME.fullmatch(name) is None:
        raise usage.UsageError(
            f"--irc-name {name!r}: use a host name with a dot (tcpchat.example.org), "
            f"letters, digits and - between the dots, at most {IRC_NAME_MAX} bytes"
        )
    return name
