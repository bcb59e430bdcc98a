"""Service wiring: keeping history, listening where asked and stopping politely.

:func:`make_service` builds what ``twistd tcpchat`` runs: a
:class:`~chat.history_service.HistoryService` that opens the database
first and closes it last; a :class:`WorkerService` each for the accounts,
the offline messages and the moderation kept in the same database (bans,
mutes and room settings are read from it, or from Redis with ``--redis``,
before anything starts); with
``--redis``, a :class:`~chat.redis.node.RedisNodeService` instead of the
history's, whose rooms are the registry's ids, history and bus, whose
directory holds the nicknames of every node and whose courier carries
private messages to members of other nodes, and the accounts of every node
(:class:`~chat.redis.accounts.RedisAccounts`) in place of the database's; one
:class:`Listener` per ``--listen`` endpoint around one
:class:`~chat.line.protocol.LineFactory` of one
:class:`~chat.session.server.ChatServer`; and a :class:`Farewell` that,
when the server stops, tells everyone, lets output drain for a bounded
time, then closes what is left.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from twisted.application.service import MultiService, Service
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from chat.accounts.mailbox import Mailbox
from chat.accounts.store import Accounts
from chat.config import ServerConfig
from chat.domain.events import Event
from chat.domain.registry import Registry, RoomEvent
from chat.history import History
from chat.history_service import HistoryService, check_before_start, refuse_start
from chat.line.protocol import LineFactory
from chat.listener import Listener
from chat.local.sequencer import LocalSequencer
from chat.moderation import BackgroundModerationStore, Moderation, ModerationStore
from chat.ports.bus import Bus, Census, Courier
from chat.ports.directory import Directory
from chat.ports.history import HistoryStore
from chat.ports.sequencer import Sequencer
from chat.session.server import ChatServer
from chat.storage import SQLiteHistoryStore, SQLiteSequencer, StoreError

log = Logger()


class WorkerStore(Protocol):
    """A store that runs on a worker thread of its own (the accounts, moderation, mailbox)."""

    def start(self) -> defer.Deferred[None]: ...

    def stop(self) -> defer.Deferred[None]: ...


class WorkerService(Service):
    """Starts a store's worker thread with the server and ends it after the goodbyes."""

    def __init__(
        self, store: WorkerStore, what: str, reactor: Any,
        then: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self.what = what
        self.reactor = reactor
        self.then = then
        """What to do once the store is open (a clean-up)."""

    def startService(self) -> None:
        super().startService()
        started = self.store.start()
        if self.then is not None:
            started.addCallback(lambda _: self.then() if self.then is not None else None)
        started.addErrback(self._unusable)

    def _unusable(self, failure: Failure) -> None:
        """The database was checked before (as the history's): this is rare, and fatal."""
        log.critical("{what} cannot be used: {error}", what=self.what,
                     error=failure.getErrorMessage())
        self.reactor.stop()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return self.store.stop()


def load_moderation(config: ServerConfig, reactor: Any) -> tuple[Moderation, WorkerStore | None]:
    """The bans, mutes and room settings kept in Redis with ``--redis``, else in ``--db``
    (none without one), and the store they are written to from now on; a database or
    Redis that cannot be read ends start-up."""
    if config.redis:
        return _load_shared_moderation(config.redis, reactor)
    if config.db in ("", ":memory:"):
        return Moderation(reactor), None
    try:
        store = ModerationStore(config.db)
        try:
            saved = store.load_all(reactor.seconds())
        finally:
            store.close()
    except StoreError as error:
        raise refuse_start(error) from None
    background = BackgroundModerationStore(config.db, reactor)
    log.info("moderation: {bans} bans, {mutes} mutes, {rooms} rooms with settings",
             bans=len(saved.bans), mutes=len(saved.mutes), rooms=len(saved.rooms))
    return Moderation.restored(saved, reactor, background), background


def _load_shared_moderation(url: str, reactor: Any) -> tuple[Moderation, WorkerStore]:
    """The moderation every node of the chat at ``url`` shares, and its store, which
    also applies the other nodes' changes once started."""
    # Imported here: txredisapi imports the reactor, which the plugin must not.
    from chat.redis.address import RedisError, describe, parse_url
    from chat.redis.moderation import load_shared
    from chat.redis.node import PREFIX

    address = parse_url(url)
    try:
        moderation, store = load_shared(address, reactor, PREFIX)
    except RedisError as error:
        raise refuse_start(StoreError(f"tcpchat: cannot read the moderation: {error}")) from None
    log.info("moderation: shared through Redis at {where}", where=describe(address))
    return moderation, store


class Farewell(Service):
    """Says goodbye to every connection when the server stops."""

    def __init__(self, server: ChatServer, clock: IReactorTime) -> None:
        self.server = server
        self.clock = clock

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        connections = list(self.server.connections)
        log.info(
            "shutting down: saying goodbye to {count} connections", count=len(connections)
        )
        self.server.registry.clear()
        drained = [connection.on_lost for connection in connections]
        for connection in connections:
            connection.shut_down()
        grace = self.server.config.shutdown_grace
        all_closed = defer.DeferredList(drained).addCallback(lambda _: None)
        timer = self.clock.callLater(grace, self._abort_the_rest, grace)
        all_closed.addBoth(lambda result: timer.cancel() if timer.active() else None)
        return all_closed

    def _abort_the_rest(self, grace: float) -> None:
        stuck = list(self.server.connections)
        log.info(
            "{count} connections still open after {grace}s; closing them",
            count=len(stuck), grace=grace,
        )
        for connection in stuck:
            connection.cut("server shut down")


def make_service(
    reactor: Any, listen: list[str], config: ServerConfig,
    auth: tuple[ICredentialsChecker, ...] = (), irc: Sequence[str] = (),
) -> MultiService:
    """Everything a tcpchat server runs, ready to start: the line protocol on each of
    ``listen``, IRC on each of ``irc``, all of them one chat with one set of limits."""
    top = MultiService()
    local_history = History(config.history_keep, cache=config.history_cache)
    history: HistoryStore = local_history
    sequencer: Sequencer = LocalSequencer()
    bus: Bus[RoomEvent] | None = None
    directory: Directory[str] | None = None
    courier: Courier[Event] | None = None
    census: Census | None = None
    population: Callable[[], int] | None = None
    shared_accounts: Accounts | None = None
    if config.redis:
        # Imported here: txredisapi imports the reactor, which the plugin must not.
        from chat.redis.accounts import RedisAccounts
        from chat.redis.address import parse_url
        from chat.redis.node import PREFIX, RedisNode, RedisNodeService

        node = RedisNode(
            parse_url(config.redis), reactor, config.history_keep, lease=config.lease,
            retain_days=config.retain_days, retain_messages=config.retain_messages,
        )
        history = sequencer = bus = node.rooms
        directory = node.directory
        courier = node.courier
        census = node.rooms
        redis_directory = node.directory

        def population() -> int:
            return redis_directory.known_online

        # RedisAccounts answers every call the server makes of Accounts.
        shared_accounts = cast(
            Accounts, RedisAccounts(node.client, reactor, PREFIX, health=node.health)
        )
        RedisNodeService(node).setServiceParent(top)
    elif config.db not in ("", ":memory:"):
        store = SQLiteHistoryStore(
            config.db, reactor,
            retain_messages=config.retain_messages, retain_days=config.retain_days,
        )
        check_before_start(store)
        sequencer = SQLiteSequencer(store)
        # Started first, stopped last: by then Farewell has emptied every room.
        HistoryService(local_history, store).setServiceParent(top)
    registry = Registry(
        history, reactor, sequencer=sequencer, bus=bus, courier=courier, census=census,
        replay=config.history, crowd=config.crowd, crowd_delay=config.crowd_delay,
        population=population,
    )
    if config.redis:
        # Every member here hears when Redis goes away and when it is back.
        node.health.tell(registry.broadcast)
    path = config.db if config.db else ":memory:"
    accounts = shared_accounts or Accounts(path, reactor)
    mailbox = Mailbox(
        path, reactor, per_user=config.offline_messages, keep_days=config.offline_days
    )
    moderation, moderation_store = load_moderation(config, reactor)
    # Started before the listeners, stopped after the goodbyes.
    WorkerService(accounts, "accounts", reactor).setServiceParent(top)
    WorkerService(
        mailbox, "offline messages", reactor, then=lambda: mailbox.purge(reactor.seconds())
    ).setServiceParent(top)
    if moderation_store is not None:
        WorkerService(moderation_store, "moderation", reactor).setServiceParent(top)
    server = ChatServer(
        registry, config, reactor, accounts=accounts, moderation=moderation, mailbox=mailbox,
        auth=auth, directory=directory,
    )
    if config.redis:
        from chat.redis.moderation import RedisModeration

        # A ban set on another node puts out whom it bans here too.
        assert isinstance(moderation_store, RedisModeration)
        moderation_store.enforce = server.moderator.enforce_ban
    for room in moderation.kept_rooms():
        registry.open_room(room)
    Farewell(server, reactor).setServiceParent(top)
    factory = LineFactory(server)
    for description in listen:
        Listener(reactor, description, factory, backlog=config.backlog).setServiceParent(top)
    if irc:
        # Imported here: twisted.words.protocols.irc, which chat.irc uses, imports the
        # reactor, and importing the plugin must not (twistd installs the one asked for).
        from chat.irc import IRCFactory

        irc_factory = IRCFactory(server)
        for description in irc:
            Listener(reactor, description, irc_factory, backlog=config.backlog).setServiceParent(
                top
            )
    reactor.callWhenRunning(tune_collector, config.gc_threshold)
    return top


def tune_collector(threshold: int) -> None:
    """Everything loaded at start-up lives as long as the process: keeping it out of the
    collector's sight spares the chat tens-of-milliseconds pauses of full collections over
    Twisted's and the standard library's objects. With ``threshold``, the youngest
    generation is collected after that many allocations rather than 700."""
    gc.freeze()
    if threshold:
        gc.set_threshold(threshold, *gc.get_threshold()[1:])
