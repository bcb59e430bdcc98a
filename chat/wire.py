"""How events look on the wire: the line formats of the protocol contract."""

from __future__ import annotations

from chat.events import Action, Batch, Error, Event, Message, Notice, Private, PrivateSent

NOTICE = "*** "
ERROR = "!!! "


def render(event: Event) -> str:
    """One event as the line a terminal shows, without its line ending."""
    match event:
        case Message(sender, text):
            return f"<{sender}> {text}"
        case Action(sender, text):
            return f"* {sender} {text}"
        case Private(sender, text):
            return f"*{sender}* {text}"
        case PrivateSent(recipient, text):
            return f"-> *{recipient}* {text}"
        case Notice(text):
            return NOTICE + text
        case Error(text):
            return ERROR + text


def encode_batch(batch: Batch) -> bytes:
    """The bytes of a whole batch, rendered once however many receive it."""
    data = batch.rendered
    if data is None:
        data = batch.rendered = ("\r\n".join(map(render, batch.events)) + "\r\n").encode()
    return data


def encode_line(text: str) -> bytes:
    """One line of text with the protocol's line ending."""
    return (text + "\r\n").encode()
