"""Sending to a plain TCP socket at once while Twisted has nothing buffered.

``transport.write`` only queues: the bytes go out when the reactor next
finds the socket writable, one reactor round trip per write. A chat server
writes many small lines, each wanted at once, so :func:`direct_writer`
gives, for a plain TCP transport, a function that hands the bytes to the
socket itself and passes what the socket did not take to ``queue`` (the
caller's way through ``transport.write``), in one Python call per write::

    write = direct_writer(transport, queue) or queue
    write(data)

Why the order holds: bytes go to the socket directly only while Twisted's
buffers (``dataBuffer`` and the list counted by ``_tempDataLen``) hold
nothing, so nothing written before can be overtaken; once the rest is
queued, every later call returns its bytes whole, to be queued behind it,
until the reactor has sent it all. A failed send returns the bytes whole
and leaves the error to the transport, which meets it when it writes them
and reports the connection lost.

There is no direct sending (:func:`direct_writer` gives None, or the
function passes the bytes whole to ``queue``) for:

- TLS, whether the transport is a TLS wrapper (``ssl:`` endpoints) or TLS
  is started on the TCP connection later (checked at every call);
- unix sockets, whose bytes may carry file descriptors queued with
  ``sendFileDescriptor``;
- any other transport (tests' ``StringTransport``, a future front end's),
  and a Twisted whose TCP transport has lost the private state read here,
  which ``tests/unit/test_direct_write.py`` would show.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from functools import partial
from typing import Any

from twisted.internet import tcp

_PRIVATE_STATE = ("socket", "dataBuffer", "_tempDataLen", "TLS")
"""What the direct sending reads of a Twisted TCP transport."""


_USABLE: dict[type, bool] = {}
"""Whether each transport class seen has the private state (every instance of a class
has it or none does: it is set by Twisted's own constructors), so that a connection
is not made to look for it again."""


def direct_writer(
    transport: Any, queue: Callable[[bytes], None]
) -> Callable[[bytes], None] | None:
    """For a plain TCP transport, a function that writes bytes: to its socket at once when
    that keeps the order, and what the socket does not take (all of them otherwise) to
    ``queue``; else None."""
    kind = type(transport)
    usable = _USABLE.get(kind)
    if usable is None:
        usable = _USABLE[kind] = kind in (tcp.Server, tcp.Client) and all(
            hasattr(transport, name) for name in _PRIVATE_STATE
        )
    if not usable:
        return None
    # One object per connection (a closure would be four), which every garbage
    # collection of a server holding thousands of connections has to visit.
    return partial(_write, transport, transport.socket, queue)


def _write(
    transport: Any, sock: socket.socket, queue: Callable[[bytes], None], data: bytes
) -> None:
    if not data:
        return  # a batch rendered as nothing (a sender's own acks, ids off): no system call
    if not (transport.dataBuffer or transport._tempDataLen or transport.TLS):
        try:
            sent = sock.send(data)
        except OSError:
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    queue(data)
