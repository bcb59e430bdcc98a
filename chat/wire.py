"""How events look on the wire: the line formats of the protocol contract."""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import lru_cache

from chat.events import (
    Action,
    Batch,
    Error,
    Event,
    Message,
    Notice,
    Past,
    Private,
    PrivateSent,
    Sent,
)

NOTICE = "*** "
ERROR = "!!! "
ID_TAG = "@id="


def render(event: Event) -> str:
    """One event as the line a terminal shows, without its line ending.

    A :class:`Sent` acknowledgement is only for programs that asked for ids:
    it renders as nothing here.
    """
    match event:
        case Message(sender, text):
            return f"<{sender}> {text}"
        case Action(sender, text):
            return f"* {sender} {text}"
        case Past(said):
            return f"[{_minute(int(said.time // 60))}Z] {render(said)}"
        case Private(sender, text):
            return f"*{sender}* {text}"
        case PrivateSent(recipient, text):
            return f"-> *{recipient}* {text}"
        case Notice(text):
            return NOTICE + text
        case Error(text):
            return ERROR + text
        case Sent():
            return ""


@lru_cache(maxsize=1024)
def _minute(minute: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(minute * 60))


def render_with_id(event: Event) -> str:
    """Like :func:`render`, with ``@id=N`` before numbered messages and actions."""
    if isinstance(event, Sent):
        return f"{ID_TAG}{event.id}"
    said = event.said if isinstance(event, Past) else event
    if isinstance(said, Message | Action) and said.id:
        return f"{ID_TAG}{said.id} {render(event)}"
    return render(event)


def encode_batch(batch: Batch, with_ids: bool = False) -> bytes:
    """The bytes of a whole batch, rendered once however many receive it."""
    data = batch.rendered_with_ids if with_ids else batch.rendered
    if data is None:
        if batch.parts:
            data = b"".join(encode_batch(part, with_ids) for part in batch.parts)
        else:
            data = _encode(map(render_with_id if with_ids else render, batch.events))
        if with_ids:
            batch.rendered_with_ids = data
        else:
            batch.rendered = data
    return data


def _encode(lines: Iterable[str]) -> bytes:
    return "".join(line + "\r\n" for line in lines if line).encode()


def encode_line(text: str) -> bytes:
    """One line of text with the protocol's line ending."""
    return (text + "\r\n").encode()
