"""Message ids from one Redis counter, reserved in blocks: a :class:`~chat.ports.Sequencer`.

The counter ``<prefix>ids`` holds the highest id reserved by anyone. A
:class:`RedisSequencer` takes ``block`` ids at a time with one INCRBY, so
no two processes (and no restart) are ever given the same id, and hands
them out from memory. ``next_id`` is synchronous, as the port requires:
when its block is used up it reserves the next one with a blocking command
(:func:`chat.redis.connection.blocking_command`), one round trip per
``block`` messages, which on loopback is some tens of microseconds.

Ids rise within one process; across processes they interleave by block,
which the port allows but the cluster's history order does not: see
"Message ids across nodes" in docs/scaling.md. Ids outlive Redis only if
Redis saves its data (AOF or RDB).
"""

from __future__ import annotations

from chat.redis.connection import RedisAddress, RedisError, blocking_command

DEFAULT_BLOCK = 1000
"""Ids reserved per INCRBY."""


class RedisSequencer:
    """Ids from ``<prefix>ids``, ``block`` at a time."""

    def __init__(
        self, address: RedisAddress, prefix: str = "tcpchat:", block: int = DEFAULT_BLOCK
    ) -> None:
        if block < 1:
            raise ValueError(f"an id block must hold at least one id, not {block}")
        self.address = address
        self.key = f"{prefix}ids"
        self.block = block
        reserved = blocking_command(address, "GET", self.key)
        self.last_id = _number(reserved or 0, self.key)
        """The last id handed out here, or at start the highest reserved by anyone."""
        self._reserved = self.last_id

    def next_id(self) -> int:
        """The next id of this process's block, reserving a new block when it is used up."""
        if self.last_id == self._reserved:
            top = _number(blocking_command(self.address, "INCRBY", self.key, self.block), self.key)
            self.last_id, self._reserved = top - self.block, top
        self.last_id += 1
        return self.last_id


def _number(answer: int | str | None, key: str) -> int:
    try:
        return int(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RedisError(f"{key} holds {answer!r}, not a number of ids") from None
