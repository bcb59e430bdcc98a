"""The server's limits and settings, with their defaults.

Each field is set by a ``twistd tcpchat`` option of the same name
(``max_line`` by ``--max-line``); docs/reliability.md says why each
default is what it is.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LISTEN = "tcp:55555:interface=127.0.0.1"
DEFAULT_IRC_NAME = "tcpchat.local"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Limits that every connection of one server lives by."""

    max_line: int = 2048
    """Longest line accepted, in bytes, without its line ending."""

    handshake_timeout: float = 60.0
    """Seconds a new connection has to choose a nickname."""

    max_clients: int = 10_000
    """Connections served at once; 0 for no limit."""

    max_per_ip: int = 16
    """Connections from one address at once (handshakes included); 0 for no limit."""

    sendq: int = 1024 * 1024
    """Bytes that may wait for a client that does not read before it is cut off."""

    flood_rate: float = 8.0
    """Lines per second a connection may send, sustained; 0 turns pacing off."""

    flood_burst: int = 30
    """Lines a connection may send at once before pacing starts."""

    shutdown_grace: float = 3.0
    """Seconds the server waits for output to drain when it stops."""

    db: str = "tcpchat.db"
    """SQLite file that keeps room history across restarts ("": none, memory only)."""

    history: int = 20
    """Past messages a member is shown on joining a room."""

    history_keep: int = 1000
    """Messages kept per room for replay and /history."""

    history_cache: int = 100
    """Rooms whose recent history stays in memory, least recently used first out;
    the rest is read from the database when asked for."""

    retain_messages: int = 1_000_000
    """Messages kept in the database, or in Redis with ``--redis``, all rooms together; older
    ones are pruned (0: no limit)."""

    retain_days: float = 0.0
    """Days a message is kept in the database before it is pruned (0: no age limit)."""

    close_timeout: float = 5.0
    """Seconds a closing connection has to send what is left (and, on TLS, to
    finish its handshake) before it is aborted."""

    backlog: int = 1024
    """Listen backlog of every TCP and TLS listener whose endpoint sets none."""

    gc_threshold: int = 10_000
    """Objects allocated between two passes of the garbage collector over its youngest
    generation (Python's own default: 700); 0 keeps Python's. Thousands of connections
    each make objects that live long, so frequent passes cost a join storm its speed."""

    crowd: int = 100
    """Members above which a room's join and leave notices are gathered; 0: never."""

    crowd_delay: float = 1.0
    """Seconds over which a crowded room's joins and leaves are gathered."""

    motd: tuple[str, ...] = ()
    """Message of the day: lines shown to every new connection."""

    registration: str = "open"
    """Who makes accounts: "open" (anyone, with /register) or "closed" (an administrator)."""

    require_account: bool = False
    """Only registered nicknames may join (guests are refused)."""

    operators: tuple[str, ...] = ()
    """Accounts that are server operators, besides those the administrator granted."""

    login_delay: float = 1.0
    """Seconds the first wrong password makes the next attempt wait; each one more doubles it."""

    offline_messages: int = 50
    """Private messages kept per registered user while offline (0: none are kept)."""

    offline_days: float = 30.0
    """Days a private message kept for an offline user waits before it is thrown away."""

    irc_name: str = DEFAULT_IRC_NAME
    """The server's name on the IRC listeners: the source of numerics and server notices."""

    irc_ping: float = 120.0
    """Seconds of silence from an IRC client after which the server pings it."""

    irc_ping_timeout: float = 60.0
    """Seconds a pinged IRC client has to answer (anything) before it is disconnected."""

    redis: str = ""
    """Redis URL shared with the chat's other server processes ("": none, this process
    alone): rooms, message ids, history and nicknames are kept there (docs/scaling.md)."""

    whowas: int = 100
    """Departures kept for IRC's WHOWAS (0: none)."""

    lease: float = 6.0
    """Seconds a node's heartbeat in Redis lives unrenewed (with ``redis``): a node that
    dies has its members' leaves told and nicknames freed within 4/3 of it."""
