"""Moderation: bans, mutes, topics and room operators, their rules and their persistence.

Nothing here knows about sockets, lines or wording: a front end asks
:class:`Moderation` whether someone is banned or muted and whether an
:class:`Actor` may kick, ban, mute, set a topic or grant operator status,
and renders the typed facts and refusals it is given.

- :mod:`chat.moderation.targets`: reading ``/ban TARGET [DURATION]``;
- :mod:`chat.moderation.rules`: the state, in memory, and who may change it;
- :mod:`chat.moderation.store`: the state in the SQLite database (``--db``).
"""

from chat.moderation.rules import (
    Actor,
    Ban,
    Moderation,
    Mute,
    NotBannedError,
    NotMutedError,
    NotPermittedError,
    Persistence,
    Power,
    Restorable,
    RoomSettings,
    Saved,
    guest_key,
)
from chat.moderation.store import BackgroundModerationStore, ModerationStore
from chat.moderation.targets import (
    DURATION_MAX,
    AccountTarget,
    AddressTarget,
    InvalidDurationError,
    InvalidTargetError,
    NickTarget,
    Target,
    parse_duration,
    parse_target,
    target_text,
)

__all__ = [
    "DURATION_MAX",
    "AccountTarget",
    "Actor",
    "AddressTarget",
    "BackgroundModerationStore",
    "Ban",
    "InvalidDurationError",
    "InvalidTargetError",
    "Moderation",
    "ModerationStore",
    "Mute",
    "NickTarget",
    "NotBannedError",
    "NotMutedError",
    "NotPermittedError",
    "Persistence",
    "Power",
    "Restorable",
    "RoomSettings",
    "Saved",
    "Target",
    "guest_key",
    "parse_duration",
    "parse_target",
    "target_text",
]
