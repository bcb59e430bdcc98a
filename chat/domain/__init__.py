"""The chat domain, apart from every front end and every wire.

:mod:`chat.domain.registry` holds members and rooms and decides who
receives what; it speaks in the facts of :mod:`chat.domain.events` and
refuses with the typed errors of :mod:`chat.domain.errors`. Nothing in this
package knows about sockets, lines or how a fact is worded.
"""
