"""Who is banned or muted where, how rooms are set, and who may change it.

:class:`Moderation` holds, in memory, the bans (:class:`Ban`), the mutes
(:class:`Mute`) and the settings of each room (:class:`RoomSettings`:
owner, topic, operators), and answers the questions a front end asks
before it lets someone in or lets them speak. A ban or mute with a
duration ends by itself: whether it still holds is decided when it is
read, against the injected clock, so no timer is needed.

A ban or mute has a scope: a room key (that room only) or None (the
whole server, every room included). Rooms, nicknames and accounts are
named by their keys, folded with :func:`chat.text.fold`.

The permission rules (:meth:`Moderation.may_kick` and the other ``may_``
methods) answer None when an :class:`Actor` may do something and a
:class:`NotPermittedError` when not: server operators may do everything
everywhere; a room's operators and its owner may kick, ban and mute in
their room, set its topic and its settings; in a room with an owner only
the owner (and server operators) may grant and take operator status, in a
room with none its operators may, as on IRC; its operators give and take
voice, which lets a member speak in a moderated room; anyone may set a topic
unless the room keeps that to its operators.

Given a :class:`Persistence` (the SQLite one is
:class:`chat.moderation.store.BackgroundModerationStore`), every change is
written to it as it is made; :meth:`Moderation.load` rebuilds the state
from it at start-up.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field, replace
from typing import Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from chat.domain.errors import ChatError
from chat.moderation.targets import AccountTarget, AddressTarget, NickTarget, Target

GUEST = "guest:"
"""Marks a guest's nickname among a room's operators, which are otherwise accounts:
no account is ever called that way (nicknames have no ``:``)."""


def guest_key(nick_key: str) -> str:
    """How a guest called ``nick_key`` is named among a room's operators."""
    return GUEST + nick_key


class Power(enum.Enum):
    """What an actor may be refused."""

    KICK = "kick"
    DISCONNECT = "disconnect"
    BAN = "ban"
    MUTE = "mute"
    SET_TOPIC = "set topic"
    CONFIGURE = "configure"
    OP = "op"
    VOICE = "voice"
    INVITE = "invite"


class NotPermittedError(ChatError):
    """The actor may not use ``action`` in ``room`` (None: server-wide)."""

    def __init__(self, action: Power, room: str | None) -> None:
        super().__init__(action, room)
        self.action = action
        self.room = room


class NotBannedError(ChatError):
    """``target`` is not banned (in the scope asked about)."""

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.target = target


class NotMutedError(ChatError):
    """``nick`` is not muted (in the scope asked about)."""

    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks to moderate: a nickname key, the account key it is logged in to, and
    whether that account is a server operator."""

    nick_key: str
    account_key: str | None
    server_operator: bool = False


@dataclass(frozen=True, slots=True)
class Ban:
    """``target`` may not be in ``scope`` (a room key; None: the server) from ``since``
    until ``until`` (None: for ever); ``by`` banned it, for ``reason`` ("" for none)."""

    target: Target
    scope: str | None
    by: str
    reason: str
    since: float
    until: float | None

    def active(self, now: float) -> bool:
        """Whether the ban still holds at ``now``."""
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class Mute:
    """Nothing the nickname keyed ``nick_key`` says reaches anyone in ``scope`` (a room
    key; None: the server) from ``since`` until ``until`` (None: for ever); ``by`` muted it."""

    nick_key: str
    scope: str | None
    by: str
    since: float
    until: float | None

    def active(self, now: float) -> bool:
        """Whether the mute still holds at ``now``."""
        return self.until is None or now < self.until


@dataclass(frozen=True, slots=True)
class RoomSettings:
    """How the room keyed ``key`` is run.

    ``owner`` is the account key of the registered user who created it
    (None: no owner); ``topic`` ("" for none) was set by ``topic_by`` at
    ``topic_at``; with ``topic_ops_only`` only its operators may set it;
    ``operators`` are the account or nickname keys of its operators and
    ``voiced`` those of its voiced members (IRC +v), named as operators are;
    in a ``moderated`` room (+m) only its operators and voiced members speak;
    a ``secret`` room (+s) is not shown to those outside it; with
    ``outside_messages`` (IRC -n) those outside it may send messages to it;
    ``member_limit`` (None: none) is how many may be in it at once (IRC +l),
    ``join_key`` ("" for none) what one must give to join it (+k), and with
    ``invite_only`` (+i) only those invited may join it.
    """

    key: str
    owner: str | None = None
    topic: str = ""
    topic_by: str | None = None
    topic_at: float | None = None
    topic_ops_only: bool = False
    operators: frozenset[str] = field(default_factory=frozenset)
    member_limit: int | None = None
    join_key: str = ""
    invite_only: bool = False
    voiced: frozenset[str] = field(default_factory=frozenset)
    moderated: bool = False
    secret: bool = False
    outside_messages: bool = False

    @property
    def default(self) -> bool:
        """Whether nothing is set: the room is as every unknown room is."""
        return self == RoomSettings(self.key)


@dataclass(frozen=True, slots=True)
class Saved:
    """What a store holds, to rebuild a :class:`Moderation` from."""

    bans: tuple[Ban, ...] = ()
    mutes: tuple[Mute, ...] = ()
    rooms: tuple[RoomSettings, ...] = ()


class Persistence(Protocol):
    """Where a :class:`Moderation` writes each change, without waiting for it."""

    def save_ban(self, ban: Ban) -> None:
        """Keep ``ban``, in place of any with the same target and scope."""

    def delete_ban(self, target: Target, scope: str | None) -> None:
        """Forget the ban of ``target`` in ``scope``."""

    def save_mute(self, mute: Mute) -> None:
        """Keep ``mute``, in place of any of the same nickname and scope."""

    def delete_mute(self, nick_key: str, scope: str | None) -> None:
        """Forget the mute of ``nick_key`` in ``scope``."""

    def save_room(self, room: RoomSettings) -> None:
        """Keep the settings of ``room``, in place of those before."""

    def delete_room(self, key: str) -> None:
        """Forget the settings of the room keyed ``key``: it is back to the defaults."""


class Restorable(Persistence, Protocol):
    """A :class:`Persistence` that can also give back what it holds."""

    def load_all(self, now: float) -> defer.Deferred[Saved]:
        """Everything held that is still active at ``now`` (the rest is forgotten)."""


class Moderation:
    """The bans, mutes and room settings of a server, and the rules about them."""

    def __init__(self, clock: IReactorTime, store: Persistence | None = None) -> None:
        self._clock = clock
        self._store = store
        self._bans: dict[tuple[Target, str | None], Ban] = {}
        self._mutes: dict[tuple[str, str | None], Mute] = {}
        self._rooms: dict[str, RoomSettings] = {}

    @classmethod
    def load(cls, store: Restorable, clock: IReactorTime) -> defer.Deferred[Moderation]:
        """A Moderation holding what ``store`` holds (minus what has expired), writing to it."""
        return store.load_all(clock.seconds()).addCallback(cls._restored, clock, store)

    @classmethod
    def restored(cls, saved: Saved, clock: IReactorTime, store: Persistence) -> Moderation:
        """A Moderation holding what was ``saved`` (less what has expired), writing to ``store``."""
        return cls._restored(saved, clock, store)

    @classmethod
    def _restored(cls, saved: Saved, clock: IReactorTime, store: Persistence) -> Moderation:
        moderation = cls(clock, store)
        now = clock.seconds()
        moderation._bans = {(ban.target, ban.scope): ban for ban in saved.bans if ban.active(now)}
        moderation._mutes = {
            (mute.nick_key, mute.scope): mute for mute in saved.mutes if mute.active(now)
        }
        moderation._rooms = {room.key: room for room in saved.rooms if not room.default}
        return moderation

    # Bans

    def banned(
        self, nick_key: str | None, account_key: str | None, address: str, room_key: str | None
    ) -> Ban | None:
        """The ban that keeps someone out of ``room_key`` (None: out of the server), or None.

        Server-wide bans apply in every room, a room's bans in that room only.
        ``nick_key`` (None: no nickname chosen yet) matches nickname bans,
        ``account_key`` account bans, and ``address`` (as a transport gives it:
        an IPv4-mapped IPv6 address matches IPv4 bans; anything that is no
        address matches no address ban) the networks that contain it. Of
        several bans, a server-wide one comes first, then the oldest.
        """
        if not self._bans:
            return None
        now = self._clock.seconds()
        peer = _address(address)
        matching = [
            ban for ban in self._bans.values()
            if ban.active(now) and ban.scope in (None, room_key)
            and _matches(ban.target, nick_key, account_key, peer)
        ]
        return min(matching, key=_ban_order, default=None)

    def ban(
        self, target: Target, scope: str | None, by: str, reason: str = "",
        duration: float | None = None,
    ) -> Ban:
        """Ban ``target`` from ``scope`` for ``duration`` seconds (None: for ever), in place
        of any ban of it there."""
        since = self._clock.seconds()
        ban = Ban(target, scope, by, reason, since, None if duration is None else since + duration)
        self._bans[target, scope] = ban
        if self._store is not None:
            self._store.save_ban(ban)
        return ban

    def unban(self, target: Target, scope: str | None) -> bool:
        """Lift the ban of ``target`` in ``scope``: whether there was one still holding."""
        ban = self._bans.pop((target, scope), None)
        if ban is None:
            return False
        if self._store is not None:
            self._store.delete_ban(target, scope)
        return ban.active(self._clock.seconds())

    def bans(self, scope: str | None) -> list[Ban]:
        """The bans holding in ``scope`` exactly (None: the server-wide ones), oldest first."""
        now = self._clock.seconds()
        return sorted(
            (ban for ban in self._bans.values() if ban.scope == scope and ban.active(now)),
            key=_since,
        )

    # Mutes

    def mute(
        self, nick_key: str, scope: str | None, by: str, duration: float | None = None
    ) -> Mute:
        """Mute ``nick_key`` in ``scope`` for ``duration`` seconds (None: for ever), in place
        of any mute of it there."""
        since = self._clock.seconds()
        mute = Mute(nick_key, scope, by, since, None if duration is None else since + duration)
        self._mutes[nick_key, scope] = mute
        if self._store is not None:
            self._store.save_mute(mute)
        return mute

    def unmute(self, nick_key: str, scope: str | None) -> bool:
        """Lift the mute of ``nick_key`` in ``scope``: whether there was one still holding."""
        mute = self._mutes.pop((nick_key, scope), None)
        if mute is None:
            return False
        if self._store is not None:
            self._store.delete_mute(nick_key, scope)
        return mute.active(self._clock.seconds())

    @property
    def any_mutes(self) -> bool:
        """Whether anyone is muted anywhere (spares a lookup per line when nobody is)."""
        return bool(self._mutes)

    def muted(self, nick_key: str, room_key: str | None) -> Mute | None:
        """The mute that silences ``nick_key`` in ``room_key`` (None: outside rooms, where
        only server-wide mutes hold), or None; a server-wide one comes first."""
        now = self._clock.seconds()
        for scope in (None, room_key):
            mute = self._mutes.get((nick_key, scope))
            if mute is not None and mute.active(now):
                return mute
        return None

    # Rooms

    def room(self, key: str) -> RoomSettings:
        """The settings of the room keyed ``key`` (the defaults for a room never set)."""
        return self._rooms.get(key) or RoomSettings(key)

    def room_if_set(self, key: str) -> RoomSettings | None:
        """The settings of the room keyed ``key``, or None for a room never set (asked at
        every join: no defaults are made for it)."""
        return self._rooms.get(key)

    def is_moderated(self, key: str) -> bool:
        """Whether the room keyed ``key`` is moderated (+m); asked of every message."""
        settings = self._rooms.get(key)
        return settings is not None and settings.moderated

    def set_topic(self, room_key: str, topic: str, by: str) -> RoomSettings:
        """Make ``topic`` ("" to clear it) the topic of ``room_key``, set by ``by`` now."""
        return self._set(replace(
            self.room(room_key), topic=topic, topic_by=by if topic else None,
            topic_at=self._clock.seconds() if topic else None,
        ))

    def set_topic_ops_only(self, room_key: str, ops_only: bool) -> RoomSettings:
        """Keep setting the topic of ``room_key`` to its operators, or let anyone set it."""
        return self._set(replace(self.room(room_key), topic_ops_only=ops_only))

    def set_member_limit(self, room_key: str, limit: int | None) -> RoomSettings:
        """Let at most ``limit`` members (None: any number) be in ``room_key`` at once."""
        return self._set(replace(self.room(room_key), member_limit=limit))

    def set_join_key(self, room_key: str, join_key: str) -> RoomSettings:
        """Make ``join_key`` ("" for none) what joining ``room_key`` asks for."""
        return self._set(replace(self.room(room_key), join_key=join_key))

    def set_invite_only(self, room_key: str, invite_only: bool) -> RoomSettings:
        """Let only those invited join ``room_key``, or anyone."""
        return self._set(replace(self.room(room_key), invite_only=invite_only))

    def set_moderated(self, room_key: str, moderated: bool) -> RoomSettings:
        """Let only the operators and voiced members of ``room_key`` speak in it, or anyone."""
        return self._set(replace(self.room(room_key), moderated=moderated))

    def set_secret(self, room_key: str, secret: bool) -> RoomSettings:
        """Hide ``room_key`` from those outside it, or show it to anyone."""
        return self._set(replace(self.room(room_key), secret=secret))

    def set_outside_messages(self, room_key: str, allowed: bool) -> RoomSettings:
        """Let those outside ``room_key`` send messages to it (IRC -n), or only its members."""
        return self._set(replace(self.room(room_key), outside_messages=allowed))

    def set_owner(self, room_key: str, account_key: str | None) -> RoomSettings:
        """Make the account keyed ``account_key`` the owner of ``room_key`` (None: no owner)."""
        return self._set(replace(self.room(room_key), owner=account_key))

    def grant_op(self, room_key: str, key: str) -> bool:
        """Make the account or nickname keyed ``key`` an operator of ``room_key``: whether
        it was not one already."""
        settings = self.room(room_key)
        if key in settings.operators:
            return False
        self._set(replace(settings, operators=settings.operators | {key}))
        return True

    def revoke_op(self, room_key: str, key: str) -> bool:
        """Make ``key`` no longer an operator of ``room_key``: whether it was one."""
        settings = self.room(room_key)
        if key not in settings.operators:
            return False
        self._set(replace(settings, operators=settings.operators - {key}))
        return True

    def grant_voice(self, room_key: str, key: str) -> bool:
        """Give the account or nickname keyed ``key`` voice in ``room_key``: whether it had
        none."""
        settings = self.room(room_key)
        if key in settings.voiced:
            return False
        self._set(replace(settings, voiced=settings.voiced | {key}))
        return True

    def revoke_voice(self, room_key: str, key: str) -> bool:
        """Take voice in ``room_key`` from ``key``: whether it had it."""
        settings = self.room(room_key)
        if key not in settings.voiced:
            return False
        self._set(replace(settings, voiced=settings.voiced - {key}))
        return True

    def forget_account(self, account_key: str) -> None:
        """The account is gone: it owns no room, operates none and has voice in none."""
        for settings in list(self._rooms.values()):
            if (settings.owner == account_key or account_key in settings.operators
                    or account_key in settings.voiced):
                self._set(replace(
                    settings, owner=None if settings.owner == account_key else settings.owner,
                    operators=settings.operators - {account_key},
                    voiced=settings.voiced - {account_key},
                ))

    def forget_guest_operator(self, nick_key: str) -> None:
        """A guest has left: whoever takes its nickname next operates nothing and has no
        voice."""
        self.move_guest_operator(nick_key, None)

    def move_guest_operator(self, old_key: str, new_key: str | None) -> None:
        """A guest is now called ``new_key`` (None: gone): its operator status and voice
        follow."""
        old = guest_key(old_key)
        for settings in list(self._rooms.values()):
            if old in settings.operators or old in settings.voiced:
                self._set(replace(
                    settings, operators=_renamed(settings.operators, old, new_key),
                    voiced=_renamed(settings.voiced, old, new_key),
                ))

    def is_room_operator(self, room_key: str, nick_key: str, account_key: str | None) -> bool:
        """Whether the user with these keys is an operator of ``room_key`` or its owner:
        a registered user by its account, a guest by its :func:`guest_key`."""
        settings = self.room(room_key)
        if account_key is not None:
            return account_key == settings.owner or account_key in settings.operators
        return guest_key(nick_key) in settings.operators

    def is_voiced(self, room_key: str, nick_key: str, account_key: str | None) -> bool:
        """Whether the user with these keys has voice in ``room_key`` (named as
        :meth:`is_room_operator` names operators)."""
        voiced = self.room(room_key).voiced
        if not voiced:
            return False
        return (account_key if account_key is not None else guest_key(nick_key)) in voiced

    def may_speak(self, actor: Actor, room_key: str) -> bool:
        """Whether ``actor`` may speak in ``room_key``: anyone, unless it is moderated;
        then its operators, owner and voiced members and server operators."""
        if not self.room(room_key).moderated:
            return True
        return actor.server_operator or self.is_room_operator(
            room_key, actor.nick_key, actor.account_key
        ) or self.is_voiced(room_key, actor.nick_key, actor.account_key)

    def kept_rooms(self) -> list[str]:
        """The keys of the rooms kept while empty (an owner, a topic or bans), sorted."""
        keys = set(self._rooms) | {ban.scope for ban in self._bans.values() if ban.scope}
        return sorted(key for key in keys if self.keeps(key))

    def keeps(self, room_key: str) -> bool:
        """Whether ``room_key`` is kept when nobody is in it: it has an owner, a topic or bans."""
        settings = self.room(room_key)
        return settings.owner is not None or settings.topic != "" or bool(self.bans(room_key))

    def _set(self, settings: RoomSettings) -> RoomSettings:
        if settings.default:
            if self._rooms.pop(settings.key, None) is not None and self._store is not None:
                self._store.delete_room(settings.key)
            return settings
        self._rooms[settings.key] = settings
        if self._store is not None:
            self._store.save_room(settings)
        return settings

    # Permissions

    def may_kick(self, actor: Actor, room_key: str) -> NotPermittedError | None:
        """Server operators, and the room's operators and owner, may kick from it."""
        return self._in_room(actor, Power.KICK, room_key)

    @staticmethod
    def may_disconnect(actor: Actor) -> NotPermittedError | None:
        """Only server operators may disconnect someone from the server."""
        return None if actor.server_operator else NotPermittedError(Power.DISCONNECT, None)

    def may_ban(self, actor: Actor, scope: str | None) -> NotPermittedError | None:
        """Server operators may ban anywhere, a room's operators and owner from that room."""
        return self._in_scope(actor, Power.BAN, scope)

    def may_mute(self, actor: Actor, scope: str | None) -> NotPermittedError | None:
        """Server operators may mute anywhere, a room's operators and owner in that room."""
        return self._in_scope(actor, Power.MUTE, scope)

    def may_set_topic(self, actor: Actor, room_key: str) -> NotPermittedError | None:
        """Anyone may set a room's topic, unless the room keeps that to its operators."""
        if not self.room(room_key).topic_ops_only:
            return None
        return self._in_room(actor, Power.SET_TOPIC, room_key)

    def may_configure(self, actor: Actor, room_key: str) -> NotPermittedError | None:
        """Server operators, and the room's operators and owner, may change its settings."""
        return self._in_room(actor, Power.CONFIGURE, room_key)

    def may_invite(self, actor: Actor, room_key: str) -> NotPermittedError | None:
        """Any member may invite to a room, unless it is invite only: then its operators."""
        if not self.room(room_key).invite_only:
            return None
        return self._in_room(actor, Power.INVITE, room_key)

    def may_op(self, actor: Actor, room_key: str) -> NotPermittedError | None:
        """Server operators, and the room's owner, may grant and take operator status; in a
        room with no owner (a guest's, say), its operators may."""
        owner = self.room(room_key).owner
        if actor.server_operator or (owner is not None and actor.account_key == owner):
            return None
        if owner is None and self.is_room_operator(room_key, actor.nick_key, actor.account_key):
            return None
        return NotPermittedError(Power.OP, room_key)

    def may_voice(self, actor: Actor, room_key: str) -> NotPermittedError | None:
        """Server operators, and the room's operators and owner, may give and take voice."""
        return self._in_room(actor, Power.VOICE, room_key)

    def _in_scope(self, actor: Actor, power: Power, scope: str | None) -> NotPermittedError | None:
        if scope is None:
            return None if actor.server_operator else NotPermittedError(power, None)
        return self._in_room(actor, power, scope)

    def _in_room(self, actor: Actor, power: Power, room_key: str) -> NotPermittedError | None:
        if actor.server_operator or self.is_room_operator(
            room_key, actor.nick_key, actor.account_key
        ):
            return None
        return NotPermittedError(power, room_key)


_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> _Address | None:
    """The address ``text`` is (without a zone, IPv4 if IPv4-mapped), or None."""
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _matches(
    target: Target, nick_key: str | None, account_key: str | None, address: _Address | None
) -> bool:
    if isinstance(target, NickTarget):
        return target.key == nick_key
    if isinstance(target, AccountTarget):
        return target.key == account_key
    assert isinstance(target, AddressTarget)
    return address is not None and address in target.network


def _renamed(keys: frozenset[str], old: str, new_key: str | None) -> frozenset[str]:
    """``keys`` with the guest key ``old`` replaced by the guest called ``new_key`` (None:
    dropped)."""
    if old not in keys:
        return keys
    return keys - {old} if new_key is None else keys - {old} | {guest_key(new_key)}


def _since(ban: Ban) -> float:
    return ban.since


def _ban_order(ban: Ban) -> tuple[bool, float]:
    return ban.scope is not None, ban.since
