"""Moderation carried out on the members online: kicks, bans, mutes, topics, operators, whois, away.

The state and the rules are :class:`chat.moderation.Moderation`'s; a
:class:`Moderator` applies them to the sessions of a server, for every
front end alike. A front end's command calls it with the acting
:class:`~chat.session.login.ChatSession` and the arguments as typed;
what happens is told as domain events (the room gets
:class:`~chat.domain.events.Moderated`, :class:`~chat.domain.events.TopicSet`
or a :class:`~chat.domain.events.Left` for a
:class:`~chat.domain.events.Kick`; the member put out gets
:class:`~chat.domain.events.Removed` first), and a refusal is a
:class:`~chat.domain.errors.ChatError` raised before anything changes.

Where an action holds: in a room, that room; in the lobby, the whole
server. The room is the actor's current one, or the one it names
(``room=``, one of the rooms it is in: IRC names the channel in every
command). Everyone arrives in the lobby, so a ban or a mute there would
otherwise be one from the server anyway; server-wide actions are for
server operators only.

Every action is logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from chat.domain.errors import (
    AlreadyHereError,
    BannedError,
    InviteOnlyError,
    MutedError,
    NoSuchUserError,
    NotHereError,
    NotInRoomError,
    RoomFullError,
    RoomKeyError,
    RoomModeratedError,
)
from chat.domain.events import (
    Attendee,
    Batch,
    Kick,
    Moderated,
    Removed,
    Silenced,
    Topic,
    TopicSet,
)
from chat.domain.registry import LOBBY, Member, Registry, room_name
from chat.moderation import (
    Actor,
    Ban,
    Moderation,
    NickTarget,
    NotBannedError,
    NotMutedError,
    NotPermittedError,
    Power,
    Target,
    guest_key,
    parse_duration,
    parse_target,
    target_text,
)
from chat.session.login import ChatRealm, ChatSession
from chat.text import fold

log = Logger()


class _Current:
    """The member's current room, as :meth:`Moderator.check_speech` defaults to it."""


CURRENT_ROOM = _Current()


class ModerationRules:
    """What the registry asks of a room (its topic, whether it stays empty), from the moderation."""

    def __init__(self, moderation: Moderation) -> None:
        self.moderation = moderation

    def topic(self, room: str) -> Topic | None:
        settings = self.moderation.room_if_set(fold(room))
        if settings is None or not settings.topic:
            return None
        return Topic(room, settings.topic, settings.topic_by, settings.topic_at)

    def keeps(self, room_key: str) -> bool:
        return self.moderation.keeps(room_key)


@dataclass(frozen=True, slots=True)
class WhoIs:
    """What ``/whois`` tells of a member."""

    nick: str
    account: str | None
    """The account it is logged in to (None: a guest)."""
    server_operator: bool
    room_operator: bool
    """Whether it is an operator (or the owner) of its current room."""
    voiced: bool
    """Whether it has voice in its current room."""
    since: float
    idle: float
    """Seconds since it last said something (or joined)."""
    rooms: tuple[str, ...]
    away: str | None
    elsewhere: bool = False
    """Served by another process of the chat: what this one knows is its nickname, its
    rooms that have members here and whether it is away (not since when, nor idle)."""


class Moderator:
    """Kicks, bans, mutes, topics, operators, whois and away, for the sessions of one server."""

    def __init__(
        self, registry: Registry, realm: ChatRealm, moderation: Moderation, clock: IReactorTime
    ) -> None:
        self.registry = registry
        self.realm = realm
        self.moderation = moderation
        self.clock = clock
        self._invited: dict[str, set[str]] = {}
        """Per room key, the member ids invited to it: until used, or the member leaves
        (a new session under the same nickname has a new id)."""
        self._created: dict[str, float] = {}
        """When each room made while this server runs was made."""

    # Who acts, and where

    def actor(self, session: ChatSession) -> Actor:
        account = session.account
        return Actor(
            session.member.key, None if account is None else account.key, session.server_operator
        )

    @staticmethod
    def _room_of(session: ChatSession, name: str | None = None) -> str:
        """The actor's current room, or the one of its rooms called ``name``."""
        member = session.member
        if name is None:
            if member.room is None:
                raise NotInRoomError()
            return member.room.name
        room = member.rooms.get(fold(room_name(name)))
        if room is None:
            raise NotInRoomError(room_name(name))
        return room.name

    @staticmethod
    def scope(room: str) -> str | None:
        """Where an action taken in ``room`` holds: that room, or (the lobby) the server."""
        key = fold(room)
        return None if key == LOBBY else key

    def _session(self, nick: str) -> ChatSession:
        member = self.registry.find(nick)
        session = None if member is None else self.realm.sessions.get(member.id)
        if session is None:
            raise NoSuchUserError(nick)
        return session

    @staticmethod
    def _allowed(refusal: NotPermittedError | None, room: str) -> None:
        """Raise ``refusal``, if any, naming the room as its members see it."""
        if refusal is not None:
            raise NotPermittedError(refusal.action, None if refusal.room is None else room)

    # Checks

    def banned_address(self, address: str) -> Ban | None:
        """The server-wide ban that keeps ``address`` from connecting at all, if any."""
        return self.moderation.banned(None, None, address, None)

    def check_room(self, session: ChatSession, room: str, join_key: str = "") -> None:
        """Refuse entering ``room`` to a member banned from it (:class:`BannedError`), and,
        unless invited or a server operator, when it is full (:class:`RoomFullError`), asks
        for a key other than ``join_key`` (:class:`RoomKeyError`) or is invite only
        (:class:`InviteOnlyError`). An invitation is used up by entering."""
        scope = self.scope(room_name(room))
        if scope is None:
            return
        known = self.registry.rooms.get(scope)
        shown = room_name(room) if known is None else known.name
        ban = self._ban_of(session, scope)
        if ban is not None:
            raise BannedError(shown, ban.reason, ban.until)
        invited = self._invited.get(scope, set())
        if session.server_operator or session.member.id in invited:
            invited.discard(session.member.id)
            return
        settings = self.moderation.room(scope)
        if settings.invite_only:
            raise InviteOnlyError(shown)
        if settings.join_key and join_key != settings.join_key:
            raise RoomKeyError(shown)
        members = 0 if known is None else len(known.members)
        if settings.member_limit is not None and members >= settings.member_limit:
            raise RoomFullError(shown)

    def check_speech(
        self, member: Member, room: str | _Current | None = CURRENT_ROOM
    ) -> None:
        """Refuse what ``member`` would say in ``room`` (by default its current one): when it
        is muted there (:class:`MutedError`) or the room is moderated and it has neither
        voice nor operator status (:class:`RoomModeratedError`). With ``room`` None, what it
        would say to no room (a private message, a /nick) is refused only when it is muted,
        in its current room or everywhere. A room ``member`` is not in takes what it says
        only if the room takes messages from outside (IRC -n), or :class:`NotInRoomError`."""
        current = member.room.name if member.room else None
        where = current if isinstance(room, _Current) or room is None else room
        if (isinstance(room, str) and fold(room) not in member.rooms
                and not self.moderation.room(fold(room)).outside_messages):
            raise NotInRoomError(room_name(room))
        if self.moderation.any_mutes:
            scope = None if where is None else self.scope(where)
            mute = self.moderation.muted(member.key, scope)
            if mute is not None:
                raise MutedError(None if mute.scope is None else where, mute.until)
        if room is None or where is None or not self.moderation.is_moderated(fold(where)):
            return
        session = self.realm.sessions.get(member.id)
        if session is not None and not self.moderation.may_speak(self.actor(session), fold(where)):
            raise RoomModeratedError(where)

    def _ban_of(self, session: ChatSession, scope: str | None) -> Ban | None:
        account = session.account
        return self.moderation.banned(
            session.member.key, None if account is None else account.key, session.address, scope
        )

    # Kick

    def kick(
        self, session: ChatSession, nick: str, reason: str = "", room: str | None = None
    ) -> None:
        """Put ``nick`` out of the actor's room, back to the lobby; from the lobby (server
        operators only) off the server, wherever it is."""
        room = self._room_of(session, room)
        if self.scope(room) is None:
            self.disconnect(session, nick, reason)
            return
        target = self._session(nick)
        actor = self.actor(session)
        self._allowed(self.moderation.may_kick(actor, fold(room)), room)
        if not self._is_in(target, room):
            raise NotHereError(target.member.nick, room)
        self._log(session, "kicked", target.member.nick, room, reason)
        self._put_out(target, room, Kick(session.member.nick, reason))

    def disconnect(self, session: ChatSession, nick: str, reason: str = "") -> None:
        """Put ``nick`` off the server (server operators only; IRC's KILL)."""
        refusal = self.moderation.may_disconnect(self.actor(session))
        if refusal is not None:
            raise refusal
        target = self._session(nick)
        self._log(session, "disconnected", target.member.nick, None, reason)
        self._disconnect(target, Kick(session.member.nick, reason, server=True))

    @staticmethod
    def _is_in(session: ChatSession, room: str) -> bool:
        return fold(room) in session.member.rooms

    def _put_out(
        self, target: ChatSession, room: str, kick: Kick, until: float | None = None
    ) -> None:
        """Tell ``target`` why, then move it to the lobby, the room hearing ``kick``; a
        member in other rooms too, or of a front end whose members may be in no room
        (its client's ``roomless`` is true: IRC), only leaves this one."""
        member = target.member
        member.outbox.put(Batch((Removed(room, kick.by, kick.reason, kick.banned, until),)))
        if len(member.rooms) > 1 or getattr(member.client, "roomless", False):
            self.registry.part_room(member, room, kick)
            return
        self.registry.move(member, LOBBY, reason=kick).addErrback(
            lambda failure: log.failure("lobby history for {nick}", failure, nick=member.nick)
        )

    def _disconnect(self, target: ChatSession, kick: Kick, until: float | None = None) -> None:
        member = target.member
        member.outbox.put(Batch((Removed(None, kick.by, kick.reason, kick.banned, until),)))
        target.client.remove(kick)

    # Bans

    def ban(
        self, session: ChatSession, target_text_: str, duration: str = "", reason: str = "",
        room: str | None = None,
    ) -> Ban:
        """Ban a nickname, account or address from the actor's room (the lobby: the
        server); members it bans are put out at once."""
        room = self._room_of(session, room)
        scope = self.scope(room)
        target = parse_target(target_text_)
        seconds = parse_duration(duration)
        self._allowed(self.moderation.may_ban(self.actor(session), scope), room)
        ban = self.moderation.ban(target, scope, session.member.nick, reason, seconds)
        self._log(session, "banned", target_text(target), scope, reason)
        self._tell(room, Moderated(
            None if scope is None else room, session.member.nick, "banned", target_text(target),
            reason, ban.until,
        ))
        self._put_out_banned(ban, room, spare=session)
        return ban

    def enforce_ban(self, ban: Ban) -> None:
        """Put out the members here whom ``ban``, set elsewhere (another node), bans."""
        if ban.scope is None:
            self._put_out_banned(ban, LOBBY)
            return
        known = self.registry.rooms.get(ban.scope)
        if known is not None:
            self._put_out_banned(ban, known.name)

    def _put_out_banned(self, ban: Ban, room: str, spare: ChatSession | None = None) -> None:
        """Disconnect (a server-wide ``ban``) or put out of ``room`` every member it bans
        but ``spare`` (who set it)."""
        kick = Kick(ban.by, ban.reason, banned=True, server=ban.scope is None)
        for other in list(self.realm.sessions.values()):
            if other.ended or other is spare or self._ban_of(other, ban.scope) is None:
                continue
            if ban.scope is None:
                self._disconnect(other, kick, ban.until)
            elif self._is_in(other, room):
                self._put_out(other, room, kick, ban.until)

    def unban(self, session: ChatSession, target_text_: str, room: str | None = None) -> None:
        room = self._room_of(session, room)
        scope = self.scope(room)
        target = parse_target(target_text_)
        self._allowed(self.moderation.may_ban(self.actor(session), scope), room)
        if not self.moderation.unban(target, scope):
            raise NotBannedError(target)
        self._log(session, "unbanned", target_text(target), scope, "")
        self._tell(room, Moderated(
            None if scope is None else room, session.member.nick, "unbanned", target_text(target)
        ))

    def bans(
        self, session: ChatSession, room: str | None = None
    ) -> tuple[str | None, list[Ban]]:
        """Where the actor's room's bans hold (None: the server), and those bans."""
        where = self._room_of(session, room)
        scope = self.scope(where)
        return (None if scope is None else where), self.moderation.bans(scope)

    # Mutes

    def mute(
        self, session: ChatSession, nick: str, duration: str = "", room: str | None = None
    ) -> None:
        room = self._room_of(session, room)
        scope = self.scope(room)
        seconds = parse_duration(duration)
        self._allowed(self.moderation.may_mute(self.actor(session), scope), room)
        target = self._mutable(nick)
        mute = self.moderation.mute(target, scope, session.member.nick, seconds)
        self._log(session, "muted", target, scope, "")
        where = None if scope is None else room
        self._tell(room, Moderated(
            where, session.member.nick, "muted", self._shown(nick), until=mute.until,
        ))
        member = self.registry.find(nick)
        if member is not None:
            member.outbox.put(Batch((Silenced(where, session.member.nick, mute.until),)))

    def unmute(self, session: ChatSession, nick: str, room: str | None = None) -> None:
        room = self._room_of(session, room)
        scope = self.scope(room)
        self._allowed(self.moderation.may_mute(self.actor(session), scope), room)
        target = self._mutable(nick)
        if not self.moderation.unmute(target, scope):
            raise NotMutedError(self._shown(nick))
        self._log(session, "unmuted", target, scope, "")
        self._tell(room, Moderated(
            None if scope is None else room, session.member.nick, "unmuted", self._shown(nick)
        ))

    def _mutable(self, nick: str) -> str:
        """The key a mute of ``nick`` is kept under (a nickname, online or not)."""
        target = parse_target(nick)
        if not isinstance(target, NickTarget):
            raise NoSuchUserError(nick)
        return target.key

    def _shown(self, nick: str) -> str:
        member = self.registry.find(nick)
        return nick if member is None else member.nick

    # Topics

    def topic(self, session: ChatSession, room: str | None = None) -> Topic:
        """The topic of the actor's room ("" for none)."""
        room = self._room_of(session, room)
        settings = self.moderation.room(fold(room))
        return Topic(room, settings.topic, settings.topic_by, settings.topic_at)

    def set_topic(self, session: ChatSession, text: str, room: str | None = None) -> None:
        """Make ``text`` ("" clears it) the topic of the actor's room; the room is told."""
        room = self._room_of(session, room)
        self.check_speech(session.member, room)
        actor = self.actor(session)
        if self.scope(room) is None and not actor.server_operator:
            raise NotPermittedError(Power.SET_TOPIC, None)
        self._allowed(self.moderation.may_set_topic(actor, fold(room)), room)
        self.moderation.set_topic(fold(room), text, session.member.nick)
        log.info("{nick} set the topic of {room}: {topic!r}", nick=session.member.nick,
                 room=room, topic=text)
        self._tell(room, TopicSet(room, text, session.member.nick))

    def topic_ops_only(
        self, session: ChatSession, ops_only: bool, room: str | None = None
    ) -> None:
        """Keep setting the topic of the actor's room to its operators, or not."""
        room = self._room_of(session, room)
        self._allowed(self.moderation.may_configure(self.actor(session), fold(room)), room)
        self.moderation.set_topic_ops_only(fold(room), ops_only)
        log.info("{nick}: topic of {room} settable by {who}", nick=session.member.nick,
                 room=room, who="operators" if ops_only else "anyone")

    def set_member_limit(
        self, session: ChatSession, limit: int | None, room: str | None = None
    ) -> None:
        """Let at most ``limit`` (None: any number) be in the actor's room; members above it
        stay."""
        self._change(session, room, lambda key: self.moderation.set_member_limit(key, limit),
                     "lets in anyone" if limit is None else f"lets in at most {limit}")

    def set_join_key(self, session: ChatSession, join_key: str, room: str | None = None) -> None:
        """Make ``join_key`` ("" for none) what joining the actor's room asks for."""
        self._change(session, room, lambda key: self.moderation.set_join_key(key, join_key),
                     "has a key" if join_key else "no longer has a key")

    def set_invite_only(
        self, session: ChatSession, invite_only: bool, room: str | None = None
    ) -> None:
        """Let only those invited join the actor's room, or anyone."""
        self._change(
            session, room, lambda key: self.moderation.set_invite_only(key, invite_only),
            "is invite only" if invite_only else "is open",
        )

    def set_moderated(
        self, session: ChatSession, moderated: bool, room: str | None = None
    ) -> None:
        """Let only the operators and voiced members of the actor's room speak in it, or
        anyone."""
        self._change(session, room, lambda key: self.moderation.set_moderated(key, moderated),
                     "is moderated" if moderated else "is no longer moderated")

    def set_secret(self, session: ChatSession, secret: bool, room: str | None = None) -> None:
        """Hide the actor's room from those outside it, or show it to anyone."""
        self._change(session, room, lambda key: self.moderation.set_secret(key, secret),
                     "is secret" if secret else "is no longer secret")

    def set_outside_messages(
        self, session: ChatSession, allowed: bool, room: str | None = None
    ) -> None:
        """Let those outside the actor's room send messages to it (IRC -n), or only its
        members (+n, as every room is at first)."""
        self._change(
            session, room, lambda key: self.moderation.set_outside_messages(key, allowed),
            "takes messages from outside" if allowed else "takes its members' only",
        )

    def _change(
        self, session: ChatSession, room: str | None, change: Callable[[str], object], what: str
    ) -> None:
        """Change a setting of the actor's room (``change`` given its key), if it may."""
        room = self._room_of(session, room)
        self._configure(session, room)
        change(fold(room))
        log.info("{nick}: {room} {what}", nick=session.member.nick, room=room, what=what)

    def _configure(self, session: ChatSession, room: str) -> None:
        if self.scope(room) is None and not session.server_operator:
            raise NotPermittedError(Power.CONFIGURE, None)
        self._allowed(self.moderation.may_configure(self.actor(session), fold(room)), room)

    def invite(self, session: ChatSession, nick: str, room: str) -> ChatSession:
        """Let ``nick`` into ``room`` (one of the actor's) once, past its key, limit and
        invite-only setting; the invited session, for the front end to tell it."""
        room = self._room_of(session, room)
        target = self._session(nick)
        if self._is_in(target, room):
            raise AlreadyHereError(target.member.nick, room)
        self._allowed(self.moderation.may_invite(self.actor(session), fold(room)), room)
        invited = self._invited.setdefault(fold(room), set())
        invited.intersection_update(self.realm.sessions)
        invited.add(target.member.id)
        self._log(session, "invited", target.member.nick, fold(room), "")
        return target

    def invitations(self, session: ChatSession) -> list[str]:
        """The rooms (as their members see them) the actor is invited to, sorted."""
        return sorted(
            known.name for key, ids in self._invited.items()
            if session.member.id in ids and (known := self.registry.rooms.get(key)) is not None
        )

    def created(self, room: str) -> float:
        """When ``room`` was made (for one older than this server: when it was first asked)."""
        return self._created.setdefault(fold(room), self.clock.seconds())

    # Room operators and owners

    def op(
        self, session: ChatSession, nick: str, grant: bool = True, room: str | None = None,
        in_room: bool = False,
    ) -> bool:
        """Make ``nick`` (its account, if any) an operator of the actor's room, or no longer;
        with ``in_room`` (IRC) only a member of the room is made one (:class:`NotHereError`)."""
        room = self._room_of(session, room)
        self._allowed(self.moderation.may_op(self.actor(session), fold(room)), room)
        if grant:
            # A registered user by account; a guest by nickname, until it leaves.
            target = self._session(nick)
            if in_room and not self._is_in(target, room):
                raise NotHereError(target.member.nick, room)
            account = target.account
            key = account.key if account is not None else guest_key(target.member.key)
            shown = target.member.nick
            changed = self.moderation.grant_op(fold(room), key)
        else:
            # Online: whoever uses the nickname now; offline, by name (an account's).
            member = self.registry.find(nick)
            online = None if member is None else self.realm.sessions.get(member.id)
            if online is None:
                keys = [fold(nick), guest_key(fold(nick))]
            elif online.account is not None:
                keys = [online.account.key]
            else:
                keys = [guest_key(online.member.key)]
            shown = self._shown(nick)
            changed = any([self.moderation.revoke_op(fold(room), key) for key in keys])
        if not changed:
            return False
        action = "opped" if grant else "deopped"
        self._log(session, action, shown, fold(room), "")
        self._tell(room, Moderated(room, session.member.nick, action, shown))
        return True

    def voice(
        self, session: ChatSession, nick: str, grant: bool = True, room: str | None = None
    ) -> bool:
        """Give ``nick`` (its account, if any; a guest by nickname, as long as it keeps it)
        voice in the actor's room, or take it: whether that changed anything. ``nick`` must
        be online (:class:`NoSuchUserError`) and in the room (:class:`NotHereError`)."""
        room = self._room_of(session, room)
        if self.scope(room) is None and not session.server_operator:
            raise NotPermittedError(Power.VOICE, None)
        self._allowed(self.moderation.may_voice(self.actor(session), fold(room)), room)
        target = self._session(nick)
        if not self._is_in(target, room):
            raise NotHereError(target.member.nick, room)
        account = target.account
        key = account.key if account is not None else guest_key(target.member.key)
        change = self.moderation.grant_voice if grant else self.moderation.revoke_voice
        if not change(fold(room), key):
            return False
        self._log(session, "voiced" if grant else "devoiced", target.member.nick, fold(room), "")
        return True

    def is_voiced(self, member: Member, room_key: str) -> bool:
        """Whether ``member`` has voice in the room keyed ``room_key``."""
        session = self.realm.sessions.get(member.id)
        if session is None:
            return False
        account = session.account
        return self.moderation.is_voiced(
            room_key, member.key, None if account is None else account.key
        )

    def entered(
        self, session: ChatSession, room: str, created: bool, guest_creator_ops: bool = False
    ) -> None:
        """A member entered ``room``; a registered one who created it owns it. With
        ``guest_creator_ops`` (IRC, where whoever makes a channel is its operator) a guest
        who created it is its operator, as long as it keeps the nickname. ``created`` says
        the room was new here; it was made only if nobody is in it on another process
        either."""
        if created:
            self.registry.anyone_elsewhere(room).addCallback(
                lambda elsewhere: None if elsewhere else self._created_by(
                    session, room, guest_creator_ops
                )
            )

    def _created_by(self, session: ChatSession, room: str, guest_creator_ops: bool) -> None:
        key = fold(room)
        if key not in session.member.rooms:
            return  # left before the room was pictured: whoever is there made it
        account = session.account
        self._created[key] = self.clock.seconds()
        if key == LOBBY or self.moderation.room(key).owner is not None:
            return
        if account is not None:
            self.moderation.set_owner(key, account.key)
            log.info("{nick} owns {room}", nick=account.name, room=room)
        elif guest_creator_ops:
            self.moderation.grant_op(key, guest_key(session.member.key))
            log.info("{nick} is an operator of {room}, which it made", nick=session.member.nick,
                     room=room)

    # Whois and away

    def whois(self, nick: str) -> WhoIs:
        if self.registry.find(nick) is None:
            found = self.registry.find_elsewhere(nick)
            if found is not None:
                return self._whois_elsewhere(*found)
        target = self._session(nick)
        member = target.member
        now = self.clock.seconds()
        room = member.room
        account = target.account
        return WhoIs(
            member.nick,
            None if account is None else account.name,
            target.server_operator,
            room is not None and self.moderation.is_room_operator(
                room.key, member.key, None if account is None else account.key
            ),
            room is not None and self.moderation.is_voiced(
                room.key, member.key, None if account is None else account.key
            ),
            member.since,
            max(0.0, now - member.active),
            tuple(room.name for room in member.rooms.values()),
            member.away,
        )

    def hidden(self, member: Member, room_key: str) -> bool:
        """Whether the room keyed ``room_key`` is secret (+s) and ``member`` not in it."""
        return self.moderation.room(room_key).secret and room_key not in member.rooms

    def given_elsewhere(self, room_key: str, nick: str) -> tuple[bool, bool]:
        """Whether a member another process serves is an operator of the room keyed
        ``room_key``, and whether it has voice there, from what its nickname was given as
        a guest or as an account (this process does not know which it is; an account is
        named as its nickname)."""
        key, moderation = fold(nick), self.moderation
        operator = any(moderation.is_room_operator(room_key, key, name) for name in (None, key))
        voiced = any(moderation.is_voiced(room_key, key, name) for name in (None, key))
        return operator, voiced

    def _whois_elsewhere(self, attendee: Attendee, rooms: list[str]) -> WhoIs:
        operator, voiced = self.given_elsewhere(fold(rooms[-1]), attendee.nick)
        return WhoIs(
            attendee.nick, None, False, operator, voiced, 0.0, 0.0, tuple(rooms), attendee.away,
            elsewhere=True,
        )

    @staticmethod
    def set_away(session: ChatSession, message: str | None) -> None:
        """Mark the member away (None: back); its rooms hear of it (IRC's away-notify)."""
        session.realm.registry.set_away(session.member, message)

    # Telling

    def _tell(self, room: str, event: Moderated | TopicSet) -> None:
        self.registry.announce(room, event)
        self.registry.tidy_room(room)

    @staticmethod
    def _log(
        session: ChatSession, action: str, target: str, scope: str | None, reason: str
    ) -> None:
        log.info(
            "{by} {action} {target} {where}{why}", by=session.member.nick, action=action,
            target=target, where="server-wide" if scope is None else f"in {scope}",
            why=f": {reason}" if reason else "",
        )


__all__ = ["ModerationRules", "Moderator", "Target", "WhoIs"]
