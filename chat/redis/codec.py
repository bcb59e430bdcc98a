"""Events as text and back: how the domain's events travel through Redis.

:func:`encode` writes any value made of the event dataclasses of
:mod:`chat.domain.events`, tuples, text, numbers, booleans and None as
compact JSON; :func:`decode` gives the equal value back. A dataclass is an
object naming its type (``{"@": "Message", "sender": ...}``), a tuple an
array. A :class:`~chat.domain.events.Batch` keeps its events and room but
not its ``parts``, which only spare a front end rendering twice in one
process. Anything else (a list, a dict, another class) is refused with
:class:`CodecError` when encoding, as is text that is not such a value when
decoding.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from chat.domain import events

TYPE = "@"
"""The key naming an object's dataclass."""

KINDS: dict[str, type[Any]] = {
    name: kind for name, kind in vars(events).items()
    if isinstance(kind, type) and dataclasses.is_dataclass(kind)
    and kind.__module__ == events.__name__
}
"""Every dataclass of :mod:`chat.domain.events`, by name."""

_SKIPPED = {(events.Batch, "parts")}

_FIELDS: dict[type[Any], tuple[str, ...]] = {
    kind: tuple(field.name for field in dataclasses.fields(kind)
                if (kind, field.name) not in _SKIPPED)
    for kind in KINDS.values()
}
"""The fields each event dataclass is written with, in order (looked up once)."""

_SCALARS = frozenset({str, int, float, bool, type(None)})
"""Field types written as they are (subclasses go through :func:`_plain`)."""

_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""One encoder for every call: ``json.dumps`` with these options makes one a call."""


class CodecError(ValueError):
    """A value that cannot be encoded, or text that is not an encoded value."""


def encode(value: object) -> str:
    """``value`` as compact JSON."""
    return _ENCODE(_plain(value))


def decode(text: str) -> Any:
    """The value that ``text`` encodes."""
    try:
        return _value(json.loads(text))
    except (ValueError, TypeError) as error:
        raise CodecError(f"not an encoded event: {text[:80]!r} ({error})") from error


def _plain(value: object) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    kind = type(value)
    names = _FIELDS.get(kind)
    if names is not None:
        plain = {TYPE: kind.__name__}
        for name in names:
            item = getattr(value, name)
            plain[name] = item if type(item) in _SCALARS else _plain(item)
        return plain
    raise CodecError(f"cannot encode {value!r}: not an event, tuple, text, number or None")


def _value(plain: Any) -> Any:
    if isinstance(plain, list):
        return tuple(_value(item) for item in plain)
    if isinstance(plain, dict):
        name = plain.pop(TYPE, None)
        kind = KINDS.get(name) if isinstance(name, str) else None
        if kind is None:
            raise CodecError(f"unknown event type {name!r}")
        return kind(**{key: item if type(item) in _SCALARS else _value(item)
                       for key, item in plain.items()})
    return plain
