"""Why the chat refuses a request: typed errors with fields, no sentences.

Every refusal of the domain is a :class:`ChatError`; a front end catches
the base class and renders the subclass its own way (the line protocol in
:func:`chat.line.render.describe_error`).
"""

from __future__ import annotations

from chat.text import NicknameFault


class ChatError(Exception):
    """A request the chat cannot carry out; the subclass and its fields say why."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self), tuple(vars(self).values())))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"{type(self).__name__}({fields})"

    __str__ = __repr__


class NicknameInvalidError(ChatError):
    """``nick``, as typed, breaks the nickname rules in the way ``fault`` says."""

    def __init__(self, nick: str, fault: NicknameFault) -> None:
        super().__init__(nick, fault)
        self.nick = nick
        self.fault = fault


class NicknameTakenError(ChatError):
    """Another member holds ``nick`` (ignoring case)."""

    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class AlreadyNamedError(ChatError):
    """The member asked to be renamed to ``nick``, its nickname already."""

    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class NoSuchUserError(ChatError):
    """No member is called ``nick``."""

    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class InvalidRoomError(ChatError):
    """``name``, as typed, is not a room name (see :data:`chat.domain.registry.ROOM_MAX`)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class AlreadyInRoomError(ChatError):
    """The member asked to enter ``room``, where it is already."""

    def __init__(self, room: str) -> None:
        super().__init__(room)
        self.room = room


class NotInRoomError(ChatError):
    """The member is in no room (``room`` None), or not in ``room``."""

    def __init__(self, room: str | None = None) -> None:
        super().__init__(room)
        self.room = room


class NotJoinedError(ChatError):
    """The connection has not chosen a nickname yet, so it is no member."""

    def __init__(self) -> None:
        super().__init__()


class PasswordRequiredError(ChatError):
    """``nick`` is registered: only its account, with its password, may use it."""

    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class WrongPasswordError(ChatError):
    """The password given for ``nick`` is not its account's."""

    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class AccountRequiredError(ChatError):
    """The server takes registered nicknames only, and ``nick`` is not one."""

    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class RegistrationClosedError(ChatError):
    """Accounts are made by an administrator only on this server."""

    def __init__(self) -> None:
        super().__init__()


class AlreadyRegisteredError(ChatError):
    """``nick`` has an account already."""

    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class NotRegisteredError(ChatError):
    """``nick`` has no account, or the member is not logged in to it."""

    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class PasswordUnusableError(ChatError):
    """A new password was refused: ``reason`` says why (too short, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AccountsUnavailableError(ChatError):
    """The server keeps no accounts (it runs without a database)."""

    def __init__(self) -> None:
        super().__init__()


class BannedError(ChatError):
    """A ban keeps the user out of ``room`` (None: off the server) until ``until``
    (None: for ever), for ``reason`` ("" for none)."""

    def __init__(self, room: str | None, reason: str = "", until: float | None = None) -> None:
        super().__init__(room, reason, until)
        self.room = room
        self.reason = reason
        self.until = until


class MutedError(ChatError):
    """The member is muted in ``room`` (None: everywhere) until ``until`` (None: until
    unmuted): nothing it says reaches anyone."""

    def __init__(self, room: str | None, until: float | None = None) -> None:
        super().__init__(room, until)
        self.room = room
        self.until = until


class NotHereError(ChatError):
    """``nick`` is online but not in ``room``, where the command acts."""

    def __init__(self, nick: str, room: str) -> None:
        super().__init__(nick, room)
        self.nick = nick
        self.room = room


class OfflineBoxFullError(ChatError):
    """``nick`` is offline and already has as many kept messages as it may."""

    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class OperatorNameError(ChatError):
    """``nick`` is named a server operator (``--operators``): only an administrator
    makes its account."""

    def __init__(self, nick: str) -> None:
        super().__init__(nick)
        self.nick = nick


class NicknameBannedError(ChatError):
    """``nick`` is banned from the server: nobody may take it (``/nick``)."""

    def __init__(self, nick: str, until: float | None = None) -> None:
        super().__init__(nick, until)
        self.nick = nick
        self.until = until


class RoomFullError(ChatError):
    """``room`` has as many members as it lets in (IRC's +l)."""

    def __init__(self, room: str) -> None:
        super().__init__(room)
        self.room = room


class RoomKeyError(ChatError):
    """``room`` asks for a key to join it, and it was not given (IRC's +k)."""

    def __init__(self, room: str) -> None:
        super().__init__(room)
        self.room = room


class InviteOnlyError(ChatError):
    """``room`` lets in only those invited (IRC's +i)."""

    def __init__(self, room: str) -> None:
        super().__init__(room)
        self.room = room


class AlreadyHereError(ChatError):
    """``nick`` is in ``room`` already (so need not be invited to it)."""

    def __init__(self, nick: str, room: str) -> None:
        super().__init__(nick, room)
        self.nick = nick
        self.room = room


class BackboneUnavailableError(ChatError):
    """What the chat's processes share (Redis) cannot be reached: what was said is not
    sent (nothing is queued), and may be said again once it is back; with ``speech``
    false it was no message but something else (a nickname, a login) that is refused."""

    def __init__(self, speech: bool = True) -> None:
        super().__init__(speech)
        self.speech = speech


class RoomModeratedError(ChatError):
    """``room`` is moderated (IRC's +m): only its operators and voiced members speak in it."""

    def __init__(self, room: str) -> None:
        super().__init__(room)
        self.room = room
