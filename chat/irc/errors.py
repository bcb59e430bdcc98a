"""The ERR_* numeric that answers each refusal of the chat, for an IRC client.

:func:`refusal` picks the numeric for a :class:`~chat.domain.errors.ChatError`
and the IRC command that met it; its text is the line front end's wording
(:func:`chat.line.render.describe_error`), so that both front ends say the
same thing. A refusal with no numeric of its own is a server NOTICE (so is a
private message refused because the chat's backbone, Redis, is unreachable;
to a channel that is ERR_CANNOTSENDTOCHAN, 404).
"""

from __future__ import annotations

from chat.domain.errors import (
    AccountRequiredError,
    AlreadyHereError,
    AlreadyNamedError,
    BackboneUnavailableError,
    BannedError,
    ChatError,
    InvalidRoomError,
    InviteOnlyError,
    MutedError,
    NicknameInvalidError,
    NicknameTakenError,
    NoSuchUserError,
    NotHereError,
    NotInRoomError,
    NotJoinedError,
    PasswordRequiredError,
    RoomFullError,
    RoomKeyError,
    RoomModeratedError,
    WrongPasswordError,
)
from chat.irc.render import Viewer
from chat.irc.wire import channel
from chat.line.render import describe_error
from chat.moderation import NotPermittedError
from chat.text import visible


class NoSuchNickError(ChatError):
    """A message to a channel that does not exist (ERR_NOSUCHNICK, as IRC servers answer)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def refusal(viewer: Viewer, error: ChatError, command: str, target: str = "*") -> list[str]:
    """The lines that answer ``error``, met by ``command`` on ``target``."""
    numeric = viewer.numeric
    if isinstance(error, NoSuchNickError):
        return [numeric("401", visible(error.name), "No such nick/channel")]
    text = describe_error(error)
    match error:
        case NicknameInvalidError(nick=nick):
            return [numeric("432", visible(nick) or "*", text)]
        case NicknameTakenError(nick=nick) | PasswordRequiredError(nick=nick):
            return [numeric("433", nick, text)]
        case AlreadyNamedError():
            return []
        case NoSuchUserError(nick=nick):
            return [numeric("401", visible(nick), text)]
        case InvalidRoomError(name=name):
            return [numeric("403", visible(name), text)]
        case NotInRoomError(room=room):
            where = channel(room) if room else target
            if command in ("PRIVMSG", "NOTICE"):
                return [numeric("404", where, text)]
            return [numeric("442", where, text)]
        case NotHereError(nick=nick, room=room):
            return [numeric("441", nick, channel(room), text)]
        case AlreadyHereError(nick=nick, room=room):
            return [numeric("443", nick, channel(room), text)]
        case RoomFullError(room=room):
            return [numeric("471", channel(room), text)]
        case InviteOnlyError(room=room):
            return [numeric("473", channel(room), text)]
        case RoomKeyError(room=room):
            return [numeric("475", channel(room), text)]
        case NotPermittedError(room=None):
            return [numeric("481", text)]
        case NotPermittedError(room=str(room)):
            return [numeric("482", channel(room), text)]
        case BannedError(room=None):
            return [numeric("465", text)]
        case BannedError(room=str(room)):
            return [numeric("474", channel(room), text)]
        case MutedError():
            return [numeric("404", target, text)]
        case RoomModeratedError(room=room):
            return [numeric("404", channel(room), text)]
        case BackboneUnavailableError() if target.startswith("#"):
            return [numeric("404", visible(target), text)]
        case NotJoinedError():
            return [numeric("451", "You have not registered")]
        case WrongPasswordError() | AccountRequiredError():
            return [numeric("464", text)]
    return [viewer.notice(text)]
